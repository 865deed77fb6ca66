import { code } from './fixtures.ts';
import { describe, expect, it } from 'vitest';
import { cryptoReady, AuthorityKey, DeviceKeys, issueCertificate, decodeCertificate, verifyCertificate, CryptoError } from '../../crypto/index.ts';
import { DAY, NOW } from './fixtures.ts';

await cryptoReady();

const authority = AuthorityKey.generate();
const device = DeviceKeys.generate();
const fields = { tenant: 'acme', userId: 'alice', signPublicKey: device.signPublicKey, boxPublicKey: device.boxPublicKey, notBefore: NOW, notAfter: NOW + 30 * DAY };

describe('device certificates', () => {
  it('round-trip: issued, decoded and verified with every field intact', () => {
    const bytes = issueCertificate(authority, fields);
    const c = verifyCertificate(bytes, [authority.publicKey], NOW + 1);
    expect(c.deviceId).toBe(device.deviceId);
    expect(c.tenant).toBe('acme');
    expect(c.userId).toBe('alice');
    expect(c.boxPublicKey).toEqual(device.boxPublicKey);
    expect(c.authorityPublicKey).toEqual(authority.publicKey);
    expect(decodeCertificate(bytes).notAfter).toBe(NOW + 30 * DAY);
  });

  it('verify under any of several trusted authorities (rotation)', () => {
    const old = AuthorityKey.generate();
    const bytes = issueCertificate(old, fields);
    expect(verifyCertificate(bytes, [authority.publicKey, old.publicKey], NOW).deviceId).toBe(device.deviceId);
  });

  it('from an untrusted authority are rejected with UNTRUSTED_AUTHORITY', () => {
    const rogue = AuthorityKey.generate();
    expect(code(() => verifyCertificate(issueCertificate(rogue, fields), [authority.publicKey], NOW))).toBe('UNTRUSTED_AUTHORITY');
  });

  it('that expired are rejected with CERT_EXPIRED, and not-yet-valid ones with CERT_NOT_YET_VALID', () => {
    const bytes = issueCertificate(authority, fields);
    expect(code(() => verifyCertificate(bytes, [authority.publicKey], NOW + 30 * DAY))).toBe('CERT_EXPIRED');
    expect(code(() => verifyCertificate(bytes, [authority.publicKey], NOW - 1))).toBe('CERT_NOT_YET_VALID');
  });

  it('with any byte flipped fail as BAD_SIGNATURE, MALFORMED or another typed error, never verify', () => {
    const bytes = issueCertificate(authority, fields);
    for (let i = 0; i < bytes.length; i++) {
      const t = bytes.slice();
      t[i]! ^= 0x01;
      expect(() => verifyCertificate(t, [authority.publicKey], NOW + 1), `byte ${i}`).toThrow(CryptoError);
    }
  });

  it('whose signing key was swapped fail with BAD_SIGNATURE', () => {
    const bytes = issueCertificate(authority, fields);
    const other = DeviceKeys.generate();
    const at = Buffer.from(bytes).indexOf(Buffer.from(device.signPublicKey));
    const t = bytes.slice();
    t.set(other.signPublicKey, at);
    expect(code(() => verifyCertificate(t, [authority.publicKey], NOW + 1))).toBe('BAD_SIGNATURE');
  });

  it('cannot be issued with a device id not derived from the key', () => {
    expect(code(() => issueCertificate(authority, { ...fields, deviceId: 'd_forged' }))).toBe('DEVICE_ID_MISMATCH');
  });
});
