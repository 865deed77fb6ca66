/**
 * The one error type of crypto/. Every failure a caller can meet carries a code
 * from CRYPTO_ERROR_CODES and a sentence saying what happened and what to do.
 * Decoders never let a RangeError or TypeError escape: bad bytes are MALFORMED.
 */
export const CRYPTO_ERROR_CODES = [
  'NOT_READY',
  'MALFORMED',
  'BAD_SIGNATURE',
  'UNTRUSTED_AUTHORITY',
  'CERT_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEVICE_ID_MISMATCH',
  'CERT_MISMATCH',
  'ROSTER_ROLLBACK',
  'ROSTER_FORK',
  'ROSTER_BAD_CHAIN',
  'DUPLICATE_MEMBER',
  'UNKNOWN_POLICY',
  'POLICY_MISMATCH',
  'NOT_A_MEMBER',
  'POLICY_DENIED',
  'UNKNOWN_SENDER_KEY',
  'DECRYPT_FAILED',
  'REPLAY',
  'TOO_FAR_AHEAD',
  'WRONG_RECIPIENT',
  'KIND_MISMATCH',
  'WRONG_CONTEXT',
  'KEY_ID_COLLISION',
  'BAD_PASSWORD',
  'TRUNCATED',
  'HASH_MISMATCH',
  'INVALID_ARGUMENT',
] as const;

export type CryptoErrorCode = (typeof CRYPTO_ERROR_CODES)[number];

const ADVICE: Record<CryptoErrorCode, string> = {
  NOT_READY: 'Await cryptoReady() once before calling any crypto function.',
  MALFORMED: 'The bytes are not a valid encoding of this object; drop them.',
  BAD_SIGNATURE: 'The signature does not verify; treat the object as forged and drop it.',
  UNTRUSTED_AUTHORITY: 'The signer is not one of the configured tenant authorities; check the trust configuration.',
  CERT_EXPIRED: 'The device certificate has expired; the device must be re-certified.',
  CERT_NOT_YET_VALID: 'The device certificate is not valid yet; check the clocks.',
  DEVICE_ID_MISMATCH: 'The device id is not the one derived from the signing key; the certificate is invalid.',
  CERT_MISMATCH: 'A roster member does not match its certificate; the roster is invalid.',
  ROSTER_ROLLBACK: 'The roster is older than one already accepted; keep the newer roster.',
  ROSTER_FORK: 'Two different rosters claim the same place in the chain; stop and report to the carrier.',
  ROSTER_BAD_CHAIN: 'The roster does not link to the previous one; fetch the missing rosters first.',
  DUPLICATE_MEMBER: 'A device appears twice in the roster; the roster is invalid.',
  UNKNOWN_POLICY: 'The roster names a policy this build does not know; upgrade or register the policy.',
  POLICY_MISMATCH: 'The roster was signed for other rules than the policy of that id known here; do not use it, and check which policy data each side has.',
  NOT_A_MEMBER: 'The device is not a member of this roster.',
  POLICY_DENIED: 'The role policy of the order does not allow this.',
  UNKNOWN_SENDER_KEY: 'No sender key is known for this envelope; fetch the key packages of this order first.',
  DECRYPT_FAILED: 'Authenticated decryption failed; the ciphertext or key is wrong.',
  REPLAY: 'This message index was already used (or is too old to be remembered); drop the duplicate.',
  TOO_FAR_AHEAD: 'The message index jumps too far ahead of the chain; drop it.',
  WRONG_RECIPIENT: 'The key package is addressed to another device.',
  KIND_MISMATCH: 'The encrypted body names a different kind than the clear header; drop the message.',
  WRONG_CONTEXT: 'The object belongs to another order, epoch or scope than expected.',
  KEY_ID_COLLISION: 'One sender handed out two different keys under one sender key id; keep the first and report the sender.',
  BAD_PASSWORD: 'The keystore password is wrong (or the keystore was altered).',
  TRUNCATED: 'The stream ended before its final chunk; the attachment is incomplete.',
  HASH_MISMATCH: 'The ciphertext hash does not match the one in the message; the attachment was altered.',
  INVALID_ARGUMENT: 'A caller passed an invalid argument; this is a programming error.',
};

export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, detail?: string) {
    super(detail ? `${detail}. ${ADVICE[code]}` : ADVICE[code]);
    this.code = code;
  }
}

/** Is `e` a CryptoError, optionally with the given code? */
export function isCryptoError(e: unknown, code?: CryptoErrorCode): e is CryptoError {
  return e instanceof CryptoError && (code === undefined || e.code === code);
}
