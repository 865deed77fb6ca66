/**
 * Signed HTTP requests (protocol/http-auth.ts, transcript v2) for load runs: headers
 * for one request, fresh timestamp and nonce each time so the relay's replay check
 * never rejects a load request as a replay.
 *
 * v2 signs the relay's id and every header the relay acts on (HTTP_SIGNED_HEADERS),
 * so those headers must be given here, not added to the request afterwards: a
 * publish's `x-sealrelay-client-msg-id` goes in `opts.headers`. A request with a body
 * also declares and signs its SHA-256 as `x-sealrelay-content-sha256` unless
 * `opts.headers` names it (a blob upload needs exactly that value; other routes
 * ignore it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { signChallenge } from '../../crypto/index.ts';
import { HTTP_AUTH_HEADERS, HTTP_CONTENT_SHA256_HEADER, httpRequestTranscript } from '../../protocol/http-auth.ts';
import type { LoadDevice } from '../targets/fixtures.ts';

/** The relayId SealRelayTarget starts its relays with (loadtest/targets/sealrelay.ts). */
export const LOADTEST_RELAY_ID = 'sealrelay-loadtest';

export interface SignOptions {
  /** The relay's id (GET /healthz); default LOADTEST_RELAY_ID. */
  readonly relayId?: string;
  /** Headers the request carries that the relay acts on (client-msg-id, content hash): signed and returned. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly now?: number;
}

/**
 * `opts.headers` plus the content hash (for a body) and the four auth headers: spread
 * them last into the request's headers.
 * @example fetch(url + path, { method: 'POST', body, headers: signedHeaders(device, 'POST', path, body, { headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'm-1' } }) });
 */
export function signedHeaders(device: LoadDevice, method: string, pathAndQuery: string, body: Uint8Array = new Uint8Array(0), opts: SignOptions = {}): Record<string, string> {
  const now = opts.now ?? Date.now();
  const nonce = randomBytes(16).toString('base64url');
  const bodySha256 = createHash('sha256').update(body).digest();
  const headers: Record<string, string> = { ...opts.headers };
  if (body.byteLength > 0 && !Object.keys(headers).some((h) => h.toLowerCase() === HTTP_CONTENT_SHA256_HEADER)) headers[HTTP_CONTENT_SHA256_HEADER] = bodySha256.toString('hex');
  const transcript = httpRequestTranscript({ method, pathAndQuery, timestamp: now, nonce, bodySha256, relayId: opts.relayId ?? LOADTEST_RELAY_ID, headers });
  return {
    ...headers,
    [HTTP_AUTH_HEADERS.certificate]: Buffer.from(device.certificate).toString('base64'),
    [HTTP_AUTH_HEADERS.timestamp]: String(now),
    [HTTP_AUTH_HEADERS.nonce]: nonce,
    [HTTP_AUTH_HEADERS.signature]: Buffer.from(signChallenge(device.keys, transcript)).toString('base64'),
  };
}
