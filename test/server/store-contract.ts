/**
 * The MessageStore contract, one suite for every implementation (memory, Redis,
 * Redis Cluster). Each test uses fresh order ids, so implementations backed by one
 * shared server need no flushing between tests.
 *
 * Time: stores take an injected clock for age-based retention (and, in memory, for
 * the dedup window). Redis expires dedup keys on its own clock (PX), so the dedup
 * expiry test uses a 50 ms window and both advances the fake clock and really waits.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { EpochStaleError, type AppendInput, type MessageStore, type RetentionPolicy, type StoredMessage } from '../../server/store/types.ts';

export interface StoreTestOptions {
  retention?: RetentionPolicy;
  dedupWindowMs?: number;
  now?: () => number;
}

export type MakeStore = (opts: StoreTestOptions) => Promise<{ store: MessageStore; cleanup: () => Promise<void> }>;

/** A clock the test moves by hand. */
export function manualClock(start = Date.now()) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

export function newOrder(prefix = 'order'): string {
  return `${prefix}-${randomUUID()}`;
}

let counter = 0;
export function input(order: string, over: Partial<AppendInput> = {}): AppendInput {
  counter++;
  return {
    order,
    device: 'courier-1',
    clientMsgId: `m-${counter}-${randomUUID()}`,
    envelope: new TextEncoder().encode(`sealed ${counter}`),
    epoch: 1,
    scope: 'ops',
    at: Date.now(),
    ...over,
  };
}

/** Every byte value, runs of 0x00, and sequences that are not valid UTF-8. */
export function awkwardBytes(): Uint8Array {
  const out = new Uint8Array(256 + 64 + 8);
  for (let i = 0; i < 256; i++) out[i] = i;
  // 256..319 stay 0x00: a run of NULs. Then invalid UTF-8: lone continuation bytes, an overlong, a truncated sequence.
  out.set([0x80, 0xbf, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf0], 320);
  return out;
}

const seqs = (ms: readonly StoredMessage[]) => ms.map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

