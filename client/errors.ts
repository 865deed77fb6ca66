/**
 * The SDK's one error type. `code` is a relay code (protocol/errors.ts), a crypto
 * code (crypto/errors.ts) or one of CLIENT_ERROR_CODES below, so an application can
 * switch on it without caring which layer failed.
 */
import type { ErrorCode } from '../protocol/index.ts';

export const CLIENT_ERRORS = {
  POLICY_DENIED: 'The order policy does not let this device\'s role publish this kind (or read this scope); nothing was sent.',
  INVALID_MESSAGE: 'The message body does not match the schema of its kind; fix the body (the detail names the field).',
  REQUEST_TIMEOUT: 'The relay did not answer in time; the request may be retried.',
  CLIENT_CLOSED: 'The client was closed; create a new one to continue.',
  ORDER_CLOSED: 'The order session was closed (or this device was removed from the order).',
  ROSTER_MISSING: 'The relay returned no roster for this order; the authority must put the first roster.',
  KEY_PACKAGE_MISSING: 'No sender key package for this envelope could be fetched; the sender may not have published it yet.',
  STORAGE_FAILED: 'The client storage failed to read or write; check disk space and permissions.',
  ATTACHMENT_TOO_LARGE: 'The attachment is larger than MAX_BLOB_BYTES; compress or split it.',
  RELAY_ID_UNKNOWN: 'The relay id a signed HTTP request must name could not be learned (no challenge yet, and GET /healthz did not say); set `relayId` in the client options.',
  ATTACHMENT_HASH_MISMATCH: 'The downloaded attachment does not match the hash in the message; it was altered or corrupted.',
  ROSTER_REJECTED: 'The relay served a roster that does not verify or does not extend the known chain (rollback or fork).',
} as const;

export type ClientErrorCode = keyof typeof CLIENT_ERRORS;

/** Any code a SealRelayError may carry. Crypto codes are strings from crypto/errors.ts. */
export type SealRelayErrorCode = ClientErrorCode | ErrorCode | (string & { readonly __crypto?: never });

/**
 * @example
 * try { await order.send('status', { status: 'delivered' }); }
 * catch (e) { if (e instanceof SealRelayError && e.code === 'POLICY_DENIED') showNotAllowed(); }
 */
export class SealRelayError extends Error {
  override readonly name = 'SealRelayError';
  readonly code: SealRelayErrorCode;
  /** Only for relay errors: when to retry (RATE_LIMITED). */
  readonly retryAfterMs: number | undefined;
  /** Only with HISTORY_TRIMMED: the oldest sequence the relay still holds. */
  readonly oldestSeq: number | undefined;

  constructor(code: SealRelayErrorCode, message?: string, opts: { cause?: unknown; retryAfterMs?: number; oldestSeq?: number } = {}) {
    const base = (CLIENT_ERRORS as Record<string, string>)[code];
    super(message ?? base ?? code, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.retryAfterMs = opts.retryAfterMs;
    this.oldestSeq = opts.oldestSeq;
  }
}

export function isSealRelayError(e: unknown, code?: SealRelayErrorCode): e is SealRelayError {
  return e instanceof SealRelayError && (code === undefined || e.code === code);
}
