/**
 * Key packages at the relay (audit findings): a member could flood a victim with
 * packages until the victim's `kp` reply no longer fit in a frame, and packages
 * with junk signatures, for old epochs or for scopes the sender may not publish
 * into were stored.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFrame } from '../../protocol/frames.ts';
import { MAX_FRAME_BYTES } from '../../protocol/limits.ts';
import { encodeKeyPackage } from '../../crypto/senderkey.ts';
import { MemoryStore } from '../../server/store/memory.ts';
import { KEY_PACKAGES_KEPT_PER_GROUP } from '../../server/store/types.ts';
import { makeParty, makeWorld, rosterFor, Sender, type Party, type World } from '../integration/helpers.ts';
import { FakeClient, fakeNode, what, type FakeNode } from './fake-cluster.ts';

let w: World;
const nodes: FakeNode[] = [];
beforeAll(async () => { w = await makeWorld(); });
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.relay.close())); });

async function node(): Promise<FakeNode> {
  const n = await fakeNode(w, new MemoryStore(), { rateLimits: { framesPerSecond: 10_000, framesBurst: 10_000 } });
  nodes.push(n);
  return n;
}

/** A correctly signed package with a 1 KiB sealed part (the largest a client makes is ~250 B). */
function bigPackage(order: string, epoch: number, from: Party, to: Party, scope = 'shared'): Uint8Array<ArrayBuffer> {
  return encodeKeyPackage({ orderId: order, epoch, scope, senderDeviceId: from.keys.deviceId, recipientDeviceId: to.keys.deviceId, senderKeyId: randomBytes(16) }, randomBytes(1024), from.keys) as Uint8Array<ArrayBuffer>;
}

/** Raw bytes of the frames a connection was sent since `from`, decoded. */
function sentSince(c: FakeClient, from: number): Array<{ size: number; frame: ServerFrame }> {
  return c.conn.sent.slice(from).map((b) => ({ size: b.byteLength, frame: c.conn.frames()[c.conn.sent.indexOf(b)]! }));
}

