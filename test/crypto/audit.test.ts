import { describe, expect, it } from 'vitest';
import { cryptoReady, auditOrder, sealEnvelope, signRoster, createKeyPackages, OutboundSenderKey } from '../../crypto/index.ts';
import { encodeKeyPackage } from '../../crypto/senderkey.ts';
import { NOW, ORDER, distribute, makeParty, makeWorld, member, nextRoster, utf8 } from './fixtures.ts';

await cryptoReady();

/** A clean two-epoch order log: courier and shipper talk in epoch 1, courier reassigned in epoch 2. */
function cleanLog() {
  const w = makeWorld();
  const a = distribute(w.courier, w.roster);
  const b = distribute(w.shipper, w.roster, 'commercial');
  const envelopes = [
    sealEnvelope({ senderKey: a.sk, sender: w.courier.keys, kind: 'status', body: utf8('picked up') }),
    sealEnvelope({ senderKey: b.sk, sender: w.shipper.keys, kind: 'order', body: utf8('value 9800') }),
    sealEnvelope({ senderKey: a.sk, sender: w.courier.keys, kind: 'location', body: utf8('31.2,121.4') }),
    sealEnvelope({ senderKey: a.sk, sender: w.courier.keys, kind: 'text', body: utf8('5 min') }),
  ];
  const courier2 = makeParty(w.authority, 'courier', 'u-courier-2');
  const r2 = nextRoster(w, w.roster, [w.shipper, w.consignee, courier2, w.dispatcher, w.support, w.auditor]);
  const c = distribute(courier2, r2.roster);
  envelopes.push(sealEnvelope({ senderKey: c.sk, sender: courier2.keys, kind: 'location', body: utf8('31.3,121.5') }));
  return {
    w,
    log: {
      rosters: [w.rosterBytes, r2.bytes],
      keyPackages: [...a.packages, ...b.packages, ...c.packages].map((p) => p.bytes),
      envelopes,
    },
    a,
  };
}

describe('the offline audit', () => {
  it('passes a clean order log and counts what it checked, without any content key', () => {
    const { w, log } = cleanLog();
    const report = auditOrder(log, { trustedAuthorities: w.trusted, now: NOW + 10_000 });
    expect(report.anomalies).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.stats).toMatchObject({ rosters: 2, epochs: 2, envelopes: 5, senders: 3, senderChains: 3 });
  });

  it('detects a forged envelope signature', () => {
    const { w, log } = cleanLog();
    const forged = log.envelopes[2]!.slice();
    forged[forged.length - 10]! ^= 1;
    const report = auditOrder({ ...log, envelopes: log.envelopes.map((e, i) => (i === 2 ? forged : e)) }, { trustedAuthorities: w.trusted, now: NOW + 10_000 });
    expect(report.ok).toBe(false);
    expect(report.anomalies).toContainEqual(expect.objectContaining({ code: 'BAD_SIGNATURE', where: 'envelope[2]' }));
  });

  it('detects a policy-violating publish (a consignee posting location)', () => {
    const { w, log } = cleanLog();
    const bad = distribute(w.consignee, w.roster);
    const env = sealEnvelope({ senderKey: bad.sk, sender: w.consignee.keys, kind: 'location', body: utf8('x') });
    const report = auditOrder({ ...log, keyPackages: [...log.keyPackages, ...bad.packages.map((p) => p.bytes)], envelopes: [...log.envelopes, env] }, { trustedAuthorities: w.trusted, now: NOW + 10_000 });
    expect(report.anomalies).toEqual([expect.objectContaining({ code: 'POLICY_DENIED', where: 'envelope[5]' })]);
  });

  it('detects a gap in one sender’s chain (a dropped envelope)', () => {
    const { w, log } = cleanLog();
    const report = auditOrder({ ...log, envelopes: log.envelopes.filter((_, i) => i !== 2) }, { trustedAuthorities: w.trusted, now: NOW + 10_000 });
    expect(report.anomalies).toEqual([expect.objectContaining({ code: 'GAP', where: 'envelope[2]' })]);
  });

  it('detects a broken roster link', () => {
    const { w, log } = cleanLog();
    const badLink = signRoster(w.authority, { orderId: ORDER, epoch: 2, prevHash: new Uint8Array(32).fill(1), members: w.all.map(member), policyId: 'sealrelay/default@1', issuedAt: NOW + 5 });
    const report = auditOrder({ ...log, rosters: [log.rosters[0]!, badLink], envelopes: log.envelopes.slice(0, 4) }, { trustedAuthorities: w.trusted, now: NOW + 10_000 });
    expect(report.anomalies).toContainEqual(expect.objectContaining({ code: 'ROSTER_BAD_CHAIN', where: 'roster[1]' }));
  });

  it('detects a key package given to a role that may not read the scope, and a reader left without one', () => {
    const { w, log } = cleanLog();
    // A modified shipper client seals its commercial key to the courier and forgets the auditor.
    const sk = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'commercial', senderDeviceId: w.shipper.keys.deviceId, now: NOW });
    const proper = createKeyPackages(sk, w.shipper.keys, w.roster);
    const env = sealEnvelope({ senderKey: sk, sender: w.shipper.keys, kind: 'text', body: utf8('x') });
    const onlyDispatcher = proper.filter((p) => p.recipientDeviceId === w.dispatcher.keys.deviceId).map((p) => p.bytes);
    const toCourier = encodeKeyPackage(
      { orderId: ORDER, epoch: 1, scope: 'commercial', senderDeviceId: w.shipper.keys.deviceId, recipientDeviceId: w.courier.keys.deviceId, senderKeyId: sk.senderKeyId },
      new Uint8Array(80),
      w.shipper.keys,
    );
    const report = auditOrder({ ...log, keyPackages: [...log.keyPackages, ...onlyDispatcher, toCourier], envelopes: [...log.envelopes, env] }, { trustedAuthorities: w.trusted, now: NOW + 10_000 });
    expect(report.anomalies.map((a) => a.code).sort()).toEqual(['MISSING_KEY_PACKAGE', 'POLICY_DENIED']);
    expect(report.anomalies.find((a) => a.code === 'MISSING_KEY_PACKAGE')!.detail).toContain(w.auditor.keys.deviceId);
    expect(report.anomalies.find((a) => a.code === 'POLICY_DENIED')!.where).toBe(`keyPackage[${log.keyPackages.length + 1}]`);
  });

  it('reports garbage in the log as MALFORMED entries and keeps going', () => {
    const { w, log } = cleanLog();
    const report = auditOrder({ ...log, envelopes: [new Uint8Array([1, 2, 3]), ...log.envelopes] }, { trustedAuthorities: w.trusted, now: NOW + 10_000 });
    expect(report.anomalies).toEqual([expect.objectContaining({ code: 'MALFORMED', where: 'envelope[0]' })]);
  });
});
