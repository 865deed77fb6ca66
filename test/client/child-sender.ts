/**
 * A separate process that sends numbered texts through a FileStorage outbox and
 * prints "stored <i>" after each one is durable; the test SIGKILLs it mid-run.
 * Config comes as JSON in SEALRELAY_CHILD (keys and certificate in hex).
 */
import { DeviceKeys, cryptoReady } from '../../crypto/index.ts';
import { FileStorage, SealRelayClient, nodeTransport } from '../../client/node.ts';

const cfg = JSON.parse(process.env.SEALRELAY_CHILD ?? '{}') as { url: string; keys: string; cert: string; trusted: string[]; order: string; dir: string; count: number };
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
await cryptoReady();
const client = await SealRelayClient.create({
  url: cfg.url,
  transport: nodeTransport(),
  storage: new FileStorage(cfg.dir),
  device: { keys: DeviceKeys.deserialize(hex(cfg.keys)), certificate: hex(cfg.cert) },
  trustedAuthorities: cfg.trusted.map(hex),
});
client.connect();
const order = await client.openOrder(cfg.order);
// Anything the relay refuses is worth seeing in the test's output.
client.on('warning', (w) => process.stderr.write(`child warning: ${w.code} ${w.message}\n`));
order.on('warning', (w) => process.stderr.write(`child order warning: ${w.code} ${w.message}\n`));
for (let i = 0; i < cfg.count; i++) {
  await order.send('text', { text: `k${i}` });
  process.stdout.write(`stored ${i}\n`);
}
process.stdout.write('all stored\n');
