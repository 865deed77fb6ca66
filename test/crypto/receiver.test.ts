import { code } from './fixtures.ts';
/**
 * The receiver state and chain tracker under hostile members and a hostile relay:
 * sender-key id squatting, key id collisions, replay across a restart, bounded size.
 */
import { describe, expect, it } from 'vitest';
import {
  cryptoReady, sealEnvelope, openEnvelope, decodeKeyPackageHeader, OutboundSenderKey, createKeyPackages, openKeyPackage,
  ReceiverState, ChainTracker, MAX_CHAINS, auditOrder, sealState, openState, deviceStorageKey,
  envelopeHash, decodeEnvelopeHeader, type ReceivedSenderKey, type DeviceKeys,
} from '../../crypto/index.ts';
import { NOW, ORDER, makeWorld, text, utf8 } from './fixtures.ts';

await cryptoReady();

/** S = courier (victim sender), M = dispatcher (squatter), V = consignee (victim reader). */
function squat() {
  const w = makeWorld();
  const R = w.roster;
  const S = w.courier;
  const M = w.dispatcher;
  const V = w.consignee;
  const sk = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: S.keys.deviceId, now: NOW });
  const sPkgs = createKeyPackages(sk, S.keys, R);
  const sToM = sPkgs.find((p) => p.recipientDeviceId === M.keys.deviceId)!;
  const sToV = sPkgs.find((p) => p.recipientDeviceId === V.keys.deviceId)!;
  // M copies S's key id from the clear header of the package S sent it, into a chain of its own.
  const stolenId = decodeKeyPackageHeader(sToM.bytes).senderKeyId;
  const mk = OutboundSenderKey.fromSecret({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: M.keys.deviceId, senderKeyId: stolenId, chainKey: new Uint8Array(32).fill(7) });
  const mToV = createKeyPackages(mk, M.keys, R).find((p) => p.recipientDeviceId === V.keys.deviceId)!;
  return { w, R, S, M, V, sk, mk, sToV, mToV };
}

