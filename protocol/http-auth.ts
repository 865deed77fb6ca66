/**
 * Signed HTTP requests, for back-end systems and IoT gateways that publish or
 * fetch over HTTP instead of holding a WebSocket. The device signs (with the
 * same key and the same crypto helper as the WebSocket challenge) a transcript
 * of the request; the relay verifies it against the device certificate sent
 * alongside, rejects timestamps outside its clock-skew window, and remembers
 * nonces for twice that window so a captured request cannot be replayed.
 *
 * Transcript (lengths u16 big-endian):
 *   "sealrelay/http/v1" 0x00 | len METHOD | METHOD | len path?query | path?query
 *   | len timestamp | timestamp (decimal ms) | len nonce | nonce | 32 SHA-256(body)
 *
 * The domain tag differs from the WebSocket transcript's ("sealrelay/auth/v1"),
 * so a signature made for one can never be used as the other.
 */
export const HTTP_AUTH_DOMAIN = 'sealrelay/http/v1';

/** Request headers of a signed request (lower case, as HTTP/1.1 servers see them). */
export const HTTP_AUTH_HEADERS = {
  /** The device certificate, base64. */
  certificate: 'x-sealrelay-certificate',
  /** Milliseconds since the epoch, decimal. */
  timestamp: 'x-sealrelay-timestamp',
  /** 16..64 random bytes, base64url: makes every request unique within a millisecond. */
  nonce: 'x-sealrelay-nonce',
  /** Ed25519 signature over the transcript (crypto `signChallenge`), base64. */
  signature: 'x-sealrelay-signature',
} as const;

/** Idempotency key of an HTTP publish (same meaning as `clientMsgId` of a `pub` frame). */
export const HTTP_CLIENT_MSG_ID_HEADER = 'x-sealrelay-client-msg-id';
/** SHA-256 of an uploaded blob, hex. */
export const HTTP_CONTENT_SHA256_HEADER = 'x-sealrelay-content-sha256';

const enc = new TextEncoder();

export interface HttpSignedParts {
  /** Upper-case HTTP method. */
  readonly method: string;
  /** Path and query exactly as sent on the request line (e.g. `/v1/orders/o1/messages?after=5`). */
  readonly pathAndQuery: string;
  readonly timestamp: number;
  readonly nonce: string;
  /** SHA-256 of the request body (of the empty string for GET). */
  readonly bodySha256: Uint8Array;
}

export function httpRequestTranscript(p: HttpSignedParts): Uint8Array {
  if (p.bodySha256.byteLength !== 32) throw new RangeError('bodySha256 must be 32 bytes');
  const parts = [
    enc.encode(HTTP_AUTH_DOMAIN),
    new Uint8Array([0]),
    ...lp(enc.encode(p.method.toUpperCase())),
    ...lp(enc.encode(p.pathAndQuery)),
    ...lp(enc.encode(String(p.timestamp))),
    ...lp(enc.encode(p.nonce)),
    p.bodySha256,
  ];
  const out = new Uint8Array(parts.reduce((n, x) => n + x.byteLength, 0));
  let off = 0;
  for (const x of parts) {
    out.set(x, off);
    off += x.byteLength;
  }
  return out;
}

function lp(b: Uint8Array): Uint8Array[] {
  if (b.byteLength > 0xffff) throw new RangeError('transcript field too long');
  return [new Uint8Array([b.byteLength >> 8, b.byteLength & 0xff]), b];
}
