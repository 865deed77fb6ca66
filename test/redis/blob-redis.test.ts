import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBlobStore } from '../../server/blob/redis.ts';
import { rawCommand, redisAvailable, startRedis, startRedisCluster, type RedisCluster, type RedisServer } from '../helpers/redis.ts';
import { describeBlobContract, describeBlobQuotaContract, sha256 } from '../server/blob-contract.ts';
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

  describeBlobQuotaContract('redis', async ({ maxPerOrderBytes, maxPerDeviceBytes }) => {
    const blobs = await RedisBlobStore.connect({ target: { url: redis.url }, maxPerOrderBytes, maxPerDeviceBytes });
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

  it('shares quotas between relay nodes, and its books expire with the blobs they count', async () => {
    const quota = { maxPerOrderBytes: 100, maxPerDeviceBytes: 1000 };
    const [a, b] = await Promise.all([1, 2].map(() => RedisBlobStore.connect({ target: { url: redis.url }, ...quota })));
    try {
      const order = `quota-${newOrder()}`;
      const blob = (n: number) => new Uint8Array(40).fill(n);
      await a!.put(order, sha256(blob(1)), blob(1), 60_000, 'dev-a');
      await b!.put(order, sha256(blob(2)), blob(2), 60_000, 'dev-b');
      await expect(a!.put(order, sha256(blob(3)), blob(3), 60_000, 'dev-c')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      // The order's books live as long as its last blob (60 s), not forever.
      const ttl = Number((await rawCommand(redis.port, `PTTL bq:{o:${order}}:exp`)).replace(/^:/, ''));
      expect(ttl).toBeGreaterThan(55_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });
});

describe.skipIf(!redisAvailable({ cluster: true }))('redis blob store on a cluster (3 masters)', () => {
  let cluster: RedisCluster;
  beforeAll(async () => { cluster = await startRedisCluster(3); });
  afterAll(async () => { await cluster?.stop(); });

  // Order, device and blob keys land on different slots: each step must stay in one (no CROSSSLOT).
  describeBlobQuotaContract('redis cluster', async ({ maxPerOrderBytes, maxPerDeviceBytes }) => {
    const blobs = await RedisBlobStore.connect({ target: { cluster: cluster.nodes }, maxPerOrderBytes, maxPerDeviceBytes });
    return { blobs, cleanup: () => blobs.close() };
  });
});