describe('sender-key id squatting', () => {
  it('a member who installs its own chain under another sender’s key id first does not censor that sender', () => {
    const { R, S, M, V, sk, mk, sToV, mToV } = squat();
    const st = new ReceiverState();
    st.install(openKeyPackage(mToV.bytes, V.keys, R)); // the squatter's package arrives first
    expect(() => st.install(openKeyPackage(sToV.bytes, V.keys, R))).not.toThrow();
    expect(st.chainCount).toBe(2);
    const env = sealEnvelope({ senderKey: sk, sender: S.keys, kind: 'location', body: utf8('{"lat":1}'), roster: R });
    expect(text(openEnvelope(env, { roster: R, receiverState: st, expectedOrderId: ORDER }).body)).toBe('{"lat":1}');
    // M's own messages open as M's (under M's signature and role), never as S's.
    const mine = sealEnvelope({ senderKey: mk, sender: M.keys, kind: 'text', body: utf8('from M'), roster: R });
    const opened = openEnvelope(mine, { roster: R, receiverState: st, expectedOrderId: ORDER });
    expect(opened.header.senderDeviceId).toBe(M.keys.deviceId);
    expect(text(opened.body)).toBe('from M');
  });

  it('the squatter cannot impersonate the sender: an envelope naming S, signed by M, is refused, and S’s chain is untouched', () => {
    const { R, S, M, V, sk, sToV, mToV } = squat();
    const st = new ReceiverState();
    st.install(openKeyPackage(mToV.bytes, V.keys, R));
    st.install(openKeyPackage(sToV.bytes, V.keys, R));
    // M seals with its chain, claiming to be S (same key id): S's signature is missing.
    const forger = OutboundSenderKey.fromSecret({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: S.keys.deviceId, senderKeyId: sk.senderKeyId, chainKey: new Uint8Array(32).fill(7) });
    expect(code(() => sealEnvelope({ senderKey: forger, sender: M.keys, kind: 'location', body: utf8('x') }))).toBe('INVALID_ARGUMENT');
    const posing = { deviceId: S.keys.deviceId, sign: (b: Uint8Array) => M.keys.sign(b) } as unknown as DeviceKeys;
    const forged = sealEnvelope({ senderKey: forger, sender: posing, kind: 'location', body: utf8('{"lat":99}') });
    expect(code(() => openEnvelope(forged, { roster: R, receiverState: st, expectedOrderId: ORDER }))).toBe('BAD_SIGNATURE');
    const env = sealEnvelope({ senderKey: sk, sender: S.keys, kind: 'location', body: utf8('{"lat":1}'), roster: R });
    expect(text(openEnvelope(env, { roster: R, receiverState: st, expectedOrderId: ORDER }).body)).toBe('{"lat":1}');
  });

  it('the same order of installs works the other way round too, and a bare key id no longer names one chain', () => {
    const { R, V, sk, sToV, mToV } = squat();
    const st = new ReceiverState();
    st.install(openKeyPackage(sToV.bytes, V.keys, R));
    st.install(openKeyPackage(mToV.bytes, V.keys, R));
    expect(st.chain(decodeKeyPackageHeader(sToV.bytes))?.senderDeviceId).toBe(sk.senderDeviceId);
    expect(st.chain(sk.senderKeyId)).toBeUndefined(); // ambiguous: callers must pass the header
  });

  it('a sender handing out two different keys under one id is KEY_ID_COLLISION, and the first key stays', () => {
    const { R, S, V, sk, sToV } = squat();
    const st = new ReceiverState();
    st.install(openKeyPackage(sToV.bytes, V.keys, R));
    const evil = OutboundSenderKey.fromSecret({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: S.keys.deviceId, senderKeyId: sk.senderKeyId, chainKey: new Uint8Array(32).fill(9) });
    const evilToV = createKeyPackages(evil, S.keys, R).find((p) => p.recipientDeviceId === V.keys.deviceId)!;
    expect(code(() => st.install(openKeyPackage(evilToV.bytes, V.keys, R)))).toBe('KEY_ID_COLLISION');
    // A later-index package of the same chain (as for a member added mid-chain) is recognised as the same key.
    const later = OutboundSenderKey.deserialize(sk.serialize());
    for (let i = 0; i < 3; i++) later.advance();
    const k: ReceivedSenderKey = { orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: S.keys.deviceId, senderKeyId: sk.senderKeyId, startIndex: 3, chainKey: later.snapshot().chainKey };
    expect(() => st.install(k)).not.toThrow();
    expect(code(() => st.install({ ...k, chainKey: new Uint8Array(32).fill(1) }))).toBe('KEY_ID_COLLISION');
    const env = sealEnvelope({ senderKey: sk, sender: S.keys, kind: 'location', body: utf8('first key'), roster: R });
    expect(text(openEnvelope(env, { roster: R, receiverState: st, expectedOrderId: ORDER }).body)).toBe('first key');
  });

  it('the chain tracker follows the two chains separately, and the audit reports the shared id as KEY_ID_COLLISION', () => {
    const { w, R, S, M, sk, mk, sToV, mToV } = squat();
    const e1 = sealEnvelope({ senderKey: sk, sender: S.keys, kind: 'location', body: utf8('a'), roster: R });
    const e2 = sealEnvelope({ senderKey: mk, sender: M.keys, kind: 'text', body: utf8('b'), roster: R });
    const e3 = sealEnvelope({ senderKey: sk, sender: S.keys, kind: 'location', body: utf8('c'), roster: R });
    const t = new ChainTracker();
    const warnings = [e1, e2, e3].flatMap((e) => t.observe(decodeEnvelopeHeader(e), envelopeHash(e)));
    expect(warnings).toEqual([]);
    expect(t.chainCount).toBe(2);
    const report = auditOrder({ rosters: [w.rosterBytes], keyPackages: [sToV.bytes, mToV.bytes], envelopes: [e1, e2, e3] }, { trustedAuthorities: w.trusted, now: NOW });
    expect(report.anomalies.filter((a) => a.code === 'KEY_ID_COLLISION').map((a) => a.where)).toEqual(['keyPackage[1]']);
    expect(report.anomalies.filter((a) => a.code === 'GAP' || a.code === 'CHAIN_BREAK')).toEqual([]);
    expect(report.stats.senderChains).toBe(2);
  });
});

