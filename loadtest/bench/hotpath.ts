/**
 * `npx tsx loadtest/bench/hotpath.ts [--publishes 60000] [--orders 250] [--json]`
 *
 * The relay's JavaScript cost per publish, without sockets or kernel: startRelay on
 * an in-memory transport (memory store), 250 orders × (1 courier + 3 readers) real
 * authenticated devices with signed rosters, then pre-sealed `pub` frames pushed
 * through the socket handler in turns of 20 (as uWS hands over a loop's worth).
 * Sends are counted, not kept. Prints CPU µs per publish and per delivery
 * (process.cpuUsage over the measured part). Use it to compare two commits on the same
 * machine, alternating runs: it separates the relay's own work from the kernel's,
 * which dominates `npm run bench:relay` and varies with the driver.
 */
import { parseArgs } from 'node:util';
import { signChallenge } from '../../crypto/index.ts';
import { decodeServerFrame, encodeFrame } from '../../protocol/codec.ts';
import { challengeTranscript } from '../../protocol/handshake.ts';
import { PROTOCOL_VERSION } from '../../protocol/limits.ts';
import { startRelay } from '../../server/index.ts';
import { createLogger } from '../../server/log.ts';
import type { Connection, HttpHandler, SendResult, SocketHandler, Transport } from '../../server/transport.ts';
import { makeFixtures, preSeal, type LoadDevice } from '../targets/fixtures.ts';

const { values } = parseArgs({ options: { publishes: { type: 'string', default: '60000' }, orders: { type: 'string', default: '250' }, json: { type: 'boolean', default: false } } });
const N = Number(values.publishes);
const ORDERS = Number(values.orders);

/** A connection that keeps only the last frame it was sent (for the handshake) and counts the rest. */
class CountingConnection implements Connection {
  static next = 0;
  readonly id = `hp-${++CountingConnection.next}`;
  readonly remoteAddress = '127.0.0.1';
  readonly bufferedAmount = 0;
  closed = false;
  last: Uint8Array | undefined;
  sent = 0;
  send(bytes: Uint8Array): SendResult {
    this.sent++;
    this.last = Uint8Array.prototype.slice.call(bytes);
    return 'ok';
  }
  end(): void {
    this.closed = true;
  }
  terminate(): void {
    this.closed = true;
  }
  cork(fn: () => void): void {
    fn();
  }
}

class InMemoryTransport implements Transport {
  readonly description = 'in-memory (hotpath bench)';
  handler: SocketHandler | undefined;
  ws(_p: string, _o: unknown, handler: SocketHandler): void {
    this.handler ??= handler;
  }
  route(_m: string, _p: string, _o: unknown, _h: HttpHandler): void {}
  async listen(): Promise<number> {
    return 0;
  }
  stopListening(): void {}
}

const fx = await makeFixtures({ orders: ORDERS, receiversPerOrder: 3, runId: 'hp' });
const transport = new InMemoryTransport();
const relay = await startRelay(
  { port: 0, trustedAuthorities: [Buffer.from(fx.authority.publicKey).toString('hex')], rateLimits: { publishPerSecond: 1e6, publishBurst: 1e6, framesPerSecond: 1e6, framesBurst: 1e6 } },
  { transport, logger: createLogger({ level: 'silent' }), defaultMetrics: false },
);
const h = transport.handler!;
const tick = () => new Promise((r) => setImmediate(r));
const lastFrame = (c: CountingConnection) => decodeServerFrame(c.last!);

async function connect(d: LoadDevice): Promise<CountingConnection> {
  const c = new CountingConnection();
  h.open(c);
  h.message(c, encodeFrame({ t: 'connect', v: PROTOCOL_VERSION, deviceId: d.deviceId }), true);
  const ch = lastFrame(c) as { relayId: string; nonce: Uint8Array };
  h.message(c, encodeFrame({ t: 'auth', certificate: d.certificate as Uint8Array<ArrayBuffer>, signature: signChallenge(d.keys, challengeTranscript(ch.relayId, ch.nonce, d.deviceId)) as Uint8Array<ArrayBuffer> }), true);
  await tick();
  if (lastFrame(c).t !== 'welcome') throw new Error(`not welcomed: ${JSON.stringify(lastFrame(c))}`);
  return c;
}

const perOrder = Math.ceil((N + ORDERS * 10) / ORDERS) + 1;
const publishers: CountingConnection[] = [];
const readers: CountingConnection[] = [];
const frames: Uint8Array[][] = [];
for (const o of fx.orders) {
  const p = await connect(o.publisher);
  h.message(p, encodeFrame({ t: 'roster_put', rid: 1, order: o.orderId, roster: o.roster as Uint8Array<ArrayBuffer> }), true);
  for (let i = 0; i < 5 && lastFrame(p).t !== 'roster_ok'; i++) await tick();
  for (const r of o.receivers) {
    const c = await connect(r);
    h.message(c, encodeFrame({ t: 'sub', rid: 2, order: o.orderId, afterSeq: 0 }), true);
    readers.push(c);
  }
  publishers.push(p);
  frames.push(preSeal(o, perOrder, 36).map((e, i) => encodeFrame({ t: 'pub', order: o.orderId, clientMsgId: String(i), envelope: e as Uint8Array<ArrayBuffer> })));
}
for (let i = 0; i < 20; i++) await tick();

let next = 0;
async function run(n: number): Promise<void> {
  for (let i = 0; i < n; i += 20) {
    for (let j = i; j < Math.min(n, i + 20); j++, next++) {
      const o = next % ORDERS;
      h.message(publishers[o]!, frames[o]![Math.floor(next / ORDERS)]!, true);
    }
    await tick();
  }
}
await run(ORDERS * 10); // warm-up: every path compiled
const framesBefore = readers.reduce((n, c) => n + c.sent, 0);
const c0 = process.cpuUsage();
await run(N);
for (let i = 0; i < 5; i++) await tick();
const used = process.cpuUsage(c0);
const us = used.user + used.system;
const delivered = readers.reduce((n, c) => n + c.sent, 0) - framesBefore;
// Every publish must have reached its 3 readers, or this measured something else.
if (delivered !== 3 * N) throw new Error(`expected ${3 * N} deliveries, counted ${delivered}`);
const result = { publishes: N, cpuUsPerPublish: Math.round((us / N) * 100) / 100, cpuUsPerDelivery: Math.round((us / N / 3) * 100) / 100 };
await relay.close();
if (values.json) console.log(JSON.stringify(result));
else console.log(`${N} publishes through the relay's JavaScript: ${result.cpuUsPerPublish} µs CPU per publish, ${result.cpuUsPerDelivery} per delivery (3 readers)`);
process.exit(0);
