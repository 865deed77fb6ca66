/** RosterBook caching and roster_get for removed members (audit findings LOW / MEDIUM). */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RosterBook } from '../../server/authz/rosters.ts';
import { MemoryStore } from '../../server/store/memory.ts';
import { makeParty, makeWorld, rosterFor, type World } from '../integration/helpers.ts';
import { FakeClient, fakeNode, what, type FakeNode } from './fake-cluster.ts';

let w: World;
const nodes: FakeNode[] = [];
beforeAll(async () => { w = await makeWorld(); });
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.relay.close())); });

describe('RosterBook', () => {
  it('does not cache empty chains of order ids it has never seen, so probing random ids cannot churn the LRU', async () => {
    const store = new MemoryStore();
    const book = new RosterBook(store, w.trusted);
    const order = `o-known-${Date.now()}`;
    await book.put(order, rosterFor(w, order, [w.shipper, w.courier]).bytes);
    for (let i = 0; i < 1000; i++) expect(await book.current(`o-unknown-${i}`)).toBeUndefined();
    expect(book.cachedOrders).toBe(1);
    expect(book.cachedHead(order)?.epoch).toBe(1);
    // An order that gets its first roster later is found (nothing negative was cached).
    const late = `o-late-${Date.now()}`;
    expect(await book.current(late)).toBeUndefined();
    await store.putRoster(late, 1, rosterFor(w, late, [w.shipper]).bytes);
    expect((await book.current(late))?.epoch).toBe(1);
    book.close();
  });

  it('keeps the chains in use when the cache is full and drops one not used since (CLOCK)', async () => {
    const store = new MemoryStore();
    const book = new RosterBook(store, w.trusted, Date.now, () => undefined, 3);
    const o = (i: number) => `o-clock-${i}-${Date.now()}`;
    const ids = [o(1), o(2), o(3), o(4), o(5)];
    for (const id of ids.slice(0, 3)) await book.put(id, rosterFor(w, id, [w.shipper, w.courier]).bytes);
    // Orders 1 and 3 are in use (publishes look them up); 2 is not.
    expect(book.usedHead(ids[0]!)?.epoch).toBe(1);
    expect(book.usedHead(ids[2]!)?.epoch).toBe(1);
    await book.put(ids[3]!, rosterFor(w, ids[3]!, [w.shipper, w.courier]).bytes);
    expect(book.cachedOrders).toBe(3);
    expect(book.cachedHead(ids[1]!)).toBeUndefined();
    for (const id of [ids[0]!, ids[2]!, ids[3]!]) expect(book.cachedHead(id)?.epoch).toBe(1);
    // Their second chance is spent: with nothing used since, the next one in line goes.
    await book.put(ids[4]!, rosterFor(w, ids[4]!, [w.shipper, w.courier]).bytes);
    expect(book.cachedOrders).toBe(3);
    expect(book.cachedHead(ids[4]!)?.epoch).toBe(1);
    // Evicted chains reload from the store on demand.
    expect((await book.current(ids[1]!))?.epoch).toBe(1);
    book.close();
  });

  it('never evicts the chain of an order with live subscriptions here (it must keep hearing roster changes)', async () => {
    const store = new MemoryStore();
    const live = `o-live-${Date.now()}`;
    const book = new RosterBook(store, w.trusted, Date.now, () => undefined, 2, (order) => order === live);
    const r1 = rosterFor(w, live, [w.shipper, w.courier]);
    await book.put(live, r1.bytes);
    for (let i = 0; i < 6; i++) {
      const id = `o-other-${i}-${Date.now()}`;
      await book.put(id, rosterFor(w, id, [w.shipper, w.courier]).bytes);
    }
    expect(book.cachedHead(live)?.epoch).toBe(1);
    expect(book.cachedOrders).toBe(2);
    // A roster change announced by the store reaches it: the hint handler refreshes cached chains only.
    const changed: number[] = [];
    book.onChange((o, r) => { if (o === live) changed.push(r.epoch); });
    const r2 = rosterFor(w, live, [w.shipper], r1.roster);
    await store.putRoster(live, 2, r2.bytes);
    await new Promise((r) => setTimeout(r, 50));
    expect(changed).toEqual([2]);
    book.close();
  });
});

describe('roster_get by a removed member', () => {
  it('returns the chain only up to the last epoch that included it', async () => {
    const n = await fakeNode(w, new MemoryStore());
    nodes.push(n);
    const order = `o-removed-get-${Date.now()}`;
    const courier2 = makeParty(w.authority, 'courier');
    const r1 = rosterFor(w, order, [w.shipper, w.consignee, w.courier]);
    const r2 = rosterFor(w, order, [w.shipper, w.consignee, w.courier, w.dispatcher], r1.roster);
    const r3 = rosterFor(w, order, [w.shipper, w.consignee, courier2, w.dispatcher], r2.roster);
    const shipper = await FakeClient.open(n, w.shipper);
    for (const [i, r] of [r1, r2, r3].entries()) await shipper.request({ t: 'roster_put', rid: i + 1, order, roster: r.bytes as Uint8Array<ArrayBuffer> });
    const removed = await FakeClient.open(n, w.courier);
    const all = await removed.request({ t: 'roster_get', rid: 10, order });
    expect(all.t === 'rosters' && all.rosters.map((b) => Buffer.from(b).toString('hex'))).toEqual([r1, r2].map((r) => Buffer.from(r.bytes).toString('hex')));
    const later = await removed.request({ t: 'roster_get', rid: 11, order, fromEpoch: 3 });
    expect(later).toMatchObject({ t: 'rosters', rosters: [] });
    const member = await FakeClient.open(n, courier2);
    const full = await member.request({ t: 'roster_get', rid: 12, order });
    expect(full.t === 'rosters' && full.rosters.length).toBe(3);
    const stranger = await FakeClient.open(n, makeParty(w.authority, 'support'));
    expect(what(await stranger.request({ t: 'roster_get', rid: 13, order }))).toBe('error:NOT_A_MEMBER');
  });
});