describe('replay protection across a restart', () => {
  function world() {
    const w = makeWorld();
    const sk = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: w.courier.keys.deviceId, now: NOW });
    const pkg = createKeyPackages(sk, w.courier.keys, w.roster).find((p) => p.recipientDeviceId === w.shipper.keys.deviceId)!;
    const msgs = [0, 1, 2, 3].map((i) => sealEnvelope({ senderKey: sk, sender: w.courier.keys, kind: 'location', body: utf8(`m${i}`), roster: w.roster }));
    return { w, sk, pkg, msgs };
  }

  it('an envelope opened before a restart is REPLAY after it (state serialized, sealed, restored)', () => {
    const { w, pkg, msgs } = world();
    const before = new ReceiverState();
    before.install(openKeyPackage(pkg.bytes, w.shipper.keys, w.roster));
    openEnvelope(msgs[0]!, { roster: w.roster, receiverState: before, expectedOrderId: ORDER });
    openEnvelope(msgs[2]!, { roster: w.roster, receiverState: before, expectedOrderId: ORDER }); // 1 skipped
    const key = deviceStorageKey(w.shipper.keys);
    const stored = sealState(key, `receiver/${ORDER}`, before.serialize());
    // restart: a fresh process restores the state, then re-installs the key package the relay serves again
    const after = ReceiverState.deserialize(openState(deviceStorageKey(w.shipper.keys), `receiver/${ORDER}`, stored));
    after.install(openKeyPackage(pkg.bytes, w.shipper.keys, w.roster));
    expect(code(() => openEnvelope(msgs[0]!, { roster: w.roster, receiverState: after, expectedOrderId: ORDER }))).toBe('REPLAY');
    expect(code(() => openEnvelope(msgs[2]!, { roster: w.roster, receiverState: after, expectedOrderId: ORDER }))).toBe('REPLAY');
    expect(text(openEnvelope(msgs[1]!, { roster: w.roster, receiverState: after, expectedOrderId: ORDER }).body)).toBe('m1');
    expect(text(openEnvelope(msgs[3]!, { roster: w.roster, receiverState: after, expectedOrderId: ORDER }).body)).toBe('m3');
    // without the persisted state the same envelope would open again: that is what the client must avoid
    const amnesiac = new ReceiverState();
    amnesiac.install(openKeyPackage(pkg.bytes, w.shipper.keys, w.roster));
    expect(text(openEnvelope(msgs[0]!, { roster: w.roster, receiverState: amnesiac, expectedOrderId: ORDER }).body)).toBe('m0');
  });

  it('the chain tracker’s high-water marks survive a restart: the next message links, a skipped one is a gap', () => {
    const { msgs } = world();
    const t = new ChainTracker();
    for (const m of msgs.slice(0, 2)) expect(t.observe(decodeEnvelopeHeader(m), envelopeHash(m))).toEqual([]);
    const restored = ChainTracker.deserialize(t.serialize());
    expect(restored.observe(decodeEnvelopeHeader(msgs[1]!), envelopeHash(msgs[1]!)).map((x) => x.type)).toEqual(['replay']);
    expect(restored.observe(decodeEnvelopeHeader(msgs[3]!), envelopeHash(msgs[3]!)).map((x) => x.type)).toEqual(['gap']);
    expect(restored.observe(decodeEnvelopeHeader(msgs[2]!), envelopeHash(msgs[2]!)).map((x) => x.type)).toEqual(['reorder']);
    // a substitute for index 2 that does not link to the persisted index 1 is a chain break
    const fresh = ChainTracker.deserialize(t.serialize());
    const h = decodeEnvelopeHeader(msgs[2]!);
    expect(fresh.observe({ ...h, prevHash: new Uint8Array(32).fill(1) }, new Uint8Array(32).fill(2)).map((x) => x.type)).toEqual(['chain_break']);
  });

  it('sealed state opens only under the same key and label, and never holds the chain key in clear', () => {
    const { w, pkg } = world();
    const st = new ReceiverState();
    const k = openKeyPackage(pkg.bytes, w.shipper.keys, w.roster);
    st.install(k);
    const key = deviceStorageKey(w.shipper.keys);
    const sealed = sealState(key, 'receiver/a', st.serialize());
    expect(Buffer.from(sealed).includes(Buffer.from(k.chainKey))).toBe(false);
    expect(Buffer.from(st.serialize()).includes(Buffer.from(k.chainKey))).toBe(true); // the plain form is secret
    expect(code(() => openState(key, 'receiver/b', sealed))).toBe('WRONG_CONTEXT');
    expect(code(() => openState(deviceStorageKey(w.courier.keys), 'receiver/a', sealed))).toBe('DECRYPT_FAILED');
    const t = sealed.slice();
    t[t.length - 1] = t[t.length - 1]! ^ 1;
    expect(code(() => openState(key, 'receiver/a', t))).toBe('DECRYPT_FAILED');
  });

  it('a forgotten (retired) chain re-installed from its key package resumes where it stopped instead of rewinding', () => {
    const { w, pkg, msgs } = world();
    const st = new ReceiverState();
    st.install(openKeyPackage(pkg.bytes, w.shipper.keys, w.roster));
    openEnvelope(msgs[0]!, { roster: w.roster, receiverState: st, expectedOrderId: ORDER });
    openEnvelope(msgs[1]!, { roster: w.roster, receiverState: st, expectedOrderId: ORDER });
    st.forgetBefore(ORDER, 2);
    expect(st.chainCount).toBe(0);
    const restored = ReceiverState.deserialize(st.serialize());
    restored.install(openKeyPackage(pkg.bytes, w.shipper.keys, w.roster));
    expect(code(() => openEnvelope(msgs[1]!, { roster: w.roster, receiverState: restored, expectedOrderId: ORDER }))).toBe('REPLAY');
    expect(text(openEnvelope(msgs[2]!, { roster: w.roster, receiverState: restored, expectedOrderId: ORDER }).body)).toBe('m2');
  });
});

