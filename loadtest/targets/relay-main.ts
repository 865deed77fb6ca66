/**
 * The relay under test as its own process (so /proc figures are the relay's
 * alone, and taskset can pin it to core 0). Config comes as JSON in
 * SEALRELAY_LT_CONFIG, straight into startRelay.
 *
 * Usage: SEALRELAY_LT_CONFIG='{"port":9000,"trustedAuthorities":["<hex>"]}' node --import tsx loadtest/targets/relay-main.ts
 */
import { startRelay } from '../../server/index.ts';

const config = JSON.parse(process.env.SEALRELAY_LT_CONFIG ?? '{}') as Record<string, unknown>;
const relay = await startRelay({ host: '127.0.0.1', logLevel: 'warn', ...config }, { defaultMetrics: false });
console.log(`sealrelay under test listening on ${relay.port}`);
let closing = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (closing) return;
    closing = true;
    // A relay that cannot close within 2 s (say, a saturated event loop) still exits cleanly, so --cpu-prof is written.
    setTimeout(() => process.exit(0), 2000).unref();
    void relay.close().finally(() => process.exit(0));
  });
}
