/**
 * One relay node as its own process for test/redis/two-nodes.test.ts: config input
 * (JSON) from SEALRELAY_TEST_CONFIG, prints `listening on <url>`, serves until killed.
 *
 * Why not `sealrelay serve`: at the time of writing it hands startRelay an already
 * parsed RelayConfig, which startRelay parses again and refuses (trusted
 * authorities are bytes by then). Switch the test to the CLI once that is fixed.
 */
import { startRelay, type RelayConfigInput } from '../../server/index.ts';

const input = JSON.parse(process.env.SEALRELAY_TEST_CONFIG ?? '{}') as RelayConfigInput;
const relay = await startRelay(input, { defaultMetrics: false });
process.stdout.write(`listening on ${relay.url}\n`);
