import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cryptoReady, DeviceKeys, openEnvelope, verifyRoster, decodeRoster, ReceiverState, decodeKeyPackageHeader, verifyCertificate, verifyChallenge } from '../../crypto/index.ts';
import { wasmSodium } from '../../crypto/backend-wasm.ts';
import { computeVectors, type TestVectors } from '../../crypto/vectors.ts';

await cryptoReady();
// libsodium.js's own crypto_kdf / BLAKE2b as an independent reference, whichever backend is in use.
const libsodiumJs = await wasmSodium();

const committed = JSON.parse(readFileSync(new URL('../../crypto/test-vectors.json', import.meta.url), 'utf8')) as TestVectors;
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

describe('the committed test vectors', () => {
  const fresh = computeVectors();

  it('match the KDF chain computed now', () => {
    expect(fresh.kdf).toEqual(committed.kdf);
  });

  it('follow the documented KDF definition: BLAKE2b keyed by the chain key, salt = subkey id (u64 LE), personal = context', () => {
    const s = libsodiumJs;
    for (const step of committed.kdf.steps) {
      const salt = new Uint8Array(16);
      salt[0] = committed.kdf.messageSubkeyId;
      const personal = new Uint8Array(16);
      personal.set(new TextEncoder().encode(committed.kdf.context));
      const mk = s.crypto_generichash_blake2b_salt_personal(32, hex(step.chainKey), salt, personal);
      expect(Buffer.from(mk).toString('hex')).toBe(step.messageKey);
    }
  });

  it('match the identity derivations (device id, fingerprint, safety number, challenge signature)', () => {
    expect(fresh.identity).toEqual(committed.identity);
  });

  it('match the canonical encodings of the certificate, roster and key package', () => {
    expect(fresh.certificate).toBe(committed.certificate);
    expect(fresh.roster).toEqual(committed.roster);
    expect(fresh.keyPackage).toBe(committed.keyPackage);
  });

  it('match the default policy’s canonical encoding and hash, and the roster carries that hash after the policy id', () => {
    expect(fresh.policy).toEqual(committed.policy);
    // BLAKE2b-256 by libsodium.js directly, not through crypto/
    expect(Buffer.from(libsodiumJs.crypto_generichash(32, hex(committed.policy.encoding), null)).toString('hex')).toBe(committed.policy.hash);
    const r = decodeRoster(hex(committed.roster.bytes));
    expect(r.policyId).toBe(committed.policy.id);
    expect(Buffer.from(r.policyHash).toString('hex')).toBe(committed.policy.hash);
  });

  it('match the envelopes byte for byte', () => {
    expect(fresh.envelopes).toEqual(committed.envelopes);
  });

  it('are self-consistent: the committed objects verify and the envelopes open from the inputs alone', () => {
    const { inputs } = committed;
    const authorityPk = hex(committed.identity.authorityPublicKey);
    const roster = verifyRoster(hex(committed.roster.bytes), { trustedAuthorities: [authorityPk], now: inputs.issuedAt as number });
    expect(verifyCertificate(hex(committed.certificate), [authorityPk], inputs.issuedAt as number).deviceId).toBe(committed.identity.deviceId);
    expect(decodeKeyPackageHeader(hex(committed.keyPackage)).senderDeviceId).toBe(committed.identity.deviceId);
    const device = DeviceKeys.fromSeeds(hex(inputs.deviceSignSeed as string), hex(inputs.deviceBoxSeed as string));
    expect(verifyChallenge(hex(committed.identity.challengeSignature), hex(inputs.challenge as string), device.signPublicKey)).toBe(true);
    const st = new ReceiverState();
    st.install({ orderId: inputs.orderId as string, epoch: 1, scope: 'shared', senderDeviceId: device.deviceId, senderKeyId: hex(inputs.senderKeyId as string), startIndex: 0, chainKey: hex(inputs.chainKey as string) });
    for (const e of committed.envelopes) {
      const got = openEnvelope(hex(e.bytes), { roster, receiverState: st, expectedOrderId: inputs.orderId as string });
      expect(new TextDecoder().decode(got.body)).toBe(e.body);
      expect(got.header.kind).toBe(e.kind);
    }
  });
});
