/**
 * The one table of error codes, shared by relay and client.
 *
 * Every error a user can meet has a stable name, a number, whether the relay
 * closes the socket with it (as WebSocket close code `4000 + number`), whether a
 * client should reconnect/retry, and a sentence that says what to do.
 */

export interface ErrorSpec {
  /** Stable number; the WebSocket close code is 4000 + num. */
  readonly num: number;
  /** The relay closes the connection after sending this error. */
  readonly close: boolean;
  /** A client may retry the same request (or reconnect, for closing errors). */
  readonly retry: boolean;
  /** What happened and what the user should do about it. */
  readonly message: string;
}

export const ERRORS = {
  // ---- framing (1xx) ----
  BAD_FRAME: { num: 100, close: false, retry: false, message: 'The frame could not be decoded or does not match its schema; fix the client to follow protocol/README.md.' },
  FRAME_TOO_LARGE: { num: 101, close: true, retry: false, message: 'The frame is larger than MAX_FRAME_BYTES; send attachments as blobs and keep messages under the limit.' },
  UNKNOWN_FRAME_TYPE: { num: 102, close: false, retry: false, message: 'The frame type is not known to this relay; upgrade the relay or the client so both speak the same protocol version.' },
  UNSUPPORTED_VERSION: { num: 103, close: true, retry: false, message: 'The client speaks a protocol version this relay does not; upgrade the client or the relay.' },
  PAYLOAD_TOO_LARGE: { num: 104, close: false, retry: false, message: 'An envelope, key package, roster or blob exceeds its limit in protocol/limits.ts; split it or send it as a blob.' },
  // ---- authentication (2xx) ----
  NOT_AUTHENTICATED: { num: 200, close: false, retry: false, message: 'Authenticate first: send `connect`, answer the `challenge` with `auth`, then wait for `welcome`.' },
  AUTH_FAILED: { num: 201, close: true, retry: false, message: 'The challenge signature or certificate did not verify; check the device keys and certificate.' },
  CERT_UNTRUSTED: { num: 202, close: true, retry: false, message: 'The device certificate was not issued by an authority this relay trusts; have the tenant authority issue a new one.' },
  CERT_EXPIRED: { num: 203, close: true, retry: false, message: 'The device certificate is outside its validity window; renew it with the tenant authority (and check the device clock).' },
  TICKET_INVALID: { num: 204, close: false, retry: true, message: 'The resumption ticket is invalid or expired; the relay has sent a fresh challenge: answer it with `auth`.' },
  AUTH_TIMEOUT: { num: 205, close: true, retry: true, message: 'Authentication did not finish in time; reconnect and answer the challenge promptly.' },
  ALREADY_AUTHENTICATED: { num: 206, close: false, retry: false, message: 'This connection is already authenticated; do not send `connect` or `auth` twice.' },
  TOO_MANY_CONNECTIONS: { num: 207, close: true, retry: true, message: 'This device already holds the maximum number of connections; close stale ones (they time out within a minute) and reconnect.' },
  // ---- authorization and rosters (3xx) ----
  ORDER_UNKNOWN: { num: 300, close: false, retry: false, message: 'The relay has no roster for this order; the tenant authority must put the first roster before anyone subscribes or publishes.' },
  NOT_A_MEMBER: { num: 301, close: false, retry: false, message: 'This device is not a member of the order in its current roster epoch.' },
  ROLE_FORBIDDEN: { num: 302, close: false, retry: false, message: 'The policy does not let this role publish this kind into this scope (or read it); see the policy table in crypto/README.md.' },
  ENVELOPE_MISMATCH: { num: 303, close: false, retry: false, message: 'The envelope header does not match the frame (order), the authenticated device (sender) or the current epoch; re-seal it for the current roster.' },
  ROSTER_INVALID: { num: 304, close: false, retry: false, message: 'The roster did not verify (signature, authority, certificates or members); have the authority sign a correct roster.' },
  ROSTER_ROLLBACK: { num: 305, close: false, retry: false, message: 'The roster epoch is not newer than the current one; fetch the current roster chain and build on its head.' },
  ROSTER_FORK: { num: 306, close: false, retry: false, message: 'The roster does not link to the current chain head (previous-hash mismatch); fetch the chain and re-sign on its head.' },
  MEMBER_REMOVED: { num: 307, close: false, retry: false, message: 'A new roster removed this device from the order; its subscription has ended and it receives nothing further.' },
  KEY_PACKAGE_INVALID: { num: 308, close: false, retry: false, message: 'A key package is malformed, is for another order or epoch, is not from this device, or is addressed to a device that may not read the scope.' },
  EPOCH_STALE: { num: 309, close: false, retry: true, message: 'The envelope was sealed for an older roster epoch; fetch the new roster, rotate sender keys and re-seal.' },
  // ---- delivery (4xx) ----
  HISTORY_TRIMMED: { num: 400, close: false, retry: false, message: 'Messages after `afterSeq` have been removed by retention; resume from the oldest sequence the relay still holds (`oldestSeq` in the error frame).' },
  TOO_MANY_SUBSCRIPTIONS: { num: 401, close: false, retry: false, message: 'This connection follows the maximum number of orders; unsubscribe from finished orders first.' },
  NOT_SUBSCRIBED: { num: 402, close: false, retry: false, message: 'Acknowledge or unsubscribe only orders this connection subscribed to.' },
  BLOB_NOT_FOUND: { num: 403, close: false, retry: false, message: 'No blob with this id exists, or it has expired; ask the sender to upload it again.' },
  BLOB_HASH_MISMATCH: { num: 404, close: false, retry: true, message: 'The uploaded bytes do not match the declared hash; the upload was corrupted: retry it.' },
  // ---- load and service (5xx) ----
  RATE_LIMITED: { num: 500, close: false, retry: true, message: 'This device sends faster than its rate limit; back off and retry the same clientMsgId after the delay in the detail.' },
  SLOW_CONSUMER: { num: 501, close: true, retry: true, message: 'The connection could not keep up and its buffer overflowed; reconnect and resume from the last delivered sequence (nothing is lost).' },
  IDLE_TIMEOUT: { num: 502, close: true, retry: true, message: 'No frame was seen for too long; the client must send pings. Reconnect and resume.' },
  STORE_UNAVAILABLE: { num: 503, close: false, retry: true, message: 'The relay could not make the message durable; it was NOT accepted. Retry the same clientMsgId.' },
  SERVER_RESTARTING: { num: 504, close: true, retry: true, message: 'The relay is shutting down; reconnect (to another node if you have one) and resume.' },
  INTERNAL: { num: 505, close: false, retry: true, message: 'The relay failed unexpectedly; retry, and report the connection id in the relay log if it persists.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

const byNum = new Map<number, ErrorCode>(ERROR_CODES.map((c) => [ERRORS[c].num, c]));

/** WebSocket close code for a closing error (RFC 6455 reserves 4000–4999 for applications). */
export function closeCodeOf(code: ErrorCode): number {
  return 4000 + ERRORS[code].num;
}

/** The error behind an application close code, or undefined for a standard or unknown close code. */
export function errorOfCloseCode(closeCode: number): ErrorCode | undefined {
  return closeCode >= 4000 && closeCode < 5000 ? byNum.get(closeCode - 4000) : undefined;
}

/** Close code of a clean, final goodbye (client logout); not an error. */
export const CLOSE_NORMAL = 1000;

/** Whether a client should reconnect after the relay closed the socket with this code. */
export function shouldReconnect(closeCode: number): boolean {
  if (closeCode === CLOSE_NORMAL) return false;
  const code = errorOfCloseCode(closeCode);
  // Standard codes (1001 going away, 1006 abnormal, 1011 internal...) are network or
  // server trouble: reconnect. Application codes say themselves.
  return code === undefined ? true : ERRORS[code].retry;
}

/** An error with a code from the table, raised by codecs and carried in `error` frames. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  constructor(code: ErrorCode, detail?: string) {
    super(detail ? `${code}: ${ERRORS[code].message} (${detail})` : `${code}: ${ERRORS[code].message}`);
    this.name = 'ProtocolError';
    this.code = code;
    this.detail = detail;
  }
}

export function isErrorCode(s: string): s is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERRORS, s);
}
