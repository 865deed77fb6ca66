/**
 * Two relay nodes sharing one MemoryStore over fake transports: the store, not a
 * node's roster cache, decides the current epoch (audit finding: a removed member
 * could keep publishing through a node that had not seen the new roster).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../server/store/memory.ts';
import { makeParty, makeWorld, rosterFor, Sender, type World } from '../integration/helpers.ts';
import { FakeClient, fakeNode, settle, what, type FakeNode } from './fake-cluster.ts';

let w: World;
const nodes: FakeNode[] = [];
beforeAll(async () => { w = await makeWorld(); });
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.relay.close())); });

async function twoNodes() {
  const store = new MemoryStore();
  const a = await fakeNode(w, store);
  const b = await fakeNode(w, store);
  nodes.push(a, b);
  return { a, b, store };
}

describe('a roster change accepted on one node', () => {
  it('stops a removed courier publishing through another node whose roster cache is stale', async () => {
    const { a, b } = await twoNodes();
    const order = `o-stale-${Date.now()}`;
    const courier2 = makeParty(w.authority, 'courier');
    const r1 = rosterFor(w, order, [w.shipper, w.consignee, w.courier]);
    const shipper = await FakeClient.open(a, w.shipper);
    expect(what(await shipper.request({ t: 'roster_put', rid: 1, order, roster: r1.bytes as Uint8Array<ArrayBuffer> }))).toBe('roster_ok');
    const courier = await FakeClient.open(b, w.courier);
    const seal = new Sender(w.courier, r1.roster);
    expect(what(await courier.request({ t: 'pub', order, clientMsgId: 'c1', envelope: seal.seal('location') as Uint8Array<ArrayBuffer> }))).toBe('puback');
    const r2 = rosterFor(w, order, [w.shipper, w.consignee, courier2], r1.roster);
    expect(what(await shipper.request({ t: 'roster_put', rid: 2, order, roster: r2.bytes as Uint8Array<ArrayBuffer> }))).toBe('roster_ok');

    const answer = await courier.request({ t: 'pub', order, clientMsgId: 'c2', envelope: seal.seal('location', 'fake position') as Uint8Array<ArrayBuffer> });
    expect(['error:EPOCH_STALE', 'error:NOT_A_MEMBER']).toContain(what(answer));
    // Nothing was stored after the removal.
    const consignee = await FakeClient.open(a, w.consignee);
    expect(what(await consignee.request({ t: 'sub', rid: 3, order, afterSeq: 0 }))).toBe('subscribed');
    await settle(30);
    const delivered = consignee.fresh().flatMap((f) => (f.t === 'deliver' ? f.messages.map((m) => m.seq) : []));
    expect(delivered).toEqual([1]);
  });

  it("ends the removed member's subscription on the other node at once with MEMBER_REMOVED and pushes the roster to the rest", async () => {
    const { a, b } = await twoNodes();
    const order = `o-removed-${Date.now()}`;
    const r1 = rosterFor(w, order, [w.shipper, w.consignee, w.courier]);
    const shipper = await FakeClient.open(a, w.shipper);
    await shipper.request({ t: 'roster_put', rid: 1, order, roster: r1.bytes as Uint8Array<ArrayBuffer> });
    const courier = await FakeClient.open(b, w.courier);
    const consignee = await FakeClient.open(b, w.consignee);
    expect(what(await courier.request({ t: 'sub', rid: 2, order, afterSeq: 0 }))).toBe('subscribed');
    expect(what(await consignee.request({ t: 'sub', rid: 2, order, afterSeq: 0 }))).toBe('subscribed');
    const r2 = rosterFor(w, order, [w.shipper, w.consignee], r1.roster);
    await shipper.request({ t: 'roster_put', rid: 3, order, roster: r2.bytes as Uint8Array<ArrayBuffer> });
    const ended = await courier.until((f) => f.t === 'unsubscribed');
    expect(ended).toMatchObject({ t: 'unsubscribed', order, code: 'MEMBER_REMOVED' });
    const push = await consignee.until((f) => f.t === 'roster');
    expect(push.t === 'roster' && Buffer.compare(push.roster, r2.bytes) === 0).toBe(true);
    // And it cannot come back on that node.
    expect(what(await courier.request({ t: 'sub', rid: 4, order, afterSeq: 0 }))).toBe('error:NOT_A_MEMBER');
  });

  it('refuses sub and kp_put on a node that has not heard of the change (no hint, e.g. a lost one): it asks the store', async () => {
    const store = new MemoryStore();
    const a = await fakeNode(w, store);
    const b = await fakeNode(w, store);
    nodes.push(a, b);
    const order = `o-nohint-${Date.now()}`;
    const r1 = rosterFor(w, order, [w.shipper, w.consignee, w.courier]);
    const shipper = await FakeClient.open(a, w.shipper);
    await shipper.request({ t: 'roster_put', rid: 1, order, roster: r1.bytes as Uint8Array<ArrayBuffer> });
    const courier = await FakeClient.open(b, w.courier);
    const seal = new Sender(w.courier, r1.roster);
    // B caches epoch 1 now.
    expect(what(await courier.request({ t: 'kp_put', rid: 2, order, packages: seal.keyPackages() as Uint8Array<ArrayBuffer>[] }))).toBe('kp_ok');
    // Epoch 2 goes straight into the store, as if from a node whose hint never arrived.
    const r2 = rosterFor(w, order, [w.shipper, w.consignee], r1.roster);
    expect(await store.putRoster(order, 2, r2.bytes)).toBe(true);
    expect(what(await courier.request({ t: 'sub', rid: 3, order, afterSeq: 0 }))).toBe('error:NOT_A_MEMBER');
    expect(what(await courier.request({ t: 'kp_put', rid: 4, order, packages: seal.keyPackages() as Uint8Array<ArrayBuffer>[] }))).toBe('error:NOT_A_MEMBER');
  });
});
