/**
 * Known-answer test vectors, computed from fixed seeds, chain keys and nonces.
 * gen-vectors.ts writes them to test-vectors.json; test/crypto/vectors.test.ts
 * recomputes and compares, so any change to an encoding or derivation shows.
 * Another implementation reproduces every output from `inputs` alone.
 */
import { AuthorityKey, DeviceKeys, deviceFingerprint, safetyNumber, signChallenge } from './identity.ts';
import { issueCertificate } from './certificate.ts';
import { signRoster, rosterHash, verifyRoster } from './roster.ts';
import { ratchetStep, KDF_CONTEXT, KDF_SUBKEY_CHAIN, KDF_SUBKEY_MESSAGE } from './ratchet.ts';
import { OutboundSenderKey, encodeKeyPackage } from './senderkey.ts';
import { sealEnvelope, envelopeHash } from './envelope.ts';
import { toHex } from './encoding.ts';
import { DEFAULT_POLICY, policyEncoding, policyHash } from './policy.ts';

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);
const seq = (n: number, start: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

export interface TestVectors {
  description: string;
  inputs: Record<string, string | number>;
  kdf: { context: string; messageSubkeyId: number; chainSubkeyId: number; steps: { index: number; chainKey: string; messageKey: string }[] };
  identity: { authorityPublicKey: string; signPublicKey: string; boxPublicKey: string; deviceId: string; fingerprint: string; safetyNumber: string; challengeSignature: string };
  certificate: string;
  /** The default policy's canonical encoding (policyEncoding) and its BLAKE2b-256, carried in the roster. */
  policy: { id: string; encoding: string; hash: string };
  roster: { bytes: string; hash: string };
  keyPackage: string;
  envelopes: { bytes: string; hash: string; body: string; kind: string }[];
}

export function computeVectors(): TestVectors {
  const inputs = {
    authoritySeed: toHex(fill(32, 0xa1)),
    deviceSignSeed: toHex(seq(32, 0x00)),
    deviceBoxSeed: toHex(seq(32, 0x20)),
    peerSignSeed: toHex(seq(32, 0x40)),
    peerBoxSeed: toHex(seq(32, 0x60)),
    tenant: 'acme-logistics',
    userId: 'courier-17',
    peerUserId: 'shipper-3',
    notBefore: 1_762_848_000_000,
    notAfter: 1_770_624_000_000,
    orderId: 'order-4711',
    issuedAt: 1_762_851_600_000,
    chainKey: toHex(fill(32, 0x42)),
    senderKeyId: toHex(seq(16, 0xc0)),
    sealedPlaceholder: toHex(fill(80, 0x5a)),
    nonce0: toHex(fill(24, 0x01)),
    nonce1: toHex(fill(24, 0x02)),
    challenge: toHex(fill(32, 0x33)),
  };
  const h = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));

  const authority = AuthorityKey.fromSeed(h(inputs.authoritySeed));
  const device = DeviceKeys.fromSeeds(h(inputs.deviceSignSeed), h(inputs.deviceBoxSeed));
  const peer = DeviceKeys.fromSeeds(h(inputs.peerSignSeed), h(inputs.peerBoxSeed));

  const steps: TestVectors['kdf']['steps'] = [];
  let ck = h(inputs.chainKey);
  for (let i = 0; i < 4; i++) {
    const s = ratchetStep(ck);
    steps.push({ index: i, chainKey: toHex(ck), messageKey: toHex(s.messageKey) });
    ck = s.nextChainKey;
  }

  const window = { notBefore: inputs.notBefore, notAfter: inputs.notAfter };
  const cert = issueCertificate(authority, { tenant: inputs.tenant, userId: inputs.userId, signPublicKey: device.signPublicKey, boxPublicKey: device.boxPublicKey, ...window });
  const peerCert = issueCertificate(authority, { tenant: inputs.tenant, userId: inputs.peerUserId, signPublicKey: peer.signPublicKey, boxPublicKey: peer.boxPublicKey, ...window });
  const rosterBytes = signRoster(authority, {
    orderId: inputs.orderId,
    epoch: 1,
    members: [
      { deviceId: device.deviceId, userId: inputs.userId, role: 'courier', certificate: cert },
      { deviceId: peer.deviceId, userId: inputs.peerUserId, role: 'shipper', certificate: peerCert },
    ],
    policyId: 'sealrelay/default@1',
    issuedAt: inputs.issuedAt,
  });
  const roster = verifyRoster(rosterBytes, { trustedAuthorities: [authority.publicKey], now: inputs.issuedAt });

  const keyPackage = encodeKeyPackage(
    { orderId: inputs.orderId, epoch: 1, scope: 'shared', senderDeviceId: device.deviceId, recipientDeviceId: peer.deviceId, senderKeyId: h(inputs.senderKeyId) },
    h(inputs.sealedPlaceholder),
    device,
  );

  const sk = OutboundSenderKey.fromSecret({ orderId: inputs.orderId, epoch: 1, scope: 'shared', senderDeviceId: device.deviceId, senderKeyId: h(inputs.senderKeyId), chainKey: h(inputs.chainKey) });
  const msgs = [
    { kind: 'status' as const, body: 'picked up', nonce: inputs.nonce0 },
    { kind: 'location' as const, body: '31.2304,121.4737', nonce: inputs.nonce1 },
  ];
  const envelopes = msgs.map((m) => {
    const bytes = sealEnvelope({ senderKey: sk, sender: device, kind: m.kind, body: new TextEncoder().encode(m.body), roster, nonce: h(m.nonce) });
    return { bytes: toHex(bytes), hash: toHex(envelopeHash(bytes)), body: m.body, kind: m.kind };
  });

  return {
    description:
      'sealrelay crypto known-answer vectors. Encodings and derivations: crypto/README.md. The key package uses a fixed placeholder instead of a crypto_box_seal output (which is randomized); everything else is deterministic.',
    inputs,
    kdf: { context: KDF_CONTEXT, messageSubkeyId: KDF_SUBKEY_MESSAGE, chainSubkeyId: KDF_SUBKEY_CHAIN, steps },
    identity: {
      authorityPublicKey: toHex(authority.publicKey),
      signPublicKey: toHex(device.signPublicKey),
      boxPublicKey: toHex(device.boxPublicKey),
      deviceId: device.deviceId,
      fingerprint: deviceFingerprint(device.signPublicKey),
      safetyNumber: safetyNumber(device.signPublicKey, peer.signPublicKey),
      challengeSignature: toHex(signChallenge(device, h(inputs.challenge))),
    },
    certificate: toHex(cert),
    policy: { id: DEFAULT_POLICY.id, encoding: toHex(policyEncoding(DEFAULT_POLICY)), hash: toHex(policyHash(DEFAULT_POLICY)) },
    roster: { bytes: toHex(rosterBytes), hash: toHex(rosterHash(rosterBytes)) },
    keyPackage: toHex(keyPackage),
    envelopes,
  };
}