describe('key packages', () => {
  it('pages 300 packages for one recipient so that every kp reply fits in a frame, and all of them can be fetched', async () => {
    const n = await node();
    const order = `o-kp-${Date.now()}`;
    const senders = Array.from({ length: 20 }, (_, i) => makeParty(w.authority, i % 2 ? 'courier' : 'support'));
    const r1 = rosterFor(w, order, [w.shipper, w.consignee, ...senders]);
    const shipper = await FakeClient.open(n, w.shipper);
    expect(what(await shipper.request({ t: 'roster_put', rid: 1, order, roster: r1.bytes as Uint8Array<ArrayBuffer> }))).toBe('roster_ok');
    const sent = new Set<string>();
    let rid = 10;
    for (const s of senders) {
      const c = await FakeClient.open(n, s);
      const packages = Array.from({ length: 15 }, () => bigPackage(order, 1, s, w.consignee));
      for (const p of packages) sent.add(Buffer.from(p).toString('hex'));
      expect(await c.request({ t: 'kp_put', rid: rid++, order, packages })).toMatchObject({ t: 'kp_ok', stored: 15 });
    }
    expect(sent.size).toBe(300);
    const victim = await FakeClient.open(n, w.consignee);
    const got = new Set<string>();
    let after: Uint8Array<ArrayBuffer> | undefined;
    let pages = 0;
    for (;;) {
      const before = victim.conn.sent.length;
      const reply = await victim.request({ t: 'kp_get', rid: rid++, order, ...(after ? { after } : {}) });
      for (const { size } of sentSince(victim, before)) expect(size).toBeLessThanOrEqual(MAX_FRAME_BYTES);
      if (reply.t !== 'kp') throw new Error(what(reply));
      pages++;
      for (const p of reply.packages) got.add(Buffer.from(p).toString('hex'));
      if (!reply.next) break;
      after = reply.next;
    }
    expect(pages).toBeGreaterThan(1);
    expect(got).toEqual(sent);
  });

  it('keeps only the newest packages of one flooding sender, so the victim still gets one small reply', async () => {
    const n = await node();
    const order = `o-flood-${Date.now()}`;
    const r1 = rosterFor(w, order, [w.shipper, w.consignee, w.courier]);
    const shipper = await FakeClient.open(n, w.shipper);
    await shipper.request({ t: 'roster_put', rid: 1, order, roster: r1.bytes as Uint8Array<ArrayBuffer> });
    const flooder = await FakeClient.open(n, w.courier);
    let newest: Uint8Array[] = [];
    for (let batch = 0; batch < 4; batch++) {
      newest = Array.from({ length: 64 }, () => bigPackage(order, 1, w.courier, w.consignee));
      await flooder.request({ t: 'kp_put', rid: 10 + batch, order, packages: newest as Uint8Array<ArrayBuffer>[] });
    }
    const victim = await FakeClient.open(n, w.consignee);
    const reply = await victim.request({ t: 'kp_get', rid: 20, order });
    expect(reply.t).toBe('kp');
    if (reply.t !== 'kp') return;
    expect(reply.packages).toHaveLength(KEY_PACKAGES_KEPT_PER_GROUP);
    expect(reply.next).toBeUndefined();
    const kept = new Set(reply.packages.map((p) => Buffer.from(p).toString('hex')));
    for (const p of newest.slice(-KEY_PACKAGES_KEPT_PER_GROUP)) expect(kept.has(Buffer.from(p).toString('hex'))).toBe(true);
  });

  it('refuses packages with a junk signature, for a scope the sender may not publish into, or for an old epoch, with KEY_PACKAGE_INVALID', async () => {
    const n = await node();
    const order = `o-kp-bad-${Date.now()}`;
    const r1 = rosterFor(w, order, [w.shipper, w.consignee, w.courier]);
    const shipper = await FakeClient.open(n, w.shipper);
    await shipper.request({ t: 'roster_put', rid: 1, order, roster: r1.bytes as Uint8Array<ArrayBuffer> });
    const courier = await FakeClient.open(n, w.courier);
    const good = new Sender(w.courier, r1.roster).keyPackages()[0]!;
    const junk = good.slice();
    junk[junk.length - 1]! ^= 0x01;
    const other = makeParty(w.authority, 'courier');
    // Re-label a package signed by someone else as the courier's: the header says courier, the signature does not.
    const stolen = encodeKeyPackage({ orderId: order, epoch: 1, scope: 'shared', senderDeviceId: w.courier.keys.deviceId, recipientDeviceId: w.consignee.keys.deviceId, senderKeyId: randomBytes(16) }, randomBytes(64), other.keys);
    const commercial = bigPackage(order, 1, w.courier, w.shipper, 'commercial');
    let rid = 10;
    for (const bad of [junk, stolen, commercial]) {
      const reply = await courier.request({ t: 'kp_put', rid: rid++, order, packages: [good as Uint8Array<ArrayBuffer>, bad as Uint8Array<ArrayBuffer>] });
      expect(what(reply)).toBe('error:KEY_PACKAGE_INVALID');
    }
    const r2 = rosterFor(w, order, [w.shipper, w.consignee, w.courier], r1.roster);
    await shipper.request({ t: 'roster_put', rid: 2, order, roster: r2.bytes as Uint8Array<ArrayBuffer> });
    expect(what(await courier.request({ t: 'kp_put', rid: rid++, order, packages: [good as Uint8Array<ArrayBuffer>] }))).toBe('error:KEY_PACKAGE_INVALID');
    // Nothing of the refused frames was stored.
    const consignee = await FakeClient.open(n, w.consignee);
    expect(await consignee.request({ t: 'kp_get', rid: 99, order })).toMatchObject({ t: 'kp', packages: [] });
    expect(what(await courier.request({ t: 'kp_put', rid, order, packages: new Sender(w.courier, r2.roster).keyPackages() as Uint8Array<ArrayBuffer>[] }))).toBe('kp_ok');
  });
});
