import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningRelay } from '../../server/index.ts';
import { MemoryStore } from '../../server/store/memory.ts';
import { Sender, TestClient, authed, b, makeWorld, metricValue, publish, putRoster, rosterFor, startTestRelay, subscribe, type World } from './helpers.ts';

let w: World;
let relay: RunningRelay;
let store: MemoryStore;
let n = 0;
const newOrder = (): string => `order-delivery-${++n}`;
const fast = { publishPerSecond: 100_000, publishBurst: 100_000, framesPerSecond: 100_000, framesBurst: 100_000 };

beforeAll(async () => {
  w = await makeWorld();
  store = new MemoryStore({ retention: { maxAgeMs: 3600_000, maxLength: 10_000 } });
  relay = await startTestRelay(w, { rateLimits: fast }, { store });
});
afterAll(() => relay.close());

async function setUp(members = [w.shipper, w.consignee, w.courier]) {
  const order = newOrder();
  const r = rosterFor(w, order, members);
  const shipper = await authed(relay, w.shipper);
  await putRoster(shipper, order, r.bytes);
  return { order, roster: r.roster, shipper, sender: new Sender(w.shipper, r.roster) };
}

/** Publish `count` messages pipelined, then wait for all acks. */
async function publishMany(c: TestClient, order: string, sender: Sender, count: number, prefix: string, body = 'x'): Promise<number[]> {
  for (let i = 0; i < count; i++) c.send({ t: 'pub', order, clientMsgId: `${prefix}-${i}`, envelope: b(sender.seal('text', body)) });
  const seqs: number[] = [];
  while (seqs.length < count) {
    const f = await c.next((x) => x.t === 'puback' || x.t === 'error', 20_000);
    if (f.t !== 'puback') throw new Error(`publish refused: ${JSON.stringify(f).slice(0, 200)}`);
    seqs.push(f.seq);
  }
  return seqs;
}

describe('delivery guarantees', () => {
  it('does not duplicate a publish retried after its ack was lost', async () => {
    const { order, shipper, sender } = await setUp();
    const envelope = sender.seal('text', 'once');
    // The first try's ack is "lost": the socket dies right after sending.
    const doomed = await authed(relay, w.shipper);
    doomed.send({ t: 'pub', order, clientMsgId: 'retry-me', envelope: b(envelope) });
    doomed.ws.terminate();
    await new Promise((r) => setTimeout(r, 50));
    const retry = await publish(shipper, order, 'retry-me', envelope);
    // Whether the lost try reached the store is the network's choice; either way there is one message.
    expect(retry).toMatchObject({ t: 'puback', seq: 1 });
    expect(await publish(shipper, order, 'retry-me', envelope)).toMatchObject({ seq: 1, duplicate: true });
    const reader = await authed(relay, w.consignee);
    await subscribe(reader, order, 0);
    expect((await reader.deliveries(order, 1)).map((m) => m.seq)).toEqual([1]);
    await new Promise((r) => setTimeout(r, 100));
    expect(reader.frames.filter((f) => f.t === 'deliver')).toEqual([]);
    expect(await metricValue(relay, 'sealrelay_dedup_hits_total')).toBeGreaterThanOrEqual(2);
    shipper.close();
    reader.close();
  });

  it('replays all 1,000 messages a subscriber missed, in order, then continues live', async () => {
    const { order, shipper, sender } = await setUp();
    const reader = await authed(relay, w.consignee);
    await subscribe(reader, order, 0);
    await publishMany(shipper, order, sender, 5, 'first');
    const seen = await reader.deliveries(order, 5);
    reader.send({ t: 'ack', order, seq: 5 });
    reader.close();
    await reader.closed;
    await publishMany(shipper, order, sender, 1000, 'missed');
    const back = await authed(relay, w.consignee);
    const subscribed = await subscribe(back, order, seen[seen.length - 1]!.seq);
    expect(subscribed).toMatchObject({ t: 'subscribed', fromSeq: 6, headSeq: 1005 });
    const replayed = await back.deliveries(order, 1000, 20_000);
    expect(replayed.map((m) => m.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 6));
    expect(replayed.every((m, i) => m.prev === (i === 0 ? 5 : replayed[i - 1]!.seq))).toBe(true);
    expect(await store.cursor(order, w.consignee.keys.deviceId)).toBe(5);
    await publish(shipper, order, 'live', sender.seal('text', 'live again'));
    expect(await back.deliveries(order, 1)).toMatchObject([{ seq: 1006, prev: 1005 }]);
    shipper.close();
    back.close();
  });

  it('pauses a subscriber that stops reading, keeps relay buffers bounded, and delivers everything once it reads again', async () => {
    const { order, shipper, sender } = await setUp();
    const reader = await authed(relay, w.consignee);
    await subscribe(reader, order, 0);
    const pausesBefore = await metricValue(relay, 'sealrelay_backpressure_pauses_total');
    reader.tcp.pause();
    const body = 'p'.repeat(16 * 1024);
    const total = 1200; // ~20 MB of envelopes: far beyond kernel socket buffers
    let maxBuffered = 0;
    for (let i = 0; i < total; i += 100) {
      await publishMany(shipper, order, sender, 100, `slow-${i}`, body);
      maxBuffered = Math.max(maxBuffered, relay.bufferStats().maxBytes);
    }
    expect(await metricValue(relay, 'sealrelay_backpressure_pauses_total')).toBeGreaterThan(pausesBefore);
    expect(relay.bufferStats().pausedSubscriptions).toBe(1);
    // Bounded by the pause threshold plus one frame, not by what was published.
    expect(maxBuffered).toBeLessThan(relay.config.backpressure.pauseBytes + 256 * 1024);
    reader.tcp.resume();
    const resumedAt = Date.now();
    const got = await reader.deliveries(order, total, 30_000);
    console.log(`slow reader: ${total} × 16 KiB published while paused; relay buffer peaked at ${(maxBuffered / 1024).toFixed(0)} KiB; caught up in ${Date.now() - resumedAt} ms`);
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(reader.isClosed).toBe(false);
    shipper.close();
    reader.close();
  }, 60_000);

  it('answers a position below retention with HISTORY_TRIMMED and the oldest sequence held', async () => {
    const small = new MemoryStore({ retention: { maxAgeMs: 3600_000, maxLength: 100 } });
    const r2 = await startTestRelay(w, { rateLimits: fast }, { store: small });
    try {
      const order = newOrder();
      const r = rosterFor(w, order, [w.shipper, w.consignee]);
      const shipper = await authed(r2, w.shipper);
      await putRoster(shipper, order, r.bytes);
      await publishMany(shipper, order, new Sender(w.shipper, r.roster), 130, 'trim');
      const reader = await authed(r2, w.consignee);
      expect(await subscribe(reader, order, 0)).toMatchObject({ t: 'error', code: 'HISTORY_TRIMMED', oldestSeq: 31 });
      expect(await subscribe(reader, order, 30, 8)).toMatchObject({ t: 'subscribed', fromSeq: 31 });
      expect((await reader.deliveries(order, 100)).length).toBe(100);
      shipper.close();
      reader.close();
    } finally {
      await r2.close();
    }
  });

  it('refuses an ack for an order the connection does not follow (NOT_SUBSCRIBED)', async () => {
    const { order, shipper } = await setUp();
    shipper.send({ t: 'ack', order, seq: 1 });
    expect(await shipper.nextError()).toMatchObject({ code: 'NOT_SUBSCRIBED', order });
    shipper.close();
  });
});
