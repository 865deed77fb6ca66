/**
 * Two relay nodes, each with its own RedisStore on one Redis (fake transports, real
 * server/ code): a roster accepted on node A reaches node B through the store —
 * B's stale cache cannot let a removed member publish (the append script checks the
 * epoch), and B ends the member's subscription at once (roster hint over SPUBLISH).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../server/store/redis.ts';
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.ts';
import { makeParty, makeWorld, rosterFor, Sender, type World } from '../integration/helpers.ts';
import { FakeClient, fakeNode, settle, what, type FakeNode } from '../server/fake-cluster.ts';

describe.skipIf(!redisAvailable())('roster changes across two relay nodes on one Redis', () => {
  let redis: RedisServer;
  let w: World;
  const nodes: FakeNode[] = [];
  beforeAll(async () => { redis = await startRedis(); w = await makeWorld(); });
  afterAll(async () => { await redis?.stop(); });
  afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.relay.close())); });

  async function node(): Promise<FakeNode> {
    const n = await fakeNode(w, await RedisStore.connect({ target: { url: redis.url } }));
    nodes.push(n);
    return n;
  }

  it('refuses a publish by the removed courier on node B and ends its subscription there with MEMBER_REMOVED', async () => {
    const [a, b] = [await node(), await node()];
    const order = `o-redis-stale-${Date.now()}`;
    const courier2 = makeParty(w.authority, 'courier');
    const r1 = rosterFor(w, order, [w.shipper, w.consignee, w.courier]);
    const shipper = await FakeClient.open(a, w.shipper);
    expect(what(await shipper.request({ t: 'roster_put', rid: 1, order, roster: r1.bytes as Uint8Array<ArrayBuffer> }))).toBe('roster_ok');
    const courier = await FakeClient.open(b, w.courier);
    const consignee = await FakeClient.open(b, w.consignee);
    expect(what(await courier.request({ t: 'sub', rid: 2, order, afterSeq: 0 }))).toBe('subscribed');
    expect(what(await consignee.request({ t: 'sub', rid: 2, order, afterSeq: 0 }))).toBe('subscribed');
    const seal = new Sender(w.courier, r1.roster);
    expect(what(await courier.request({ t: 'pub', order, clientMsgId: 'c1', envelope: seal.seal('location') as Uint8Array<ArrayBuffer> }))).toBe('puback');

    const r2 = rosterFor(w, order, [w.shipper, w.consignee, courier2], r1.roster);
    expect(what(await shipper.request({ t: 'roster_put', rid: 3, order, roster: r2.bytes as Uint8Array<ArrayBuffer> }))).toBe('roster_ok');
    // Publish at once, racing the hint: the store's epoch check decides, not B's cache.
    const answer = await courier.request({ t: 'pub', order, clientMsgId: 'c2', envelope: seal.seal('location', 'fake') as Uint8Array<ArrayBuffer> });
    expect(['error:EPOCH_STALE', 'error:NOT_A_MEMBER']).toContain(what(answer));
    expect(await courier.until((f) => f.t === 'unsubscribed')).toMatchObject({ order, code: 'MEMBER_REMOVED' });
    await consignee.until((f) => f.t === 'roster');
    await settle(50);
    const seqs = consignee.fresh().flatMap((f) => (f.t === 'deliver' ? f.messages.map((m) => m.seq) : []));
    expect(seqs).toEqual([1]);
  });
});
