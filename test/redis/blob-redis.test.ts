import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBlobStore } from '../../server/blob/redis.ts';
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.ts';
import { describeBlobContract, sha256 } from '../server/blob-contract.ts';
import { newOrder } from '../server/store-contract.ts';

describe.skipIf(!redisAvailable())('redis blob store', () => {
  let redis: RedisServer;
  beforeAll(async () => { redis = await startRedis(); });
  afterAll(async () => { await redis?.stop(); });

  // Redis expires on its own clock (PX); the contract's TTL test also waits for real.
  describeBlobContract('redis', async () => {
    const blobs = await RedisBlobStore.connect({ target: { url: redis.url } });
    return { blobs, cleanup: () => blobs.close() };
  });

  it('is shared: a blob put through one relay node is served by another', async () => {
    const [a, b] = await Promise.all([1, 2].map(() => RedisBlobStore.connect({ target: { url: redis.url } })));
    try {
      const data = new Uint8Array([0, 0, 0, 255, 0]);
      const order = newOrder();
      const id = await a!.put(order, sha256(data), data, 60_000);
      expect(await b!.get(id)).toEqual({ order, data });
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });
});