export function describeStoreContract(name: string, makeStore: MakeStore): void {
  describe(`MessageStore contract: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      await Promise.allSettled(cleanups.splice(0).map((c) => c()));
    });
    async function open(opts: StoreTestOptions = {}): Promise<MessageStore> {
      const { store, cleanup } = await makeStore(opts);
      cleanups.push(cleanup);
      return store;
    }

    it('assigns a gapless seq from 1 to 500 concurrent appends, and reads them back in order', async () => {
      const store = await open();
      const order = newOrder();
      const results = await Promise.all(Array.from({ length: 500 }, () => store.append(input(order))));
      expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(range(1, 500));
      expect(results.every((r) => !r.duplicate)).toBe(true);
      expect(await store.head(order)).toBe(500);
      const all = [...(await store.read(order, 0, 256)), ...(await store.read(order, 256, 256))];
      expect(seqs(all)).toEqual(range(1, 500));
    });

    it('answers a retry of (device, clientMsgId) with the original seq and stores nothing new', async () => {
      const store = await open();
      const order = newOrder();
      const first = input(order, { clientMsgId: 'retry-me' });
      expect(await store.append(first)).toEqual({ seq: 1, duplicate: false });
      await store.append(input(order));
      expect(await store.append({ ...first, envelope: new Uint8Array([9]) })).toEqual({ seq: 1, duplicate: true });
      expect(await store.head(order)).toBe(2);
      expect((await store.read(order, 0, 10))[0]!.envelope).toEqual(first.envelope);
    });

    it('treats the same clientMsgId from another device, or in another order, as a new message', async () => {
      const store = await open();
      const order = newOrder();
      await store.append(input(order, { device: 'a', clientMsgId: 'x' }));
      expect(await store.append(input(order, { device: 'b', clientMsgId: 'x' }))).toEqual({ seq: 2, duplicate: false });
      // Device ids with separators must not alias: ('a:1', 'x') vs ('a', '1:x').
      expect(await store.append(input(order, { device: 'a:1', clientMsgId: 'x' }))).toEqual({ seq: 3, duplicate: false });
      expect(await store.append(input(order, { device: 'a', clientMsgId: '1:x' }))).toEqual({ seq: 4, duplicate: false });
      expect(await store.append(input(newOrder(), { device: 'a', clientMsgId: 'x' }))).toEqual({ seq: 1, duplicate: false });
    });

    it('forgets a clientMsgId once the dedup window has passed', async () => {
      const clock = manualClock();
      const store = await open({ dedupWindowMs: 50, now: clock.now });
      const order = newOrder();
      const msg = input(order, { clientMsgId: 'late' });
      expect((await store.append(msg)).seq).toBe(1);
      expect(await store.append(msg)).toEqual({ seq: 1, duplicate: true });
      clock.advance(120);
      await new Promise((r) => setTimeout(r, 120));
      expect(await store.append(msg)).toEqual({ seq: 2, duplicate: false });
    });

    it('reads the range after afterSeq, at most limit messages', async () => {
      const store = await open();
      const order = newOrder();
      for (let i = 0; i < 10; i++) await store.append(input(order));
      expect(seqs(await store.read(order, 0, 3))).toEqual([1, 2, 3]);
      expect(seqs(await store.read(order, 7, 100))).toEqual([8, 9, 10]);
      expect(await store.read(order, 10, 5)).toEqual([]);
      expect(await store.read(order, 99, 5)).toEqual([]);
      expect(await store.read(order, 0, 0)).toEqual([]);
      expect(await store.read(newOrder(), 0, 5)).toEqual([]);
    });

    it('keeps what the relay learned from the header beside the bytes', async () => {
      const store = await open();
      const order = newOrder();
      const msg = input(order, { device: 'dispatcher-7', epoch: 3, scope: 'commercial', at: Date.now() - 1234 });
      await store.append(msg);
      const [m] = await store.read(order, 0, 1);
      expect(m).toEqual({ seq: 1, envelope: msg.envelope, at: msg.at, epoch: 3, scope: 'commercial', sender: 'dispatcher-7' });
    });

    it('reports head 0 and oldest 1 for an order it has never seen', async () => {
      const store = await open();
      const order = newOrder();
      expect(await store.head(order)).toBe(0);
      expect(await store.oldest(order)).toBe(1);
      await store.append(input(order));
      expect(await store.oldest(order)).toBe(1);
    });

    it('keeps at most maxLength messages per order, trimming the oldest', async () => {
      const store = await open({ retention: { maxLength: 5, maxAgeMs: 3_600_000 } });
      const order = newOrder();
      for (let i = 0; i < 12; i++) await store.append(input(order));
      expect(await store.head(order)).toBe(12);
      expect(await store.oldest(order)).toBe(8);
      expect(seqs(await store.read(order, 0, 100))).toEqual([8, 9, 10, 11, 12]);
      expect(seqs(await store.read(order, 9, 100))).toEqual([10, 11, 12]);
    });

    it('drops messages older than maxAgeMs, even in an order nobody appends to any more, and never reuses their seqs', async () => {
      const clock = manualClock(1_700_000_000_000);
      const store = await open({ retention: { maxLength: 1000, maxAgeMs: 60_000 }, now: clock.now });
      const order = newOrder();
      for (let i = 0; i < 3; i++) await store.append(input(order, { at: clock.now() }));
      clock.advance(30_000);
      for (let i = 0; i < 2; i++) await store.append(input(order, { at: clock.now() }));
      clock.advance(40_000); // the first three are 70 s old, the last two 40 s
      expect(seqs(await store.read(order, 0, 100))).toEqual([4, 5]);
      expect(await store.oldest(order)).toBe(4);
      clock.advance(30_000);
      expect(await store.read(order, 0, 100)).toEqual([]);
      expect(await store.oldest(order)).toBe(6);
      expect(await store.head(order)).toBe(5);
      expect((await store.append(input(order, { at: clock.now() }))).seq).toBe(6);
    });

    it('accepts roster epoch e only on top of epoch e - 1, and exactly one of two concurrent puts', async () => {
      const store = await open();
      const order = newOrder();
      expect(await store.currentRoster(order)).toBeUndefined();
      expect(await store.putRoster(order, 2, new Uint8Array([2]))).toBe(false);
      expect(await store.putRoster(order, 1, new Uint8Array([1]))).toBe(true);
      expect(await store.putRoster(order, 1, new Uint8Array([1, 1]))).toBe(false);
      await store.append(input(order));
      const race = await Promise.all([store.putRoster(order, 2, new Uint8Array([0xa])), store.putRoster(order, 2, new Uint8Array([0xb]))]);
      expect(race.filter(Boolean)).toHaveLength(1);
      const winner = race[0] ? 0xa : 0xb;
      expect(await store.rosters(order, 1)).toEqual([
        { epoch: 1, bytes: new Uint8Array([1]), acceptedAtSeq: 0 },
        { epoch: 2, bytes: new Uint8Array([winner]), acceptedAtSeq: 1 },
      ]);
      expect(await store.rosters(order, 2)).toHaveLength(1);
      expect(await store.rosters(order, 3)).toEqual([]);
      expect((await store.currentRoster(order))?.epoch).toBe(2);
    });

    it('refuses an append sealed for any epoch but the current roster epoch, atomically, and stores nothing', async () => {
      const store = await open();
      const order = newOrder();
      // No roster yet: the store has no opinion (the relay refuses ORDER_UNKNOWN before).
      expect((await store.append(input(order, { epoch: 7 }))).seq).toBe(1);
      expect(await store.currentEpoch(order)).toBe(0);
      await store.putRoster(order, 1, new Uint8Array([1]));
      const early = input(order, { epoch: 1, clientMsgId: 'sent-in-epoch-1' });
      expect((await store.append(early)).seq).toBe(2);
      await store.putRoster(order, 2, new Uint8Array([2]));
      expect(await store.currentEpoch(order)).toBe(2);
      const stale = store.append(input(order, { epoch: 1 }));
      await expect(stale).rejects.toBeInstanceOf(EpochStaleError);
      await expect(stale).rejects.toMatchObject({ code: 'EPOCH_STALE', currentEpoch: 2, sealedFor: 1 });
      await expect(store.append(input(order, { epoch: 3 }))).rejects.toMatchObject({ code: 'EPOCH_STALE', currentEpoch: 2 });
      expect(await store.head(order)).toBe(2);
      // A retry of a message stored before the change still learns its seq (dedup before the epoch check).
      expect(await store.append(early)).toEqual({ seq: 2, duplicate: true });
      expect((await store.append(input(order, { epoch: 2 }))).seq).toBe(3);
    });

    it('tells roster listeners of every roster it stores, and only of those', async () => {
      const store = await open();
      const order = newOrder();
      const heard: Array<[string, number]> = [];
      const off = store.onRoster((o, e) => { if (o === order) heard.push([o, e]); });
      await store.watch(order);
      await store.putRoster(order, 1, new Uint8Array([1]));
      expect(await store.putRoster(order, 1, new Uint8Array([9]))).toBe(false);
      await store.putRoster(order, 2, new Uint8Array([2]));
      await until(() => heard.length >= 2);
      expect(heard.map(([, e]) => e).slice(0, 2)).toEqual([1, 2]);
      off();
      await store.putRoster(order, 3, new Uint8Array([3]));
      await new Promise((r) => setTimeout(r, 30));
      expect(new Set(heard.map(([, e]) => e))).toEqual(new Set([1, 2]));
      await store.unwatch(order);
    });

    it('keeps only the newest `keep` key packages per (recipient, sender, epoch, scope)', async () => {
      const store = await open();
      const order = newOrder();
      const kp = (sender: string, scope: string, b: number) => ({ recipient: 'victim', epoch: 1, sender, scope, bytes: new Uint8Array([b, 1, 2, 3]) });
      for (let i = 0; i < 10; i++) await store.putKeyPackages(order, [kp('flooder', 'shared', i)], 3);
      await store.putKeyPackages(order, [kp('flooder', 'commercial', 100), kp('honest', 'shared', 200)], 3);
      // One call beyond the cap keeps its own newest.
      await store.putKeyPackages(order, [kp('burst', 'shared', 50), kp('burst', 'shared', 51), kp('burst', 'shared', 52), kp('burst', 'shared', 53)], 3);
      const held = (await store.keyPackages(order, 'victim')).map((b) => b[0]).sort((a, b) => a! - b!);
      expect(held).toEqual([7, 8, 9, 51, 52, 53, 100, 200]);
    });

    it('remembers a nonce once: a second use within its TTL is refused, after the TTL it is new again', async () => {
      const store = await open();
      const key = `dev|${newOrder('nonce')}`;
      expect(await store.rememberNonce(key, 80)).toBe(true);
      expect(await store.rememberNonce(key, 80)).toBe(false);
      expect(await store.rememberNonce(`${key}-other`, 80)).toBe(true);
      await new Promise((r) => setTimeout(r, 150));
      expect(await store.rememberNonce(key, 80)).toBe(true);
    });

    it('serves key packages only to their recipient, per epoch, and counts re-sent ones as not new', async () => {
      const store = await open();
      const order = newOrder();
      const kp = (recipient: string, epoch: number, b: number) => ({ recipient, epoch, sender: 'shipper', scope: 'shared', bytes: new Uint8Array([b, 0, b]) });
      expect(await store.putKeyPackages(order, [kp('driver', 1, 1), kp('driver', 2, 2), kp('consignee', 1, 3)])).toBe(3);
      expect(await store.putKeyPackages(order, [kp('driver', 1, 1), kp('driver', 1, 4)])).toBe(1);
      const sorted = (xs: Uint8Array[]) => xs.map((x) => Array.from(x)).sort((a, b) => a[0]! - b[0]!);
      expect(sorted(await store.keyPackages(order, 'driver'))).toEqual([[1, 0, 1], [2, 0, 2], [4, 0, 4]]);
      expect(sorted(await store.keyPackages(order, 'driver', 1))).toEqual([[1, 0, 1], [4, 0, 4]]);
      expect(sorted(await store.keyPackages(order, 'consignee'))).toEqual([[3, 0, 3]]);
      expect(await store.keyPackages(order, 'stranger')).toEqual([]);
      expect(await store.keyPackages(newOrder(), 'driver')).toEqual([]);
    });

    it('never moves a cursor backwards, nor past the head', async () => {
      const store = await open();
      const order = newOrder();
      for (let i = 0; i < 5; i++) await store.append(input(order));
      expect(await store.cursor(order, 'd')).toBe(0);
      await store.setCursor(order, 'd', 3);
      await store.setCursor(order, 'd', 2);
      expect(await store.cursor(order, 'd')).toBe(3);
      await store.setCursor(order, 'd', 99);
      expect(await store.cursor(order, 'd')).toBe(5);
      expect(await store.cursor(order, 'other')).toBe(0);
    });

    it('hints every append to listeners of a watched order, until they unsubscribe', async () => {
      const store = await open();
      const order = newOrder();
      const heard: [string, StoredMessage][] = [];
      const off = store.onAppend((o, m) => heard.push([o, m]));
      await store.watch(order);
      const msg = input(order);
      await store.append(msg);
      await until(() => heard.some(([o, m]) => o === order && m.seq === 1));
      const [, m] = heard.find(([o, x]) => o === order && x.seq === 1)!;
      expect(m.envelope).toEqual(msg.envelope);
      off();
      const before = heard.length;
      await store.append(input(order));
      await new Promise((r) => setTimeout(r, 50));
      expect(heard.length).toBe(before);
      await store.unwatch(order);
    });

    it('returns envelopes, rosters and key packages byte for byte (all 256 values, NUL runs, invalid UTF-8)', async () => {
      const store = await open();
      const order = newOrder();
      const bytes = awkwardBytes();
      const heard: StoredMessage[] = [];
      store.onAppend((o, m) => { if (o === order) heard.push(m); });
      await store.watch(order);
      await store.append(input(order, { envelope: bytes, scope: 'ops/ü', device: 'кур\u2019ер' }));
      const [m] = await store.read(order, 0, 1);
      expect(m!.envelope).toEqual(bytes);
      expect(m!.sender).toBe('кур\u2019ер');
      expect(m!.scope).toBe('ops/ü');
      await until(() => heard.length > 0);
      expect(heard[0]!.envelope).toEqual(bytes);
      expect(await store.putRoster(order, 1, bytes)).toBe(true);
      expect((await store.currentRoster(order))!.bytes).toEqual(bytes);
      await store.putKeyPackages(order, [{ recipient: 'r', epoch: 1, sender: 's', scope: 'shared', bytes }]);
      expect(await store.keyPackages(order, 'r', 1)).toEqual([bytes]);
      await store.unwatch(order);
    });
  });
}

export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
