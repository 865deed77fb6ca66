/**
 * Appends made in one turn of the event loop share one script call. Each still gets
 * its own answer (stored, duplicate, stale epoch), seqs follow call order per order,
 * and a failed call acknowledges none of its appends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPEND_BATCH_MAX, RedisStore } from '../../server/store/redis.ts';
import { EpochStaleError, StoreUnavailableError } from '../../server/store/types.ts';
import { rawCommand, redisAvailable, startRedis, type RedisServer } from '../helpers/redis.ts';
import { input, newOrder } from '../server/store-contract.ts';

async function scriptCalls(port: number): Promise<number> {
  const info = await rawCommand(port, 'INFO commandstats');
  let calls = 0;
  for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(m[1]);
  return calls;
}

describe.skipIf(!redisAvailable({ ownServer: true }))('redis store: batched appends', () => {
  let redis: RedisServer;
  beforeAll(async () => { redis = await startRedis({ own: true }); });
  afterAll(async () => { await redis?.stop(); });

  it('sends the appends of one tick as few script calls, each append answered on its own, in call order per order', async () => {
    const store = await RedisStore.connect({ target: { url: redis.url } });
    try {
      const orders = [newOrder(), newOrder(), newOrder()];
      // A roster at epoch 1 on the third order, so an epoch-2 append there is stale.
      await store.putRoster(orders[2]!, 1, new Uint8Array([1]));
      const retried = input(orders[0]!);
      const before = await scriptCalls(redis.port);
      const inputs = Array.from({ length: 150 }, (_, i) => input(orders[i % 2]!, { envelope: new Uint8Array([i]) }));
      const all = [
        ...inputs.map((m) => store.append(m)),
        store.append(retried),
        store.append(retried),
        store.append(input(orders[2]!, { epoch: 2 })),
        store.append(input(orders[2]!, { epoch: 1 })),
      ];
      const results = await Promise.allSettled(all);
      const calls = (await scriptCalls(redis.port)) - before;
      // 154 appends in one tick: ceil(154 / 64) = 3 calls, not 154.
      expect(calls).toBe(Math.ceil(154 / APPEND_BATCH_MAX));
      const seqs = results.slice(0, 150).map((r) => (r.status === 'fulfilled' ? r.value.seq : -1));
      expect(seqs.filter((_, i) => i % 2 === 0)).toEqual(Array.from({ length: 75 }, (_, i) => i + 1));
      expect(seqs.filter((_, i) => i % 2 === 1)).toEqual(Array.from({ length: 75 }, (_, i) => i + 1));
      expect(results[150]).toMatchObject({ status: 'fulfilled', value: { seq: 76, duplicate: false } });
      expect(results[151]).toMatchObject({ status: 'fulfilled', value: { seq: 76, duplicate: true } });
      expect(results[152]).toMatchObject({ status: 'rejected' });
      expect((results[152] as PromiseRejectedResult).reason).toBeInstanceOf(EpochStaleError);
      expect(results[153]).toMatchObject({ status: 'fulfilled', value: { seq: 1, duplicate: false } });
      const stored = await store.read(orders[0]!, 0, 200);
      expect(stored.map((m) => m.envelope[0])).toEqual([...inputs.filter((_, i) => i % 2 === 0).map((m) => m.envelope[0]), retried.envelope[0]]);
    } finally {
      await store.close();
    }
  });

  it('rejects every append of a batch whose call failed, and stores none twice when they are retried', async () => {
    const store = await RedisStore.connect({ target: { url: redis.url }, reconnectDelayMs: () => 50 });
    try {
      const order = newOrder();
      const batch = Array.from({ length: 10 }, () => input(order));
      await redis.kill9();
      const results = await Promise.allSettled(batch.map((m) => store.append(m)));
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      }
      await redis.restart();
      const deadline = Date.now() + 10_000;
      while (!(await store.ping())) {
        if (Date.now() > deadline) throw new Error('store did not reconnect');
        await new Promise((r) => setTimeout(r, 20));
      }
      const again = await Promise.all(batch.map((m) => store.append(m)));
      expect(again.map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      expect((await store.read(order, 0, 100)).length).toBe(10);
    } finally {
      await store.close();
    }
  });

  it('coalesces the cursor updates of one tick into one script call, keeping the larger seq of repeated acks', async () => {
    const store = await RedisStore.connect({ target: { url: redis.url } });
    try {
      const orders = [newOrder(), newOrder()];
      for (const o of orders) for (let i = 0; i < 10; i++) await store.append(input(o));
      const before = await scriptCalls(redis.port);
      await Promise.all([
        store.setCursor(orders[0]!, 'dev-a', 3),
        store.setCursor(orders[0]!, 'dev-a', 7),
        store.setCursor(orders[0]!, 'dev-a', 5),
        store.setCursor(orders[0]!, 'dev-b', 2),
        store.setCursor(orders[1]!, 'dev-a', 99),
      ]);
      expect((await scriptCalls(redis.port)) - before).toBe(1);
      expect(await store.cursor(orders[0]!, 'dev-a')).toBe(7);
      expect(await store.cursor(orders[0]!, 'dev-b')).toBe(2);
      // Never past the head.
      expect(await store.cursor(orders[1]!, 'dev-a')).toBe(10);
    } finally {
      await store.close();
    }
  });

  it('fails only the message whose script step failed; the others of its batch (other orders) are stored, answered and announced', async () => {
    const store = await RedisStore.connect({ target: { url: redis.url } });
    try {
      const [p, q, r] = [newOrder(), newOrder(), newOrder()];
      for (let i = 0; i < 3; i++) await store.append(input(p));
      // A damaged key (as an allkeys eviction policy could leave): p's counter is gone, so its next XADD fails.
      await rawCommand(redis.port, `DEL {o:${p}}:n`);
      const heard: string[] = [];
      store.onAppend((o) => heard.push(o));
      const results = await Promise.allSettled([store.append(input(q)), store.append(input(p)), store.append(input(r))]);
      expect(results[0]).toMatchObject({ status: 'fulfilled', value: { seq: 1, duplicate: false } });
      expect(results[1]!.status).toBe('rejected');
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      expect(results[2]).toMatchObject({ status: 'fulfilled', value: { seq: 1, duplicate: false } });
      expect(heard.sort()).toEqual([q, r].sort());
    } finally {
      await store.close();
    }
  });
});
