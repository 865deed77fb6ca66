import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeKeyPackageHeader } from '../../crypto/index.ts';
import type { RunningRelay } from '../../server/index.ts';
import { Sender, authed, b, makeWorld, publish, putRoster, rosterFor, startTestRelay, subscribe, type World } from './helpers.ts';

let w: World;
let relay: RunningRelay;
let n = 0;
const newOrder = (): string => `order-authz-${++n}`;

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w);
});
afterAll(() => relay.close());

describe('who may publish what', () => {
  it('refuses a courier publishing proof_of_delivery (ROLE_FORBIDDEN) but accepts its location', async () => {
    const order = newOrder();
    const { bytes, roster } = rosterFor(w, order, [w.shipper, w.consignee, w.courier]);
    const courier = await authed(relay, w.courier);
    expect(await putRoster(courier, order, bytes)).toMatchObject({ t: 'roster_ok', epoch: 1 });
    const s = new Sender(w.courier, roster);
    expect(await publish(courier, order, 'pod-1', s.seal('proof_of_delivery'))).toMatchObject({ t: 'error', code: 'ROLE_FORBIDDEN' });
    expect(await publish(courier, order, 'loc-1', s.seal('location'))).toMatchObject({ t: 'puback', seq: 1 });
    courier.close();
  });

  it('refuses a device outside the roster (NOT_A_MEMBER) and an order without roster (ORDER_UNKNOWN)', async () => {
    const order = newOrder();
    const { bytes, roster } = rosterFor(w, order, [w.shipper, w.consignee]);
    const courier = await authed(relay, w.courier);
    await putRoster(courier, order, bytes);
    const s = new Sender(w.courier, roster);
    expect(await publish(courier, order, 'x', s.seal('location'))).toMatchObject({ code: 'NOT_A_MEMBER' });
    expect(await subscribe(courier, order)).toMatchObject({ t: 'error', code: 'NOT_A_MEMBER' });
    expect(await subscribe(courier, 'no-such-order', 0, 8)).toMatchObject({ t: 'error', code: 'ORDER_UNKNOWN' });
    courier.close();
  });

  it('refuses an envelope sealed by someone else or for another order (ENVELOPE_MISMATCH)', async () => {
    const order = newOrder();
    const { bytes, roster } = rosterFor(w, order, [w.shipper, w.courier]);
    const courier = await authed(relay, w.courier);
    await putRoster(courier, order, bytes);
    const shipperEnvelope = new Sender(w.shipper, roster).seal('text');
    expect(await publish(courier, order, 'spoof', shipperEnvelope)).toMatchObject({ code: 'ENVELOPE_MISMATCH' });
    courier.close();
  });
});

describe('who may read what', () => {
  it('never delivers the commercial scope to the consignee, while the dispatcher gets it', async () => {
    const order = newOrder();
    const { bytes, roster } = rosterFor(w, order, [w.shipper, w.consignee, w.courier, w.dispatcher]);
    const shipper = await authed(relay, w.shipper);
    await putRoster(shipper, order, bytes);
    const consignee = await authed(relay, w.consignee);
    const dispatcher = await authed(relay, w.dispatcher);
    await subscribe(consignee, order);
    await subscribe(dispatcher, order);
    const commercial = new Sender(w.shipper, roster, 'commercial');
    const shared = new Sender(w.shipper, roster, 'shared');
    expect(await publish(shipper, order, 'price', commercial.seal('order', 'price 120 EUR'))).toMatchObject({ seq: 1 });
    expect(await publish(shipper, order, 'hello', shared.seal('text', 'hello'))).toMatchObject({ seq: 2 });
    const forDispatcher = await dispatcher.deliveries(order, 2);
    expect(forDispatcher.map((m) => [m.seq, m.prev])).toEqual([[1, 0], [2, 1]]);
    const forConsignee = await consignee.deliveries(order, 1);
    // The consignee sees only seq 2, and prev=0 tells it the hole at 1 is policy, not loss.
    expect(forConsignee.map((m) => [m.seq, m.prev])).toEqual([[2, 0]]);
    // ... also when replaying history.
    const late = await authed(relay, w.consignee);
    await subscribe(late, order, 0);
    expect((await late.deliveries(order, 1)).map((m) => m.seq)).toEqual([2]);
    await new Promise((r) => setTimeout(r, 100));
    expect(consignee.frames.filter((f) => f.t === 'deliver')).toEqual([]);
    for (const c of [shipper, consignee, dispatcher, late]) c.close();
  });

  it('cuts a removed courier off at the roster change: MEMBER_REMOVED, and nothing of the new epoch', async () => {
    const order = newOrder();
    const r1 = rosterFor(w, order, [w.shipper, w.consignee, w.courier]);
    const shipper = await authed(relay, w.shipper);
    await putRoster(shipper, order, r1.bytes);
    const courier = await authed(relay, w.courier);
    const consignee = await authed(relay, w.consignee);
    await subscribe(courier, order);
    await subscribe(consignee, order);
    await publish(shipper, order, 'e1', new Sender(w.shipper, r1.roster).seal('text', 'before'));
    expect((await courier.deliveries(order, 1))[0]!.seq).toBe(1);

    const r2 = rosterFor(w, order, [w.shipper, w.consignee], r1.roster);
    expect(await putRoster(shipper, order, r2.bytes, 2)).toMatchObject({ t: 'roster_ok', epoch: 2 });
    expect(await courier.nextOf('unsubscribed')).toMatchObject({ order, code: 'MEMBER_REMOVED' });
    expect(await consignee.nextOf('roster')).toMatchObject({ order });

    // A stale-epoch envelope is refused; the new epoch reaches the consignee only.
    expect(await publish(shipper, order, 'stale', new Sender(w.shipper, r1.roster).seal('text'))).toMatchObject({ code: 'EPOCH_STALE' });
    expect(await publish(shipper, order, 'e2', new Sender(w.shipper, r2.roster).seal('text', 'after'))).toMatchObject({ seq: 2 });
    expect((await consignee.deliveries(order, 2)).map((m) => m.seq)).toEqual([1, 2]);
    // Re-subscribing does not help the courier, nor does publishing.
    expect(await subscribe(courier, order, 0, 9)).toMatchObject({ code: 'NOT_A_MEMBER' });
    expect(await publish(courier, order, 'loc', new Sender(w.courier, r1.roster).seal('location'))).toMatchObject({ code: 'EPOCH_STALE' });
    expect(courier.frames.filter((f) => f.t === 'deliver')).toEqual([]);
    for (const c of [shipper, courier, consignee]) c.close();
  });

  it('delivers to a member added later only messages from its first epoch on', async () => {
    const order = newOrder();
    const r1 = rosterFor(w, order, [w.shipper, w.consignee]);
    const shipper = await authed(relay, w.shipper);
    await putRoster(shipper, order, r1.bytes);
    await publish(shipper, order, 'old', new Sender(w.shipper, r1.roster).seal('text', 'before the courier'));
    const r2 = rosterFor(w, order, [w.shipper, w.consignee, w.courier], r1.roster);
    await putRoster(shipper, order, r2.bytes, 2);
    await publish(shipper, order, 'new', new Sender(w.shipper, r2.roster).seal('text', 'welcome courier'));
    const courier = await authed(relay, w.courier);
    await subscribe(courier, order, 0);
    expect((await courier.deliveries(order, 1)).map((m) => [m.seq, m.prev])).toEqual([[2, 0]]);
    shipper.close();
    courier.close();
  });
});

