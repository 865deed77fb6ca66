/**
 * The MessageStore contract against a real 3-master Redis Cluster started here. The
 * suite's fresh order ids land on many slots across all three masters, so this
 * proves the hash-tagged layout keeps each order's script in one slot (otherwise
 * Redis answers CROSSSLOT) and that routing follows the slot, including SPUBLISH.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../server/store/redis.ts';
import { rawCommand, redisAvailable, startRedisCluster, type RedisCluster } from '../helpers/redis.ts';
import { describeStoreContract, input, newOrder, until } from '../server/store-contract.ts';
import type { StoredMessage } from '../../server/store/types.ts';
import { startRelay } from '../../server/index.ts';
import { quietLogger } from '../integration/helpers.ts';
import { FakeTransport } from '../server/fake-transport.ts';

describe.skipIf(!redisAvailable({ cluster: true }))('redis cluster (3 masters)', () => {
  let cluster: RedisCluster;
  beforeAll(async () => { cluster = await startRedisCluster(3); });
  afterAll(async () => { await cluster?.stop(); });

  describeStoreContract('redis cluster', async (opts) => {
    const store = await RedisStore.connect({ target: { cluster: cluster.nodes }, ...opts });
    return { store, cleanup: () => store.close() };
  });

  it('backs a relay started with redisCluster (host:port seeds) and reports ready', async () => {
    const transport = new FakeTransport();
    const relay = await startRelay({ port: 0, redisCluster: cluster.nodes.map((u) => u.replace('redis://', '')) }, { transport, logger: quietLogger(), defaultMetrics: false });
    try {
      const reply = await transport.routes.get('get /readyz')!({ method: 'GET', path: '/readyz', query: '', params: [], remoteAddress: '', body: new Uint8Array(), header: () => '' });
      expect(reply.status).toBe(200);
      expect(String(reply.body)).toContain('"store":"up"');
    } finally {
      await relay.close();
    }
  });

  it('spreads orders over all masters, and a second node hears appends over sharded pub/sub', async () => {
    const a = await RedisStore.connect({ target: { cluster: cluster.nodes } });
    const b = await RedisStore.connect({ target: { cluster: cluster.nodes } });
    try {
      const orders = Array.from({ length: 30 }, () => newOrder());
      const heard = new Map<string, StoredMessage>();
      b.onAppend((o, m) => heard.set(o, m));
      await Promise.all(orders.map((o) => b.watch(o)));
      await Promise.all(orders.map((o) => a.append(input(o))));
      await until(() => heard.size === orders.length);
      // Every master holds some of the orders' seq counters.
      const perNode = await Promise.all(cluster.nodes.map((u) => rawCommand(Number(new URL(u).port), 'DBSIZE')));
      for (const reply of perNode) expect(Number(/:(\d+)/.exec(reply)![1])).toBeGreaterThan(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
