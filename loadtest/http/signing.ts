/**
 * Signed HTTP requests (protocol/http-auth.ts) for load runs: headers for one
 * request, fresh timestamp and nonce each time so the relay's replay check
 * never rejects a load request as a replay.
 */
import { createHash, randomBytes } from 'node:crypto';
import { signChallenge } from '../../crypto/index.ts';
import { HTTP_AUTH_HEADERS, httpRequestTranscript } from '../../protocol/http-auth.ts';
import type { LoadDevice } from '../targets/fixtures.ts';

export function signedHeaders(device: LoadDevice, method: string, pathAndQuery: string, body: Uint8Array = new Uint8Array(0), now = Date.now()): Record<string, string> {
  const nonce = randomBytes(16).toString('base64url');
  const bodySha256 = createHash('sha256').update(body).digest();
  const signature = signChallenge(device.keys, httpRequestTranscript({ method, pathAndQuery, timestamp: now, nonce, bodySha256 }));
  return {
    [HTTP_AUTH_HEADERS.certificate]: Buffer.from(device.certificate).toString('base64'),
    [HTTP_AUTH_HEADERS.timestamp]: String(now),
    [HTTP_AUTH_HEADERS.nonce]: nonce,
    [HTTP_AUTH_HEADERS.signature]: Buffer.from(signature).toString('base64'),
  };
}
