/**
 * Verifies signed HTTP requests (protocol/http-auth.ts): certificate from a
 * trusted authority, timestamp within the skew window, nonce never seen within
 * twice that window, and the device's signature over method, path, timestamp,
 * nonce and body hash. Answers the authenticated device id or a ProtocolError.
 */
import { ProtocolError } from '../../protocol/errors.ts';
import { HTTP_AUTH_HEADERS, httpRequestTranscript } from '../../protocol/http-auth.ts';
import { sha256 } from '../orders.ts';
import type { HttpRequest } from '../transport.ts';
import { certificateErrorCode, verifyCertificate, verifyChallenge } from '../trust.ts';

/** Nonces remembered at most; beyond it the oldest go first (they are past the window soon anyway). */
export const MAX_REMEMBERED_NONCES = 200_000;

export class SignedRequestVerifier {
  /** `${device}|${nonce}` → timestamp; insertion-ordered, so the oldest are first. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly trustedAuthorities: readonly Uint8Array[],
    private readonly maxSkewMs: number,
    private readonly now: () => number,
  ) {}

  /** The device that signed `req`. Throws AUTH_FAILED / CERT_UNTRUSTED / CERT_EXPIRED / NOT_AUTHENTICATED. */
  verify(req: HttpRequest): string {
    const certB64 = req.header(HTTP_AUTH_HEADERS.certificate);
    const tsText = req.header(HTTP_AUTH_HEADERS.timestamp);
    const nonce = req.header(HTTP_AUTH_HEADERS.nonce);
    const sigB64 = req.header(HTTP_AUTH_HEADERS.signature);
    if (!certB64 || !tsText || !nonce || !sigB64) {
      throw new ProtocolError('NOT_AUTHENTICATED', `sign the request: headers ${Object.values(HTTP_AUTH_HEADERS).join(', ')}`);
    }
    if (!/^[A-Za-z0-9_-]{22,88}$/.test(nonce)) throw new ProtocolError('AUTH_FAILED', 'nonce must be 16..64 bytes of base64url');
    if (!/^\d{1,16}$/.test(tsText)) throw new ProtocolError('AUTH_FAILED', 'timestamp must be decimal milliseconds');
    const timestamp = Number(tsText);
    const now = this.now();
    if (Math.abs(now - timestamp) > this.maxSkewMs) throw new ProtocolError('AUTH_FAILED', `timestamp is more than ${this.maxSkewMs} ms away from the relay clock`);
    if (this.trustedAuthorities.length === 0) throw new ProtocolError('CERT_UNTRUSTED', 'this relay trusts no authority');
    let cert;
    try {
      cert = verifyCertificate(Buffer.from(certB64, 'base64'), this.trustedAuthorities, now);
    } catch (err) {
      throw new ProtocolError(certificateErrorCode(err), (err as Error).message.slice(0, 160));
    }
    const transcript = httpRequestTranscript({
      method: req.method,
      pathAndQuery: req.query ? `${req.path}?${req.query}` : req.path,
      timestamp,
      nonce,
      bodySha256: sha256(req.body),
    });
    if (!verifyChallenge(Buffer.from(sigB64, 'base64'), transcript, cert.signPublicKey)) throw new ProtocolError('AUTH_FAILED', 'the request signature does not verify');
    this.remember(`${cert.deviceId}|${nonce}`, timestamp, now);
    return cert.deviceId;
  }

  private remember(key: string, timestamp: number, now: number): void {
    if (this.seen.has(key)) throw new ProtocolError('AUTH_FAILED', 'this signed request was already used (replay)');
    // Forget nonces whose timestamp can no longer pass the skew check.
    for (const [k, ts] of this.seen) {
      if (now - ts <= 2 * this.maxSkewMs && this.seen.size < MAX_REMEMBERED_NONCES) break;
      this.seen.delete(k);
    }
    this.seen.set(key, timestamp);
  }
}
