/**
 * Appends run as a Lua script by SHA (EVALSHA). When Redis's script cache is empty
 * (first use, SCRIPT FLUSH, a restart or failover) those fail with NOSCRIPT and must
 * be re-sent as EVAL. Re-sending naively reordered one publisher's pipelined
 * messages: appends issued after the first EVAL had loaded the script ran as EVALSHA
 * before the re-sent EVALs of earlier ones, so a later message got a lower seq
 * (seen as "reordered" in the relay benchmark on a fresh Redis).
 *
 * The proxy delays replies, so new appends keep going out while the NOSCRIPT replies
 * of earlier ones are still on their way: the window in which the reorder happened
 * is then tens of ms wide instead of a lucky few µs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APPEND_SCRIPT, RedisStore } from '../../server/store/redis.ts';
import { ToxicProxy } from '../../loadtest/net/proxy.ts';
import { rawCommand, redisAvailable, startRedis, type RedisServer } from '../helpers/redis.ts';
import { input, newOrder } from '../server/store-contract.ts';

const stores: RedisStore[] = [];
const proxies: ToxicProxy[] = [];
afterEach(async () => {
  await Promise.allSettled(stores.splice(0).map((s) => s.close()));
  for (const p of proxies.splice(0)) p.close();
});

async function open(url: string): Promise<RedisStore> {
  const store = await RedisStore.connect({ target: { url }, commandTimeoutMs: 5000, reconnectDelayMs: () => 50 });
  stores.push(store);
  return store;
}

/** A store whose replies arrive `replyDelayMs` late. */
async function slowRepliesStore(port: number, replyDelayMs: number): Promise<RedisStore> {
  const proxy = await ToxicProxy.start({ upstream: { host: '127.0.0.1', port } });
  proxies.push(proxy);
  proxy.setToxics({ down: { latencyMs: replyDelayMs } });
  return open(`redis://127.0.0.1:${proxy.port}`);
}

/**
 * One device publishing `n` messages to one order in order, one every `gapMs` (0: one
 * per event-loop turn), without waiting for replies (as the relay pipelines a
 * connection's publishes). Returns the seqs in send order.
 */
async function pipelinedAppends(store: RedisStore, order: string, n: number, gapMs: number): Promise<number[]> {
  const pending: Promise<number>[] = [];
  for (let i = 0; i < n; i++) {
    pending.push(store.append(input(order, { clientMsgId: `c-${i}`, envelope: new Uint8Array(256).fill(i & 0xff) })).then((r) => r.seq));
    await new Promise((r) => (gapMs > 0 ? setTimeout(r, gapMs) : setImmediate(r)));
  }
  return Promise.all(pending);
}

async function expectSendOrder(store: RedisStore, order: string, seqs: number[]): Promise<void> {
  const first = seqs[0]!;
  // Seq order == send order, no gap, and the stream holds them in that order.
  expect(seqs).toEqual(seqs.map((_, i) => first + i));
  const stored = await store.read(order, first - 1, seqs.length);
  expect(stored.map((m) => m.envelope[0])).toEqual(seqs.map((_, i) => i & 0xff));
}

async function scriptFlush(port: number): Promise<void> {
  expect(await rawCommand(port, 'SCRIPT FLUSH')).toContain('+OK');
}

describe.skipIf(!redisAvailable({ ownServer: true }))('redis store: appends keep send order when the script cache is empty', () => {
  let redis: RedisServer;
  beforeAll(async () => { redis = await startRedis({ own: true }); });
  afterAll(async () => { await redis?.stop(); });

  it('after SCRIPT FLUSH, 200 pipelined appends of one sender get seqs in send order (replies delayed 20 ms)', async () => {
    const store = await slowRepliesStore(redis.port, 20);
    const order = newOrder();
    await store.append(input(order)); // the script is cached and in use
    await scriptFlush(redis.port);
    await expectSendOrder(store, order, await pipelinedAppends(store, order, 200, 1));
  });

  it('on a new connection to an empty script cache, and after each SCRIPT FLUSH, one append per event-loop turn keeps send order (no proxy)', async () => {
    const store = await open(redis.url);
    await scriptFlush(redis.port);
    for (let round = 0; round < 3; round++) {
      const order = newOrder();
      await expectSendOrder(store, order, await pipelinedAppends(store, order, 200, 0));
      await scriptFlush(redis.port);
    }
  });

  it('after a Redis restart (kill -9: the script cache is gone), 200 pipelined appends keep send order', async () => {
    const store = await slowRepliesStore(redis.port, 20);
    const order = newOrder();
    await store.append(input(order));
    await redis.restart();
    const deadline = Date.now() + 10_000;
    while (!(await store.ping())) {
      if (Date.now() > deadline) throw new Error('store did not reconnect');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await rawCommand(redis.port, `SCRIPT EXISTS ${APPEND_SCRIPT.sha1}`)).toContain(':0');
    await expectSendOrder(store, order, await pipelinedAppends(store, order, 200, 1));
    // The same sha is cached now: the check above looked for the real script.
    expect(await rawCommand(redis.port, `SCRIPT EXISTS ${APPEND_SCRIPT.sha1}`)).toContain(':1');
  });
});
