/**
 * Fuzz: ≥100,000 random and mutated frames, oversized ones, and garbage before
 * authentication, over real sockets at a running relay. Afterwards the relay
 * still serves a well-behaved client, its memory has not grown without bound,
 * and every rejection the clients saw is counted in its metrics.
 */
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signChallenge } from '../../crypto/index.ts';
import { encodeFrame } from '../../protocol/codec.ts';
import { errorOfCloseCode } from '../../protocol/errors.ts';
import type { ClientFrame } from '../../protocol/frames.ts';
import { challengeTranscript } from '../../protocol/handshake.ts';
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../../protocol/limits.ts';
import type { RunningRelay } from '../../server/index.ts';
import { Sender, TestClient, authed, b, makeWorld, metricValue, publish, putRoster, rosterFor, startTestRelay, subscribe, type Party, type World } from '../integration/helpers.ts';

const TOTAL_FRAMES = 100_000;
const BATCH = 250;
const ORDER = 'order-fuzz';

/** Deterministic PRNG (mulberry32) so a failure can be replayed from the seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256));
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, bytes, pick };
}
type Rng = ReturnType<typeof rng>;

const TYPES = ['connect', 'auth', 'sub', 'unsub', 'pub', 'ack', 'kp_put', 'kp_get', 'roster_put', 'roster_get', 'blob_put', 'blob_get', 'ping', 'pong', 'deliver', 'welcome', '', 'x'.repeat(300)];

function randomValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 6 : 9)) {
    case 0: return r.int(2 ** 32) - 2 ** 31;
    case 1: return r.next() * 1e20;
    case 2: return String.fromCharCode(...Array.from({ length: r.int(40) }, () => r.int(0x3000)));
    case 3: return r.bytes(r.int(300));
    case 4: return r.pick([true, false, null, -1, 0, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2]);
    case 5: return 'order-fuzz';
    case 6: return Array.from({ length: r.int(5) }, () => randomValue(r, depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: r.int(5) }, () => [r.pick(['t', 'order', 'rid', 'seq', 'envelope', 'afterSeq', 'v', 'deviceId', 'packages', 'x']), randomValue(r, depth + 1)]));
    default: return r.int(10);
  }
}

function mutate(r: Rng, seed: Uint8Array): Uint8Array {
  const out = Array.from(seed);
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) {
    const at = r.int(out.length + 1);
    switch (r.int(5)) {
      case 0: out[at] = (out[at] ?? 0) ^ (1 << r.int(8)); break;
      case 1: out.splice(at, 0, ...r.bytes(1 + r.int(8))); break;
      case 2: out.splice(at, 1 + r.int(8)); break;
      case 3: out.length = Math.max(1, at); break;
      default: out[at] = r.pick([0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xd9, 0xdc, 0xdf, 0xff]);
    }
  }
  return Uint8Array.from(out.length ? out : [0]);
}

interface Tally {
  sent: number;
  errorFrames: number;
  appCloses: number;
  codes: Map<string, number>;
}

describe('fuzzing a running relay', () => {
  let w: World;
  let relay: RunningRelay;
  let seeds: Uint8Array[];

  beforeAll(async () => {
    w = await makeWorld();
    relay = await startTestRelay(w, { rateLimits: { publishPerSecond: 1_000_000, publishBurst: 1_000_000, framesPerSecond: 1_000_000, framesBurst: 1_000_000 }, limits: { maxConnectionsPerDevice: 64 } });
    const r = rosterFor(w, ORDER, [w.shipper, w.consignee, w.courier, w.dispatcher]);
    const admin = await authed(relay, w.dispatcher);
    await putRoster(admin, ORDER, r.bytes);
    admin.close();
    const s = new Sender(w.courier, r.roster);
    const frames: ClientFrame[] = [
      { t: 'connect', v: PROTOCOL_VERSION, deviceId: w.courier.keys.deviceId },
      { t: 'auth', certificate: b(w.courier.cert), signature: b(new Uint8Array(64)) },
      { t: 'sub', rid: 1, order: ORDER, afterSeq: 0 },
      { t: 'unsub', rid: 2, order: ORDER },
      { t: 'pub', order: ORDER, clientMsgId: 'seed', envelope: b(s.seal('location')) },
      { t: 'ack', order: ORDER, seq: 1 },
      { t: 'kp_put', rid: 3, order: ORDER, packages: s.keyPackages().map(b) },
      { t: 'kp_get', rid: 4, order: ORDER, epoch: 1 },
      { t: 'roster_put', rid: 5, order: ORDER, roster: b(r.bytes) },
      { t: 'roster_get', rid: 6, order: ORDER },
      { t: 'blob_put', rid: 7, order: ORDER, hash: b(new Uint8Array(32)), data: b(new Uint8Array(100)) },
      { t: 'blob_get', rid: 8, blobId: 'nope' },
      { t: 'ping', n: 1 },
    ];
    seeds = frames.map((f) => encodeFrame(f));
  });
  afterAll(() => relay.close());

  function nextFrame(r: Rng): Uint8Array {
    const roll = r.int(1000);
    if (roll < 2) return new Uint8Array(MAX_FRAME_BYTES + 1 + r.int(1000)); // oversized (closes)
    if (roll < 250) return r.bytes(1 + r.int(64)); // raw garbage
    if (roll < 500) return pack({ t: r.pick(TYPES), ...(randomValue(r) as object) }) as Uint8Array; // well-formed MessagePack, nonsense frame
    return mutate(r, r.pick(seeds)); // mutated valid frame
  }

  /** One worker: a socket (authenticated or not) that sends batches until its share is done, reopening when the relay closes it. */
  async function worker(id: number, share: number, party: Party | undefined, tally: Tally): Promise<void> {
    const r = rng(0x5ea1 + id);
    let sent = 0;
    let pings = 0;
    while (sent < share) {
      const c = await TestClient.open(relay.url);
      if (party) {
        c.send({ t: 'connect', v: PROTOCOL_VERSION, deviceId: party.keys.deviceId });
        const ch = await c.nextOf('challenge');
        c.send({ t: 'auth', certificate: b(party.cert), signature: b(signChallenge(party.keys, challengeTranscript(ch.relayId, ch.nonce, party.keys.deviceId))) });
        await c.nextOf('welcome');
      }
      while (sent < share && !c.isClosed) {
        // Workers 0 and 3 send short runs with no good frame in between: they meet the bad-frames-in-a-row close.
        const n = Math.min(id % 3 === 0 ? 12 : BATCH, share - sent);
        for (let i = 0; i < n; i++) {
          c.send(nextFrame(r));
          // Keep most sockets alive past the bad-frames-in-a-row limit (a good frame resets it), so frames get processed, not dropped with a closed socket.
          if (i % 8 === 7 && id % 3 !== 0) c.send({ t: 'ping' });
        }
        // Flow control: wait until the relay has answered the batch; only then count it as processed.
        const mark = ++pings;
        c.send({ t: 'ping', n: mark });
        const answered = await c.next((f) => f.t === 'pong' && f.n === mark, 20_000).then(() => true, () => false);
        if (answered) {
          sent += n;
          tally.sent += n;
        }
        for (const f of c.frames.splice(0)) {
          if (f.t !== 'error') continue;
          tally.errorFrames++;
          tally.codes.set(f.code, (tally.codes.get(f.code) ?? 0) + 1);
        }
      }
      const closed = await Promise.race([c.closed, new Promise<undefined>((res) => setTimeout(res, 50))]);
      for (const f of c.frames.splice(0)) {
        if (f.t !== 'error') continue;
        tally.errorFrames++;
        tally.codes.set(f.code, (tally.codes.get(f.code) ?? 0) + 1);
      }
      if (closed && errorOfCloseCode(closed.code)) tally.appCloses++;
      if (!c.isClosed) c.close();
    }
  }

  it('survives 100,000 random, mutated and oversized frames, stays bounded, and still serves a good client', async () => {
    const errorsBefore = await metricValue(relay, 'sealrelay_errors_total');
    for (let i = 0; i < 3; i++) global.gc?.();
    const before = process.memoryUsage();
    const tally: Tally = { sent: 0, errorFrames: 0, appCloses: 0, codes: new Map() };
    const started = Date.now();
    const parties = [undefined, undefined, undefined, w.courier, w.consignee, w.shipper];
    await Promise.all(parties.map((p, i) => worker(i, Math.ceil(TOTAL_FRAMES / parties.length), p, tally)));
    const elapsed = Date.now() - started;
    for (let i = 0; i < 3; i++) global.gc?.();
    const after = process.memoryUsage();

    expect(tally.sent).toBeGreaterThanOrEqual(TOTAL_FRAMES);
    // Every error frame a client saw was counted (closes without a preceding frame too).
    const counted = (await metricValue(relay, 'sealrelay_errors_total')) - errorsBefore;
    expect(tally.errorFrames).toBeGreaterThan(TOTAL_FRAMES / 4);
    expect(counted).toBeGreaterThanOrEqual(tally.errorFrames);
    expect(await metricValue(relay, 'sealrelay_frames_in_total', { type: 'unknown' })).toBeGreaterThan(TOTAL_FRAMES / 10);
    for (const code of tally.codes.keys()) expect(code).toMatch(/^[A-Z_]+$/);

    // Memory: generous bound; the test process holds client and relay alike.
    const heapGrowth = after.heapUsed - before.heapUsed;
    const rssGrowth = after.rss - before.rss;
    expect(heapGrowth).toBeLessThan(128 * 1024 * 1024);
    expect(rssGrowth).toBeLessThan(384 * 1024 * 1024);

    // Still serving: a well-behaved pair of clients publish and receive.
    await new Promise((res) => setTimeout(res, 200));
    const consignee = await authed(relay, w.consignee);
    const sub = await subscribe(consignee, ORDER, 0);
    expect(sub.t).toBe('subscribed');
    const head = (sub as { headSeq: number }).headSeq;
    const courier = await authed(relay, w.courier);
    const rosters = await (async () => {
      courier.send({ t: 'roster_get', rid: 99, order: ORDER });
      return courier.nextOf('rosters');
    })();
    expect(rosters.rosters.length).toBeGreaterThanOrEqual(1);
    const env = new Sender(w.courier, (await import('../../crypto/index.ts')).verifyRoster(rosters.rosters[rosters.rosters.length - 1]!, { trustedAuthorities: w.trusted, now: Date.now() })).seal('location', 'after the storm');
    const ack = await publish(courier, ORDER, 'after-fuzz', env);
    expect(ack).toMatchObject({ t: 'puback', seq: head + 1 });
    const got = await consignee.next((f) => f.t === 'deliver' && f.messages.some((m) => m.seq === head + 1), 10_000);
    expect(got.t).toBe('deliver');
    consignee.close();
    courier.close();

    console.log(
      `fuzz: ${tally.sent} frames in ${elapsed} ms over ${parties.length} workers; ${tally.errorFrames} error frames, ${tally.appCloses} closes with codes; ` +
        `metrics counted ${counted}; heap +${(heapGrowth / 1048576).toFixed(1)} MiB, rss +${(rssGrowth / 1048576).toFixed(1)} MiB; codes ${JSON.stringify(Object.fromEntries(tally.codes))}`,
    );
  }, 120_000);
});
