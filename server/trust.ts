/**
 * The relay's only door into crypto/: public verification and clear-header
 * parsing, nothing that holds a secret. Keeping every crypto call here means a
 * change of names in crypto/ touches one file, and reviewers can see at a glance
 * what the relay is able to do with keys (verify, never sign or decrypt).
 */
import {
  CryptoError,
  cryptoReady,
  decodeEnvelopeHeader,
  decodeKeyPackageHeader,
  decodeRoster,
  mayPublish,
  mayRead,
  verifyCertificate,
  verifyChallenge,
  verifyRoster,
  type EnvelopeHeader,
  type KeyPackageHeader,
  type Roster,
  type RosterLink,
  type VerifiedCertificate,
  type VerifiedRoster,
} from '../crypto/public.ts';
import type { ErrorCode } from '../protocol/errors.ts';

export type { VerifiedCertificate, VerifiedRoster, EnvelopeHeader, KeyPackageHeader, RosterLink, Roster };
export { cryptoReady, verifyCertificate, verifyChallenge, verifyRoster, decodeRoster, decodeEnvelopeHeader, decodeKeyPackageHeader, mayPublish, mayRead };

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
