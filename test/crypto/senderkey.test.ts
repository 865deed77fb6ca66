import { code } from './fixtures.ts';
import { describe, expect, it } from 'vitest';
import {
  cryptoReady, OutboundSenderKey, ReceiverState, createKeyPackages, openKeyPackage, decodeKeyPackageHeader,
  needsRotation, ratchetStep, MAX_SKIP, MAX_SKIPPED_KEYS, DeviceKeys,
} from '../../crypto/index.ts';
import { encodeKeyPackage } from '../../crypto/senderkey.ts';
import { wasmSodium } from '../../crypto/backend-wasm.ts';
import { DAY, NOW, ORDER, distribute, makeWorld, receiverFor } from './fixtures.ts';

await cryptoReady();
// libsodium.js's own crypto_kdf / BLAKE2b as an independent reference, whichever backend is in use.
const libsodiumJs = await wasmSodium();

describe('the sender-key ratchet', () => {
  it('derives distinct message and chain keys and never repeats', () => {
    let ck: Uint8Array = new Uint8Array(32).fill(1);
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const s = ratchetStep(ck);
      seen.add(Buffer.from(s.messageKey).toString('hex'));
      seen.add(Buffer.from(s.nextChainKey).toString('hex'));
      ck = s.nextChainKey;
    }
    expect(seen.size).toBe(100);
  });

  it('is exactly crypto_kdf_derive_from_key with subkey ids 1 (message) and 2 (chain) and context srchain1', () => {
    const ck = new Uint8Array(32).fill(9);
    const s = libsodiumJs;
    const step = ratchetStep(ck);
    expect(step.messageKey).toEqual(s.crypto_kdf_derive_from_key(32, 1, 'srchain1', ck));
    expect(step.nextChainKey).toEqual(s.crypto_kdf_derive_from_key(32, 2, 'srchain1', ck));
  });

  it('wipes the old chain key when it advances', () => {
    const ck = new Uint8Array(32).fill(5);
    const sk = OutboundSenderKey.fromSecret({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: 'd_x', senderKeyId: new Uint8Array(16), chainKey: ck });
    const before = sk.snapshot().chainKey;
    sk.advance();
    const internal = (sk as unknown as { chainKey: Uint8Array }).chainKey;
    expect(internal).not.toEqual(before);
    expect(sk.index).toBe(1);
  });
});

describe('key packages', () => {
  it('reach every reader of the scope except the sender, and open to the same chain', () => {
    const w = makeWorld();
    const { sk, packages } = distribute(w.shipper, w.roster, 'commercial');
    expect(packages.map((p) => p.recipientDeviceId).sort()).toEqual([w.dispatcher.keys.deviceId, w.auditor.keys.deviceId].sort());
    const got = openKeyPackage(packages[0]!.bytes, packages[0]!.recipientDeviceId === w.dispatcher.keys.deviceId ? w.dispatcher.keys : w.auditor.keys, w.roster);
    expect(got.chainKey).toEqual(sk.snapshot().chainKey);
    expect(got.senderKeyId).toEqual(sk.senderKeyId);
    expect(got.startIndex).toBe(0);
  });

  it('expose a routing header that is readable without keys', () => {
    const w = makeWorld();
    const { sk, packages } = distribute(w.courier, w.roster);
    const h = decodeKeyPackageHeader(packages[0]!.bytes);
    expect(h).toMatchObject({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: w.courier.keys.deviceId, recipientDeviceId: packages[0]!.recipientDeviceId });
    expect(h.senderKeyId).toEqual(sk.senderKeyId);
  });

  it('addressed to another device are refused with WRONG_RECIPIENT', () => {
    const w = makeWorld();
    const { packages } = distribute(w.courier, w.roster);
    const forShipper = packages.find((p) => p.recipientDeviceId === w.shipper.keys.deviceId)!;
    expect(code(() => openKeyPackage(forShipper.bytes, w.consignee.keys, w.roster))).toBe('WRONG_RECIPIENT');
  });

  it('with a tampered signature, sealed part or header are refused', () => {
    const w = makeWorld();
    const { packages } = distribute(w.courier, w.roster);
    const p = packages.find((x) => x.recipientDeviceId === w.shipper.keys.deviceId)!.bytes;
    const sig = p.slice();
    sig[sig.length - 1]! ^= 1;
    expect(code(() => openKeyPackage(sig, w.shipper.keys, w.roster))).toBe('BAD_SIGNATURE');
    const sealed = p.slice();
    sealed[sealed.length - 80]! ^= 1;
    expect(code(() => openKeyPackage(sealed, w.shipper.keys, w.roster))).toBe('BAD_SIGNATURE');
  });

  it('signed by a non-member, or by a member posing as another, are refused', () => {
    const w = makeWorld();
    const outsider = DeviceKeys.generate();
    const sk = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: outsider.deviceId, now: NOW });
    // Outsider cannot even produce packages against the roster...
    expect(code(() => createKeyPackages(sk, outsider, w.roster))).toBe('NOT_A_MEMBER');
    // ...and the courier signing a package that claims to come from the dispatcher fails verification.
    const claim = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: w.dispatcher.keys.deviceId, now: NOW });
    const forged = createKeyPackagesAs(claim, w.courier.keys, w.dispatcher.keys.deviceId, w);
    expect(code(() => openKeyPackage(forged, w.shipper.keys, w.roster))).toBe('BAD_SIGNATURE');
  });

  it('for a scope the sender may not publish into are refused, and are not created', () => {
    const w = makeWorld();
    const sk = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'commercial', senderDeviceId: w.courier.keys.deviceId, now: NOW });
    expect(code(() => createKeyPackages(sk, w.courier.keys, w.roster))).toBe('POLICY_DENIED');
    const auditorKey = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: w.auditor.keys.deviceId, now: NOW });
    expect(code(() => createKeyPackages(auditorKey, w.auditor.keys, w.roster))).toBe('POLICY_DENIED');
  });
});

