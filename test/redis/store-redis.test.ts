/** The MessageStore contract against a real standalone redis-server (or REDIS_URL). */
import { afterAll, beforeAll, describe } from 'vitest';
import { RedisStore } from '../../server/store/redis.ts';
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.ts';
import { describeStoreContract } from '../server/store-contract.ts';

describe.skipIf(!redisAvailable())('redis standalone', () => {
  let redis: RedisServer;
  beforeAll(async () => { redis = await startRedis(); });
  afterAll(async () => { await redis?.stop(); });

  describeStoreContract('redis', async (opts) => {
    const store = await RedisStore.connect({ target: { url: redis.url }, ...opts });
    return { store, cleanup: () => store.close() };
  });
});
