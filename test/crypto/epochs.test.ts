import { code } from './fixtures.ts';
import { describe, expect, it } from 'vitest';
import {
  cryptoReady, sealEnvelope, openEnvelope, openKeyPackage, createKeyPackages, OutboundSenderKey, ReceiverState, RosterChain, needsRotation,
} from '../../crypto/index.ts';
import { ORDER, NOW, distribute, makeParty, makeWorld, nextRoster, receiverFor, text, utf8 } from './fixtures.ts';

await cryptoReady();

describe('a courier reassignment (new epoch)', () => {
  it('a removed courier cannot decrypt anything of the next epoch', () => {
    const w = makeWorld();
    const oldCourier = w.courier;
    // Epoch 1: the old courier reads the shipper's messages.
    const e1 = distribute(w.shipper, w.roster);
    const oldState = receiverFor(oldCourier, w.roster, e1.packages);
    const m1 = sealEnvelope({ senderKey: e1.sk, sender: w.shipper.keys, kind: 'text', body: utf8('gate code 4711') });
    expect(text(openEnvelope(m1, { roster: w.roster, receiverState: oldState, expectedOrderId: ORDER }).body)).toBe('gate code 4711');

    // Epoch 2: courier replaced. Every sender must rotate (mandatory on epoch change).
    const newCourier = makeParty(w.authority, 'courier', 'u-courier-2');
    const r2 = nextRoster(w, w.roster, [w.shipper, w.consignee, newCourier, w.dispatcher, w.support, w.auditor]);
    expect(needsRotation(e1.sk, NOW, { epoch: r2.roster.epoch })).toBe(true);
    const e2 = distribute(w.shipper, r2.roster);
    expect(e2.packages.map((p) => p.recipientDeviceId)).not.toContain(oldCourier.keys.deviceId);
    expect(e2.packages.map((p) => p.recipientDeviceId)).toContain(newCourier.keys.deviceId);
    const m2 = sealEnvelope({ senderKey: e2.sk, sender: w.shipper.keys, kind: 'text', body: utf8('new gate code 0815'), roster: r2.roster });

    // The old courier cannot open any epoch-2 package: none is addressed to it, and it is not a member.
    for (const p of e2.packages) {
      expect(['WRONG_RECIPIENT', 'NOT_A_MEMBER']).toContain(code(() => openKeyPackage(p.bytes, oldCourier.keys, r2.roster)));
    }
    // Nor the envelopes: with its old state, or with the epoch-1 roster, or the epoch-2 roster.
    expect(code(() => openEnvelope(m2, { roster: r2.roster, receiverState: oldState, expectedOrderId: ORDER }))).toBe('UNKNOWN_SENDER_KEY');
    expect(code(() => openEnvelope(m2, { roster: w.roster, receiverState: oldState, expectedOrderId: ORDER }))).toBe('WRONG_CONTEXT');
    // Even with the epoch-1 chain key itself, the epoch-2 key is independent random: trial decryption fails.
    const s = new ReceiverState();
    const pkg1 = e1.packages.find((p) => p.recipientDeviceId === oldCourier.keys.deviceId)!;
    const k1 = openKeyPackage(pkg1.bytes, oldCourier.keys, w.roster);
    s.install({ ...k1, epoch: 2, senderKeyId: e2.sk.senderKeyId });
    expect(code(() => openEnvelope(m2, { roster: r2.roster, receiverState: s, expectedOrderId: ORDER }))).toBe('DECRYPT_FAILED');

    // The new courier reads epoch 2.
    const newState = receiverFor(newCourier, r2.roster, e2.packages);
    expect(text(openEnvelope(m2, { roster: r2.roster, receiverState: newState, expectedOrderId: ORDER }).body)).toBe('new gate code 0815');
  });

  it('a removed courier’s messages in the new epoch are refused: it is not a member any more', () => {
    const w = makeWorld();
    const r2 = nextRoster(w, w.roster, [w.shipper, w.consignee, w.dispatcher]);
    const stale = distribute(w.courier, w.roster); // epoch-1 key
    const m = sealEnvelope({ senderKey: stale.sk, sender: w.courier.keys, kind: 'location', body: utf8('x') });
    const st = receiverFor(w.shipper, w.roster, stale.packages);
    expect(code(() => openEnvelope(m, { roster: r2.roster, receiverState: st, expectedOrderId: ORDER }))).toBe('WRONG_CONTEXT');
    // A fresh epoch-2 key of its own gets it no further: it is not in the epoch-2 roster.
    const own = OutboundSenderKey.create({ orderId: ORDER, epoch: 2, scope: 'shared', senderDeviceId: w.courier.keys.deviceId, now: NOW });
    expect(code(() => createKeyPackages(own, w.courier.keys, r2.roster))).toBe('NOT_A_MEMBER');
    const m2 = sealEnvelope({ senderKey: own, sender: w.courier.keys, kind: 'location', body: utf8('y') });
    expect(code(() => openEnvelope(m2, { roster: r2.roster, receiverState: st, expectedOrderId: ORDER }))).toBe('NOT_A_MEMBER');
    const chain = new RosterChain(ORDER, w.trusted);
    chain.accept(w.rosterBytes, NOW);
    chain.accept(r2.bytes, NOW);
    // Late epoch-1 messages are still judged by the epoch-1 roster.
    expect(text(openEnvelope(m, { roster: chain.rosterAt(1)!, receiverState: st, expectedOrderId: ORDER }).body)).toBe('x');
  });
});
