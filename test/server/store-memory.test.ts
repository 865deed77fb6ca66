import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../server/store/memory.ts';
import { describeStoreContract, manualClock } from './store-contract.ts';

describeStoreContract('memory', async (opts) => {
  const store = new MemoryStore(opts);
  return { store, cleanup: () => store.close() };
});

describe('MemoryStore nonces', () => {
  it('refuses new nonces when full instead of evicting remembered ones, and takes them again once some expire', async () => {
    const clock = manualClock();
    const store = new MemoryStore({ maxNonces: 3, now: clock.now });
    for (const n of ['a', 'b', 'c']) expect(await store.rememberNonce(n, 1000)).toBe(true);
    expect(await store.rememberNonce('d', 1000)).toBe(false);
    // 'a' is still remembered: evicting it would have made its request replayable.
    expect(await store.rememberNonce('a', 1000)).toBe(false);
    clock.advance(1001);
    expect(await store.rememberNonce('d', 1000)).toBe(true);
    expect(await store.rememberNonce('a', 1000)).toBe(true);
  });
});

describe('MemoryStore hints', () => {
  it('an append and a roster put succeed, and other listeners still hear of them, when one listener throws', async () => {
    const store = new MemoryStore();
    const appended: number[] = [];
    const rosters: number[] = [];
    store.onAppend(() => {
      throw new Error('listener bug');
    });
    store.onAppend((_order, m) => appended.push(m.seq));
    store.onRoster(() => {
      throw new Error('listener bug');
    });
    store.onRoster((_order, epoch) => rosters.push(epoch));
    expect(await store.putRoster('o-hints', 1, new Uint8Array([1]))).toBe(true);
    const r = await store.append({ order: 'o-hints', device: 'd', clientMsgId: 'm1', envelope: new Uint8Array([1]), at: Date.now(), epoch: 1, scope: 'shared' });
    expect(r).toEqual({ seq: 1, duplicate: false });
    expect(appended).toEqual([1]);
    expect(rosters).toEqual([1]);
    await store.close();
  });
});

describe('MemoryStore dedup memory', () => {
  it('forgets dedup entries after the window, also of orders that get no more appends, and keeps the ones inside it', async () => {
    const clock = manualClock();
    const store = new MemoryStore({ dedupWindowMs: 1000, now: clock.now });
    const dedupSize = (order: string): number => {
      const log = (store as unknown as { orders: Map<string, { dedup: Map<string, Map<string, number>> }> }).orders.get(order);
      let n = 0;
      for (const m of log?.dedup.values() ?? []) n += m.size;
      return n;
    };
    const msg = (order: string, id: string) => ({ order, device: 'd-1', clientMsgId: id, envelope: new Uint8Array([1]), epoch: 1, scope: 'shared', at: clock.now() });
    for (let i = 0; i < 3000; i++) await store.append(msg('busy', `b-${i}`));
    for (let i = 0; i < 10; i++) await store.append(msg('idle', `i-${i}`));
    expect(dedupSize('busy')).toBe(3000);
    clock.advance(500);
    // Still inside the window: a retry is a duplicate.
    expect(await store.append(msg('busy', 'b-0'))).toEqual({ seq: 1, duplicate: true });
    clock.advance(600);
    await store.append(msg('busy', 'b-new'));
    expect(dedupSize('busy')).toBe(1);
    // The idle order got no append: the once-a-minute sweep releases its entries.
    expect(dedupSize('idle')).toBe(10);
    clock.advance(60_000);
    await store.append(msg('other', 'o-1'));
    expect(dedupSize('idle')).toBe(0);
    // Forgotten means a late retry is stored again (the documented cost of a finite window).
    expect((await store.append(msg('idle', 'i-0'))).duplicate).toBe(false);
  });
});

describe('MemoryStore envelope arena', () => {
  it('keeps a copy of each envelope (never a view into the caller\'s buffer, which may be a shared receive slab)', async () => {
    const store = new MemoryStore();
    const slab = new Uint8Array(64 * 1024).fill(7);
    for (let i = 0; i < 50; i++) {
      const envelope = slab.subarray(i * 1000, i * 1000 + 300);
      envelope[0] = i;
      await store.append({ order: 'o', device: 'd', clientMsgId: `c-${i}`, envelope, epoch: 1, scope: 'shared', at: Date.now() });
    }
    const stored = await store.read('o', 0, 100);
    expect(stored.map((m) => m.envelope[0])).toEqual(Array.from({ length: 50 }, (_, i) => i));
    for (const m of stored) expect(m.envelope.buffer).not.toBe(slab.buffer);
    // Back to back in a few arena chunks, not one buffer per message.
    expect(new Set(stored.map((m) => m.envelope.buffer)).size).toBeLessThanOrEqual(4);
    slab.fill(0);
    expect((await store.read('o', 0, 1))[0]!.envelope[1]).toBe(7);
    // Envelopes larger than the current chunk (and than a quarter of the largest) are kept whole.
    for (const size of [3000, 20_000, 60_000, 90_000]) {
      const big = new Uint8Array(size).fill(size % 251);
      await store.append({ order: 'o2', device: 'd', clientMsgId: `big-${size}`, envelope: big, epoch: 1, scope: 'shared', at: Date.now() });
    }
    expect((await store.read('o2', 0, 10)).map((m) => [m.envelope.length, m.envelope[m.envelope.length - 1]])).toEqual([3000, 20_000, 60_000, 90_000].map((n) => [n, n % 251]));
  });
});
