/**
 * The relay's only door into crypto/: public verification and clear-header
 * parsing, nothing that holds a secret. Keeping every crypto call here means a
 * change of names in crypto/ touches one file, and reviewers can see at a glance
 * what the relay is able to do with keys (verify, never sign or decrypt).
 */
import { createPublicKey, verify as verifyEd25519 } from 'node:crypto';
import {
  CryptoError,
  cryptoReady,
  decodeEnvelopeHeader,
  envelopeRoute,
  decodeKeyPackageHeader,
  decodeRoster,
  mayPublish,
  mayPublishAny,
  mayRead,
  verifyCertificate,
  verifyChallenge,
  verifyRoster,
  type EnvelopeHeader,
  type EnvelopeRoute,
  type KeyPackageHeader,
  type Roster,
  type RosterLink,
  type VerifiedCertificate,
  type VerifiedRoster,
} from '../crypto/public.ts';
import type { ErrorCode } from '../protocol/errors.ts';

export type { VerifiedCertificate, VerifiedRoster, EnvelopeHeader, EnvelopeRoute, KeyPackageHeader, RosterLink, Roster };
export { cryptoReady, verifyCertificate, verifyChallenge, verifyRoster, decodeRoster, decodeEnvelopeHeader, envelopeRoute, decodeKeyPackageHeader, mayPublish, mayPublishAny, mayRead };

/** Ed25519 SubjectPublicKeyInfo DER prefix (RFC 8410): prepended to a raw 32-byte key for node:crypto. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * Does the key package's outer signature verify under `senderSignPublicKey`?
 *
 * crypto/public.ts exports the header decoder but no signature check for key
 * packages (clients check it when they open one, with their secret keys at hand),
 * so the relay checks it here with node:crypto's Ed25519. Layout
 * (crypto/senderkey.ts, crypto/encoding.ts): signed bytes ‖ u32 64 ‖ 64-byte
 * signature over the signed bytes (which begin with their own domain tag). Call
 * decodeKeyPackageHeader first: it validates the structure, so the split below is
 * at the real boundary.
 */
export function keyPackageSignatureValid(bytes: Uint8Array, senderSignPublicKey: Uint8Array): boolean {
  const end = bytes.byteLength - 64;
  if (end <= 4 || senderSignPublicKey.byteLength !== 32) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(end - 4) !== 64) return false;
  try {
    const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, senderSignPublicKey]), format: 'der', type: 'spki' });
    return verifyEd25519(null, bytes.subarray(0, end - 4), key, bytes.subarray(end));
  } catch {
    return false;
  }
}

/** Is this a crypto-layer error (bad bytes, bad signature, untrusted...)? */
export function isCryptoError(err: unknown): err is CryptoError {
  return err instanceof CryptoError;
}

/** Map a certificate verification failure to the protocol error a client meets. */
export function certificateErrorCode(err: unknown): ErrorCode {
  if (!(err instanceof CryptoError)) return 'INTERNAL';
  switch (err.code) {
    case 'UNTRUSTED_AUTHORITY':
      return 'CERT_UNTRUSTED';
    case 'CERT_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'CERT_EXPIRED';
    default:
      return 'AUTH_FAILED';
  }
}

/** Map a roster verification failure to the protocol error a client meets. */
export function rosterErrorCode(err: unknown): ErrorCode {
  if (!(err instanceof CryptoError)) return 'INTERNAL';
  switch (err.code) {
    case 'ROSTER_ROLLBACK':
      return 'ROSTER_ROLLBACK';
    case 'ROSTER_FORK':
    case 'ROSTER_BAD_CHAIN':
      return 'ROSTER_FORK';
    default:
      return 'ROSTER_INVALID';
  }
}
