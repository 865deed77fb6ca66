/** JSON replies and the HTTP status of each protocol error code. */
import { ERRORS, ProtocolError, type ErrorCode } from '../../protocol/errors.ts';
import type { HttpReply } from '../transport.ts';

const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_FRAME: 400,
  PAYLOAD_TOO_LARGE: 413,
  FRAME_TOO_LARGE: 413,
  NOT_AUTHENTICATED: 401,
  AUTH_FAILED: 401,
  CERT_UNTRUSTED: 401,
  CERT_EXPIRED: 401,
  ORDER_UNKNOWN: 404,
  BLOB_NOT_FOUND: 404,
  NOT_A_MEMBER: 403,
  ROLE_FORBIDDEN: 403,
  ENVELOPE_MISMATCH: 422,
  KEY_PACKAGE_INVALID: 422,
  ROSTER_INVALID: 422,
  BLOB_HASH_MISMATCH: 422,
  ROSTER_ROLLBACK: 409,
  ROSTER_FORK: 409,
  EPOCH_STALE: 409,
  HISTORY_TRIMMED: 410,
  RATE_LIMITED: 429,
  STORE_UNAVAILABLE: 503,
  SERVER_RESTARTING: 503,
};

export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpReply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  detail?: string;
  retryAfterMs?: number;
  oldestSeq?: number;
}

export function errorReply(code: ErrorCode, extra: Omit<ErrorBody, 'error' | 'message'> = {}): HttpReply {
  const headers: Record<string, string> = {};
  if (extra.retryAfterMs !== undefined) headers['retry-after'] = String(Math.ceil(extra.retryAfterMs / 1000));
  return json(httpStatusOf(code), { error: code, message: ERRORS[code].message, ...extra }, headers);
}

export function errorReplyOf(err: unknown): { reply: HttpReply; code: ErrorCode } {
  if (err instanceof ProtocolError) {
    const { oldestSeq, retryAfterMs } = err as ProtocolError & { oldestSeq?: number; retryAfterMs?: number };
    const extra: Omit<ErrorBody, 'error' | 'message'> = { detail: err.detail?.slice(0, 200) };
    if (oldestSeq !== undefined) extra.oldestSeq = oldestSeq;
    if (retryAfterMs !== undefined) extra.retryAfterMs = retryAfterMs;
    return { reply: errorReply(err.code, extra), code: err.code };
  }
  return { reply: errorReply('INTERNAL'), code: 'INTERNAL' };
}

export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Parse a non-negative integer query value; undefined when absent, NaN when invalid. */
export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  return /^\d{1,16}$/.test(v) ? Number(v) : NaN;
}