describe('rosters', () => {
  it('refuses a rollback, a fork and a roster signed by an unknown authority', async () => {
    const order = newOrder();
    const r1 = rosterFor(w, order, [w.shipper, w.courier]);
    const r2 = rosterFor(w, order, [w.shipper], r1.roster);
    const r2b = rosterFor(w, order, [w.shipper, w.consignee], r1.roster);
    const c = await authed(relay, w.shipper);
    await putRoster(c, order, r1.bytes, 1);
    expect(await putRoster(c, order, r1.bytes, 2)).toMatchObject({ t: 'roster_ok', epoch: 1 }); // idempotent
    await putRoster(c, order, r2.bytes, 3);
    expect(await putRoster(c, order, r1.bytes, 4)).toMatchObject({ code: 'ROSTER_ROLLBACK' });
    expect(await putRoster(c, order, r2b.bytes, 5)).toMatchObject({ code: 'ROSTER_FORK' });
    const other = await makeWorld();
    expect(await putRoster(c, `${order}-x`, rosterFor(other, `${order}-x`, [other.shipper]).bytes, 6)).toMatchObject({ code: 'ROSTER_INVALID' });
    expect(await putRoster(c, 'another-order', r1.bytes, 7)).toMatchObject({ code: 'ROSTER_INVALID' });
    c.close();
  });
});

describe('key packages', () => {
  it('hands each device only the packages addressed to it', async () => {
    const order = newOrder();
    const { bytes, roster } = rosterFor(w, order, [w.shipper, w.consignee, w.dispatcher]);
    const shipper = await authed(relay, w.shipper);
    await putRoster(shipper, order, bytes);
    const packages = new Sender(w.shipper, roster, 'commercial').keyPackages();
    shipper.send({ t: 'kp_put', rid: 3, order, packages: packages.map(b) });
    expect(await shipper.nextOf('kp_ok')).toMatchObject({ stored: packages.length });
    const dispatcher = await authed(relay, w.dispatcher);
    dispatcher.send({ t: 'kp_get', rid: 4, order });
    const got = await dispatcher.nextOf('kp');
    expect(got.packages.length).toBe(1);
    expect(decodeKeyPackageHeader(got.packages[0]!).recipientDeviceId).toBe(w.dispatcher.keys.deviceId);
    const consignee = await authed(relay, w.consignee);
    consignee.send({ t: 'kp_get', rid: 5, order });
    expect((await consignee.nextOf('kp')).packages).toEqual([]);
    for (const c of [shipper, dispatcher, consignee]) c.close();
  });

  it('refuses packages from another sender or to a reader the policy forbids (KEY_PACKAGE_INVALID)', async () => {
    const order = newOrder();
    const { bytes, roster } = rosterFor(w, order, [w.shipper, w.consignee, w.dispatcher]);
    const consignee = await authed(relay, w.consignee);
    await putRoster(consignee, order, bytes);
    const shippersPackages = new Sender(w.shipper, roster, 'shared').keyPackages();
    consignee.send({ t: 'kp_put', rid: 1, order, packages: shippersPackages.map(b) });
    expect(await consignee.nextError()).toMatchObject({ code: 'KEY_PACKAGE_INVALID', rid: 1 });
    consignee.send({ t: 'kp_put', rid: 2, order, packages: [b(new Uint8Array([1, 2, 3]))] });
    expect(await consignee.nextError()).toMatchObject({ code: 'KEY_PACKAGE_INVALID', rid: 2 });
    consignee.close();
  });
});