// A courier that signs with its own key while claiming another sender id (what a malicious member would try).
function createKeyPackagesAs(sk: OutboundSenderKey, signer: DeviceKeys, claimed: string, w: ReturnType<typeof makeWorld>): Uint8Array {
  return encodeKeyPackage(
    { orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: claimed, recipientDeviceId: w.shipper.keys.deviceId, senderKeyId: sk.senderKeyId },
    new Uint8Array(100),
    signer,
  );
}

describe('the receiver state', () => {
  function chain() {
    const w = makeWorld();
    const { sk, packages } = distribute(w.courier, w.roster);
    const st = receiverFor(w.shipper, w.roster, packages);
    const keys: Uint8Array[] = [];
    for (let i = 0; i < 10; i++) keys.push(sk.advance().messageKey);
    return { sk, st, keys };
  }

  it('derives the sender’s message keys in order, out of order and after a gap', () => {
    const { sk, st, keys } = chain();
    for (const i of [0, 1, 5, 3, 2, 9, 4]) {
      const l = st.lease(sk.senderKeyId, i);
      expect(l.key).toEqual(keys[i]);
      l.commit();
    }
  });

  it('rejects a used index as REPLAY', () => {
    const { sk, st } = chain();
    st.lease(sk.senderKeyId, 0).commit();
    st.lease(sk.senderKeyId, 3).commit();
    expect(code(() => st.lease(sk.senderKeyId, 0))).toBe('REPLAY');
    expect(code(() => st.lease(sk.senderKeyId, 3))).toBe('REPLAY');
  });

  it('does not consume an index whose lease was released (a failed decrypt cannot burn a message)', () => {
    const { sk, st, keys } = chain();
    st.lease(sk.senderKeyId, 2).release();
    const l = st.lease(sk.senderKeyId, 2);
    expect(l.key).toEqual(keys[2]);
  });

  it(`refuses a jump of more than MAX_SKIP (${MAX_SKIP}) with TOO_FAR_AHEAD`, () => {
    const { sk, st } = chain();
    expect(code(() => st.lease(sk.senderKeyId, MAX_SKIP + 1))).toBe('TOO_FAR_AHEAD');
    expect(() => st.lease(sk.senderKeyId, MAX_SKIP).release()).not.toThrow();
  });

  it(`keeps at most MAX_SKIPPED_KEYS (${MAX_SKIPPED_KEYS}) skipped keys and forgets the oldest first`, () => {
    const { sk, st } = chain();
    let at = 0;
    while (at < MAX_SKIPPED_KEYS + 1500) {
      at += MAX_SKIP;
      st.lease(sk.senderKeyId, at).commit();
    }
    expect(st.skippedCount).toBeLessThanOrEqual(MAX_SKIPPED_KEYS);
    expect(code(() => st.lease(sk.senderKeyId, 0))).toBe('REPLAY');
    expect(() => st.lease(sk.senderKeyId, at - 1).release()).not.toThrow();
  });

  it('unknown sender keys are UNKNOWN_SENDER_KEY', () => {
    expect(code(() => new ReceiverState().lease(new Uint8Array(16), 0))).toBe('UNKNOWN_SENDER_KEY');
  });

  it('survives serialize/deserialize with its position and skipped keys', () => {
    const { sk, st, keys } = chain();
    st.lease(sk.senderKeyId, 4).commit();
    const restored = ReceiverState.deserialize(st.serialize());
    expect(restored.lease(sk.senderKeyId, 2).key).toEqual(keys[2]);
    expect(code(() => restored.lease(sk.senderKeyId, 4))).toBe('REPLAY');
    expect(restored.lease(sk.senderKeyId, 7).key).toEqual(keys[7]);
  });

  it('does not rewind a chain when the same key package is installed again', () => {
    const w = makeWorld();
    const { sk, packages } = distribute(w.courier, w.roster);
    const st = receiverFor(w.shipper, w.roster, packages);
    st.lease(sk.senderKeyId, 0).commit();
    for (const p of packages) if (p.recipientDeviceId === w.shipper.keys.deviceId) st.install(openKeyPackage(p.bytes, w.shipper.keys, w.roster));
    expect(code(() => st.lease(sk.senderKeyId, 0))).toBe('REPLAY');
  });
});

describe('sender-key rotation', () => {
  it('is due after 100 messages, after 24 hours, or when the epoch changed', () => {
    const sk = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: 'd_x', now: NOW });
    expect(needsRotation(sk, NOW)).toBe(false);
    expect(needsRotation(sk, NOW + DAY)).toBe(true);
    expect(needsRotation(sk, NOW, { epoch: 2 })).toBe(true);
    for (let i = 0; i < 99; i++) sk.advance();
    expect(needsRotation(sk, NOW)).toBe(false);
    sk.advance();
    expect(needsRotation(sk, NOW)).toBe(true);
    expect(needsRotation(sk, NOW, { rule: { maxMessages: 1000, maxAgeMs: DAY } })).toBe(false);
  });

  it('survives serialize/deserialize of the outbound key', () => {
    const sk = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: 'd_x', now: NOW });
    sk.advance();
    const copy = OutboundSenderKey.deserialize(sk.serialize());
    expect(copy.index).toBe(1);
    expect(copy.advance().messageKey).toEqual(sk.advance().messageKey);
  });
});
