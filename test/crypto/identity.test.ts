import { describe, expect, it } from 'vitest';
import {
  cryptoReady, AuthorityKey, DeviceKeys, deviceIdFromSigningKey, safetyNumber, deviceFingerprint,
  signChallenge, verifyChallenge, CryptoError,
} from '../../crypto/index.ts';

await cryptoReady();

describe('device identity', () => {
  it('derives a self-certifying device id of the documented shape from the signing key', () => {
    const d = DeviceKeys.generate();
    expect(d.deviceId).toMatch(/^d_[a-z2-7]{26}$/);
    expect(deviceIdFromSigningKey(d.signPublicKey)).toBe(d.deviceId);
    expect(deviceIdFromSigningKey(DeviceKeys.generate().signPublicKey)).not.toBe(d.deviceId);
  });

  it('keeps the box key separate from the signing key', () => {
    const d = DeviceKeys.generate();
    expect(Buffer.from(d.boxPublicKey).equals(Buffer.from(d.signPublicKey))).toBe(false);
    const again = DeviceKeys.fromSeeds(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
    const other = DeviceKeys.fromSeeds(new Uint8Array(32).fill(1), new Uint8Array(32).fill(3));
    expect(other.signPublicKey).toEqual(again.signPublicKey);
    expect(other.boxPublicKey).not.toEqual(again.boxPublicKey);
  });

  it('round-trips device keys and authority keys through serialize/deserialize', () => {
    const d = DeviceKeys.generate();
    const d2 = DeviceKeys.deserialize(d.serialize());
    expect(d2.deviceId).toBe(d.deviceId);
    expect(d2.boxPublicKey).toEqual(d.boxPublicKey);
    const a = AuthorityKey.generate();
    const a2 = AuthorityKey.deserialize(a.serialize());
    expect(a2.publicKey).toEqual(a.publicKey);
    expect(a2.sign(new Uint8Array([1]))).toEqual(a.sign(new Uint8Array([1])));
  });

  it('rejects a device key blob that is cut short with MALFORMED', () => {
    const blob = DeviceKeys.generate().serialize();
    expect(() => DeviceKeys.deserialize(blob.subarray(0, blob.length - 1))).toThrow(CryptoError);
  });
});

describe('safety numbers', () => {
  it('are 60 digits in 12 groups and the same whichever side computes them', () => {
    const a = DeviceKeys.generate();
    const b = DeviceKeys.generate();
    const n = safetyNumber(a.signPublicKey, b.signPublicKey);
    expect(n).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(safetyNumber(b.signPublicKey, a.signPublicKey)).toBe(n);
    expect(n.replace(/ /g, '')).toContain(deviceFingerprint(a.signPublicKey));
  });

  it('change when one key is substituted', () => {
    const a = DeviceKeys.generate();
    const b = DeviceKeys.generate();
    const mallory = DeviceKeys.generate();
    expect(safetyNumber(a.signPublicKey, mallory.signPublicKey)).not.toBe(safetyNumber(a.signPublicKey, b.signPublicKey));
  });
});

describe('challenge-response', () => {
  it('verifies a device signature over the relay challenge', () => {
    const d = DeviceKeys.generate();
    const challenge = new Uint8Array(32).fill(7);
    const sig = signChallenge(d, challenge);
    expect(verifyChallenge(sig, challenge, d.signPublicKey)).toBe(true);
  });

  it('rejects another challenge, another key, a tampered signature and garbage without throwing', () => {
    const d = DeviceKeys.generate();
    const challenge = new Uint8Array(32).fill(7);
    const sig = signChallenge(d, challenge);
    expect(verifyChallenge(sig, new Uint8Array(32).fill(8), d.signPublicKey)).toBe(false);
    expect(verifyChallenge(sig, challenge, DeviceKeys.generate().signPublicKey)).toBe(false);
    const bad = sig.slice();
    bad[5]! ^= 1;
    expect(verifyChallenge(bad, challenge, d.signPublicKey)).toBe(false);
    expect(verifyChallenge(new Uint8Array(3), challenge, d.signPublicKey)).toBe(false);
    expect(verifyChallenge(sig, challenge, new Uint8Array(5))).toBe(false);
  });

  it('does not accept a plain signature over the raw challenge (domain separation)', () => {
    const d = DeviceKeys.generate();
    const challenge = new Uint8Array(32).fill(7);
    const raw = d.sign(challenge);
    expect(verifyChallenge(raw, challenge, d.signPublicKey)).toBe(false);
  });
});
