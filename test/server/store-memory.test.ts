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
