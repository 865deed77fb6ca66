/**
 * Verifies signed HTTP requests (protocol/http-auth.ts): certificate from a
 * trusted authority, timestamp within the skew window, and the device's signature
 * over the v2 transcript (this relay's relayId, method, path, timestamp, nonce,
 * body hash and every header the relay acts on), or, only while the migration switch
 * `http.acceptLegacySignatures` is on (default off), the v1 transcript.
 *
 * Replay is refused by the caller with `store.rememberNonce` (shared by every node
 * of a Redis deployment), AFTER its rate limit, so a flood of validly signed
 * requests cannot fill the nonce memory faster than the rate limit allows.
 */
import { ProtocolError } from '../../protocol/errors.ts';
import { HTTP_AUTH_HEADERS, HTTP_SIGNED_HEADERS, httpRequestTranscript, legacyHttpRequestTranscript } from '../../protocol/http-auth.ts';
import { sha256 } from '../orders.ts';
import type { HttpRequest } from '../transport.ts';
import { certificateErrorCode, verifyCertificate, verifyChallenge } from '../trust.ts';

export interface SignedRequest {
  readonly device: string;
  /** Key for the replay check: the same (device, nonce) must never be accepted twice. */
  readonly nonceKey: string;
  /** How long the nonce must be remembered: twice the skew window covers any timestamp that can still pass. */
  readonly nonceTtlMs: number;
  /** The request was signed with the legacy v1 transcript. */
  readonly legacy: boolean;
}

export interface SignedRequestOptions {
  readonly trustedAuthorities: readonly Uint8Array[];
  readonly relayId: string;
  readonly maxSkewMs: number;
  readonly acceptLegacy: boolean;
  readonly now: () => number;
}

export class SignedRequestVerifier {
  constructor(private readonly opts: SignedRequestOptions) {}

  /** Who signed `req`. Throws AUTH_FAILED / CERT_UNTRUSTED / CERT_EXPIRED / NOT_AUTHENTICATED. No replay check: see the file comment. */
  verify(req: HttpRequest): SignedRequest {
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
    const now = this.opts.now();
    const { maxSkewMs } = this.opts;
    if (Math.abs(now - timestamp) > maxSkewMs) throw new ProtocolError('AUTH_FAILED', `timestamp is more than ${maxSkewMs} ms away from the relay clock`);
    if (this.opts.trustedAuthorities.length === 0) throw new ProtocolError('CERT_UNTRUSTED', 'this relay trusts no authority');
    let cert;
    try {
      cert = verifyCertificate(Buffer.from(certB64, 'base64'), this.opts.trustedAuthorities, now);
    } catch (err) {
      throw new ProtocolError(certificateErrorCode(err), (err as Error).message.slice(0, 160));
    }
    const signature = Buffer.from(sigB64, 'base64');
    const parts = { method: req.method, pathAndQuery: req.query ? `${req.path}?${req.query}` : req.path, timestamp, nonce, bodySha256: sha256(req.body) };
    const headers = Object.fromEntries(HTTP_SIGNED_HEADERS.map((h) => [h, req.header(h)]));
    const v2 = verifyChallenge(signature, httpRequestTranscript({ ...parts, relayId: this.opts.relayId, headers }), cert.signPublicKey);
    const legacy = !v2 && this.opts.acceptLegacy && verifyChallenge(signature, legacyHttpRequestTranscript(parts), cert.signPublicKey);
    if (!v2 && !legacy) throw new ProtocolError('AUTH_FAILED', `the request signature does not verify (sign transcript v2 for relay ${this.opts.relayId.slice(0, 64)}, with its headers)`);
    return { device: cert.deviceId, nonceKey: `${cert.deviceId}|${nonce}`, nonceTtlMs: 2 * maxSkewMs, legacy };
  }
}
