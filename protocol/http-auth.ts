/**
 * Signed HTTP requests, for back-end systems and IoT gateways that publish or
 * fetch over HTTP instead of holding a WebSocket. The device signs (with the
 * same key and the same crypto helper as the WebSocket challenge) a transcript
 * of the request; the relay verifies it against the device certificate sent
 * alongside, rejects timestamps outside its clock-skew window, and remembers
 * nonces for twice that window so a captured request cannot be replayed.
 *
 * Transcript v2 (lengths u16 big-endian), what `httpRequestTranscript` makes:
 *   "sealrelay/http/v2" 0x00 | len relayId | relayId | len METHOD | METHOD
 *   | len path?query | path?query | len timestamp | timestamp (decimal ms)
 *   | len nonce | nonce | 32 SHA-256(body)
 *   | for each name of HTTP_SIGNED_HEADERS, in that order: len name | name | len value | value
 * A missing header signs as the empty value, so adding one later breaks the signature too.
 * The relayId binds the request to one relay cluster: the id the relay names in its
 * WebSocket `challenge` and serves at `GET /healthz`.
 *
 * Transcript v1 (legacy, `legacyHttpRequestTranscript`) is the same without the relayId
 * and header parts, under "sealrelay/http/v1": a v1 request can be replayed to another
 * cluster that trusts the same authority, and its client-msg-id or content hash can be
 * changed in flight. Relays refuse it (AUTH_FAILED) unless `http.acceptLegacySignatures`
 * is turned on as a migration switch (server/README.md). The two domain tags differ, so
 * a v2 signature can never pass as v1.
 *
 * Both domain tags differ from the WebSocket transcript's ("sealrelay/auth/v1"),
 * so a signature made for one can never be used as the other.
 */
export const HTTP_AUTH_DOMAIN = 'sealrelay/http/v1';
export const HTTP_AUTH_DOMAIN_V2 = 'sealrelay/http/v2';

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

/** Every header whose value the relay acts on: all are covered by a v2 signature. */
export const HTTP_SIGNED_HEADERS = [HTTP_CLIENT_MSG_ID_HEADER, HTTP_CONTENT_SHA256_HEADER] as const;

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
  /** The relay's `relayId` (from the WebSocket `challenge`, or `GET /healthz`): the cluster the request is for. */
  readonly relayId: string;
  /** Request headers (any case); only those named in HTTP_SIGNED_HEADERS are signed. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
}

/** The parts of a legacy v1 transcript: no relayId, no headers. */
export type LegacyHttpSignedParts = Omit<HttpSignedParts, 'relayId' | 'headers'>;

/**
 * The bytes a device signs (crypto `signChallenge`) for a signed HTTP request: transcript v2.
 * @example
 *   const { relayId } = await (await fetch(`${base}/healthz`)).json();
 *   const headers = { [HTTP_CLIENT_MSG_ID_HEADER]: 'm-1' };
 *   const sig = signChallenge(keys, httpRequestTranscript({ method: 'POST', pathAndQuery, timestamp, nonce, bodySha256, relayId, headers }));
 */
export function httpRequestTranscript(p: HttpSignedParts): Uint8Array {
  // Also a runtime check: a JS caller without relayId must not silently get an unbound signature.
  if (typeof p.relayId !== 'string' || p.relayId === '') throw new RangeError('relayId is required: the relay names it in its challenge and at GET /healthz');
  return transcript(p, p.relayId, p.headers);
}

/**
 * Transcript v1, for relays verifying requests of callers that have not moved to v2
 * (only while `http.acceptLegacySignatures` is on) and for tests of that switch.
 * @deprecated Sign httpRequestTranscript (v2); relays refuse v1 by default.
 */
export function legacyHttpRequestTranscript(p: LegacyHttpSignedParts): Uint8Array {
  return transcript(p, undefined, undefined);
}

function transcript(p: LegacyHttpSignedParts, relayId: string | undefined, headers: HttpSignedParts['headers']): Uint8Array {
  if (p.bodySha256.byteLength !== 32) throw new RangeError('bodySha256 must be 32 bytes');
  const v2 = relayId !== undefined;
  const parts = [
    enc.encode(v2 ? HTTP_AUTH_DOMAIN_V2 : HTTP_AUTH_DOMAIN),
    new Uint8Array([0]),
    ...(v2 ? lp(enc.encode(relayId)) : []),
    ...lp(enc.encode(p.method.toUpperCase())),
    ...lp(enc.encode(p.pathAndQuery)),
    ...lp(enc.encode(String(p.timestamp))),
    ...lp(enc.encode(p.nonce)),
    p.bodySha256,
    ...(v2 ? HTTP_SIGNED_HEADERS.flatMap((name) => [...lp(enc.encode(name)), ...lp(enc.encode(headerValue(headers, name)))]) : []),
  ];
  const out = new Uint8Array(parts.reduce((n, x) => n + x.byteLength, 0));
  let off = 0;
  for (const x of parts) {
    out.set(x, off);
    off += x.byteLength;
  }
  return out;
}

function headerValue(headers: HttpSignedParts['headers'], name: string): string {
  if (!headers) return '';
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return (v ?? '').trim();
  return '';
}

function lp(b: Uint8Array): Uint8Array[] {
  if (b.byteLength > 0xffff) throw new RangeError('transcript field too long');
  return [new Uint8Array([b.byteLength >> 8, b.byteLength & 0xff]), b];
}
