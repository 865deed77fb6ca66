/**
 * Device certificates: the tenant authority binds tenant, user, device id, both
 * public keys and a validity window. Encoding (crypto/README.md):
 *
 *   str('sealrelay/cert/v1') u32 version str tenant str userId str deviceId
 *   bytes(32 signPublicKey) bytes(32 boxPublicKey) u64 notBefore u64 notAfter
 *   bytes(32 authorityPublicKey) | bytes(64 signature)
 *
 * The signature covers every byte before it.
 */
import { CryptoError } from './errors.ts';
import { Reader, Writer } from './encoding.ts';
import { type AuthorityKey, containsKey, deviceIdFromSigningKey, verifySig } from './identity.ts';

const TAG_CERT = 'sealrelay/cert/v1';
export const CERTIFICATE_VERSION = 1;
/** Largest certificate accepted (protocol MAX_CERTIFICATE_BYTES). */
export const MAX_CERTIFICATE_BYTES = 2048;

export interface CertificateFields {
  tenant: string;
  userId: string;
  /** Optional: derived from signPublicKey; if given it must match. */
  deviceId?: string;
  signPublicKey: Uint8Array;
  boxPublicKey: Uint8Array;
  /** Validity window in ms since the epoch, notBefore inclusive, notAfter exclusive. */
  notBefore: number;
  notAfter: number;
}

export interface Certificate {
  readonly version: number;
  readonly tenant: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly signPublicKey: Uint8Array;
  readonly boxPublicKey: Uint8Array;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly authorityPublicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** A certificate whose signature, authority, window and device id were checked. */
export interface VerifiedCertificate extends Certificate {
  readonly bytes: Uint8Array;
}

/**
 * Issue a certificate for a device.
 * @example const cert = issueCertificate(authority, { tenant: 't1', userId: 'u1', signPublicKey, boxPublicKey, notBefore: now, notAfter: now + 90 * DAY });
 */
export function issueCertificate(authority: AuthorityKey, fields: CertificateFields): Uint8Array {
  const derived = deviceIdFromSigningKey(fields.signPublicKey);
  if (fields.deviceId !== undefined && fields.deviceId !== derived) {
    throw new CryptoError('DEVICE_ID_MISMATCH', `deviceId ${fields.deviceId} is not derived from the signing key`);
  }
  if (fields.boxPublicKey.length !== 32) throw new CryptoError('INVALID_ARGUMENT', 'box public key must be 32 bytes');
  if (!(fields.notBefore < fields.notAfter)) throw new CryptoError('INVALID_ARGUMENT', 'notBefore must be before notAfter');
  const w = new Writer(TAG_CERT, 400)
    .u32(CERTIFICATE_VERSION)
    .id(fields.tenant, 'tenant')
    .id(fields.userId, 'userId')
    .id(derived, 'deviceId')
    .bytes(fields.signPublicKey)
    .bytes(fields.boxPublicKey)
    .u64(fields.notBefore)
    .u64(fields.notAfter)
    .bytes(authority.publicKey);
  const tbs = w.finish();
  return w.bytes(authority.sign(tbs)).finish();
}

interface DecodedCertificate {
  cert: Certificate;
  tbs: Uint8Array;
}

function decode(bytes: Uint8Array): DecodedCertificate {
  const r = new Reader(bytes, 'certificate');
  if (bytes.length > MAX_CERTIFICATE_BYTES) r.fail('too large');
  r.tag(TAG_CERT);
  const version = r.u32();
  if (version !== CERTIFICATE_VERSION) r.fail(`unsupported version ${version}`);
  const tenant = r.id();
  const userId = r.id();
  const deviceId = r.id();
  const signPublicKey = r.fixed(32);
  const boxPublicKey = r.fixed(32);
  const notBefore = r.u64();
  const notAfter = r.u64();
  const authorityPublicKey = r.fixed(32);
  const tbs = r.sliceFrom(0);
  const signature = r.fixed(64);
  r.end();
  return {
    cert: { version, tenant, userId, deviceId, signPublicKey, boxPublicKey, notBefore, notAfter, authorityPublicKey, signature },
    tbs,
  };
}

/** Parse a certificate without verifying it (no sodium needed). Throws MALFORMED. */
export function decodeCertificate(bytes: Uint8Array): Certificate {
  return decode(bytes).cert;
}

/**
 * Verify a certificate against the trusted authority keys (several, for
 * rotation) at time `nowMs`.
 * @example const cert = verifyCertificate(bytes, [authorityPk], Date.now());
 */
export function verifyCertificate(bytes: Uint8Array, trustedAuthorities: readonly Uint8Array[], nowMs: number): VerifiedCertificate {
  const { cert, tbs } = decode(bytes);
  if (!containsKey(trustedAuthorities, cert.authorityPublicKey)) {
    throw new CryptoError('UNTRUSTED_AUTHORITY', `certificate of ${cert.deviceId} is signed by an untrusted authority`);
  }
  if (!verifySig(cert.signature, tbs, cert.authorityPublicKey)) {
    throw new CryptoError('BAD_SIGNATURE', `certificate of ${cert.deviceId} has a bad signature`);
  }
  if (deviceIdFromSigningKey(cert.signPublicKey) !== cert.deviceId) {
    throw new CryptoError('DEVICE_ID_MISMATCH', `certificate names ${cert.deviceId}`);
  }
  if (nowMs < cert.notBefore) throw new CryptoError('CERT_NOT_YET_VALID', `certificate of ${cert.deviceId} is valid from ${cert.notBefore}`);
  if (nowMs >= cert.notAfter) throw new CryptoError('CERT_EXPIRED', `certificate of ${cert.deviceId} expired at ${cert.notAfter}`);
  return { ...cert, bytes: bytes.slice() };
}