describe('bounded receiver state', () => {
  function key(orderId: string, epoch: number, i: number): ReceivedSenderKey {
    const id = new Uint8Array(16);
    new DataView(id.buffer).setUint32(0, i);
    return { orderId, epoch, scope: 'shared', senderDeviceId: 'd_sender', senderKeyId: id, startIndex: 0, chainKey: new Uint8Array(32).fill(i % 251) };
  }

  it(`keeps at most MAX_CHAINS (${MAX_CHAINS}) chains, retiring superseded epochs first, and serializes within its bounds`, () => {
    const st = new ReceiverState();
    const filler = (i: number) => key(`o-${i % 7}-x`, 1, i);
    for (let i = 2; i <= MAX_CHAINS; i++) st.install(filler(i));
    const old = key('o-1', 1, 0);
    st.install(old); // the most recently installed, but of an epoch about to be superseded
    st.install(key('o-1', 2, 1)); // one over the cap: the superseded epoch goes, not the least recently used
    expect(st.chain(filler(2))).toBeDefined();
    for (let i = MAX_CHAINS + 1; i < MAX_CHAINS + 10; i++) st.install(filler(i)); // then least recently used first
    expect(st.chain(filler(2))).toBeUndefined();
    expect(st.chainCount).toBe(MAX_CHAINS);
    expect(st.chain(old)).toBeUndefined(); // epoch 1 of o-1 was superseded by epoch 2: retired first
    expect(st.chain(key('o-1', 2, 1))).toBeDefined();
    const bytes = st.serialize();
    expect(bytes.length).toBeLessThan(512 * 1024);
    expect(ReceiverState.deserialize(bytes).chainCount).toBe(MAX_CHAINS);
    expect(st.retiredCount).toBe(10);
  });

  it('refuses a serialized state with more than MAX_CHAINS chains or a skipped key outside its chain as MALFORMED', () => {
    const st = new ReceiverState();
    st.install(key('o', 1, 1));
    const b = st.serialize();
    const countAt = 4 + 'sealrelay/receiver-state/v2'.length;
    const t = b.slice();
    new DataView(t.buffer).setUint32(countAt, MAX_CHAINS + 1);
    expect(code(() => ReceiverState.deserialize(t))).toBe('MALFORMED');
    // a skipped key at index 0 of a chain whose next index is 0
    const extra = new Uint8Array(b.length + 48);
    extra.set(b.subarray(0, b.length - 8));
    const v = new DataView(extra.buffer);
    let at = b.length - 8;
    v.setUint32(at, 1); at += 4;
    v.setUint32(at, 0); at += 4; // chain 0
    v.setUint32(at, 0); at += 4; // index 0
    v.setUint32(at, 32); at += 4 + 32;
    v.setUint32(at, 0);
    expect(code(() => ReceiverState.deserialize(extra.subarray(0, at + 4)))).toBe('MALFORMED');
  });
});
