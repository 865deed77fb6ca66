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
