/**
 * The HTTP API on the relay's uWS app (documented in server/README.md):
 * health, readiness, metrics, and signed-request endpoints for back-ends that
 * publish, fetch history, put rosters, exchange key packages and move blobs.
 */
import { z } from 'zod';
import { ProtocolError, type ErrorCode } from '../../protocol/errors.ts';
import { ClientMsgId, Id } from '../../protocol/frames.ts';
import { HTTP_CLIENT_MSG_ID_HEADER, HTTP_CONTENT_SHA256_HEADER } from '../../protocol/http-auth.ts';
import { MAX_DELIVER_BATCH, MAX_ENVELOPE_BYTES, MAX_KEY_PACKAGE_BYTES, MAX_KEY_PACKAGES_PER_PUT, MAX_ROSTER_BYTES, MAX_ROSTERS_PER_GET } from '../../protocol/limits.ts';
import type { RelayContext } from '../context.ts';
import { appendPublish, fetchKeyPackages, fetchRosters, getBlob, putBlob, putKeyPackages, putRoster, readHistory, validatePublish } from '../orders.ts';
import type { HttpHandler, HttpMethod, HttpReply, HttpRequest, Transport } from '../transport.ts';
import { b64, errorReplyOf, intParam, json } from './reply.ts';
import { SignedRequestVerifier } from './signed-request.ts';

const KeyPackagesBody = z.object({ packages: z.array(z.string().max(4 * MAX_KEY_PACKAGE_BYTES)).min(1).max(MAX_KEY_PACKAGES_PER_PUT) });

let nextRequest = 0;

export function registerHttpRoutes(transport: Transport, ctx: RelayContext, isReady: () => boolean): void {
  const signer = new SignedRequestVerifier({
    trustedAuthorities: ctx.config.trustedAuthorities,
    relayId: ctx.config.relayId,
    maxSkewMs: ctx.config.http.maxClockSkewMs,
    acceptLegacy: ctx.config.http.acceptLegacySignatures,
    now: ctx.now,
  });

  /** Wrap a handler: request id, metrics, logging, error mapping. */
  const route = (method: HttpMethod, pattern: string, maxBodyBytes: number, name: string, handler: HttpHandler): void => {
    transport.route(method, pattern, { maxBodyBytes }, async (req) => {
      const reqId = `r-${(++nextRequest).toString(36)}`;
      let reply: HttpReply;
      let code: ErrorCode | undefined;
      try {
        reply = await handler(req);
      } catch (err) {
        ({ reply, code } = errorReplyOf(err));
        if (code === 'INTERNAL') ctx.log.error({ req: reqId, err }, 'http handler failed');
      }
      if (code) ctx.metrics.error(code);
      ctx.metrics.httpRequests.labels(name, String(reply.status)).inc();
      if (name !== 'metrics' && name !== 'healthz') ctx.log.info({ req: reqId, method: req.method, route: name, status: reply.status, code, remote: req.remoteAddress }, 'http');
      return { ...reply, headers: { ...reply.headers, 'x-request-id': reqId } };
    });
  };

  /**
   * Authenticate, rate-limit, refuse replays (in that order: the nonce is remembered
   * only for requests within the device's rate, so a flood cannot fill the nonce
   * store), then hand back the device and the path's first parameter.
   */
  const signed = async (req: HttpRequest): Promise<{ device: string; order: string; query: URLSearchParams }> => {
    const s = signer.verify(req);
    const take = ctx.frameLimiter.take(s.device, ctx.now());
    if (!take.ok) throw Object.assign(new ProtocolError('RATE_LIMITED'), { retryAfterMs: take.retryAfterMs });
    let fresh: boolean;
    try {
      fresh = await ctx.metrics.timeStore('rememberNonce', () => ctx.store.rememberNonce(s.nonceKey, s.nonceTtlMs));
    } catch {
      throw new ProtocolError('STORE_UNAVAILABLE', 'the replay check could not reach the store; retry with a new nonce');
    }
    if (!fresh) throw new ProtocolError('AUTH_FAILED', 'this signed request was already used (replay), or the relay cannot remember more nonces right now; sign again with a new nonce');
    if (s.legacy) ctx.metrics.httpLegacySignatures.inc();
    const order = req.params[0] ?? '';
    return { device: s.device, order, query: new URLSearchParams(req.query) };
  };
  const orderId = (order: string): string => {
    if (!Id.safeParse(order).success) throw new ProtocolError('BAD_FRAME', 'order id: 1..128 UTF-8 bytes without control characters');
    return order;
  };

  // relayId is public (every challenge carries it): HTTP-only callers learn here what to sign.
  route('get', '/healthz', 0, 'healthz', () => json(200, { ok: true, relayId: ctx.config.relayId }));
  route('get', '/readyz', 0, 'readyz', async () => {
    const storeOk = await ctx.store.ping().catch(() => false);
    const ok = storeOk && isReady();
    return json(ok ? 200 : 503, { ok, store: storeOk ? 'up' : 'down', accepting: isReady() });
  });
  route('get', '/metrics', 0, 'metrics', async () => ({ status: 200, headers: { 'content-type': ctx.metrics.registry.contentType }, body: await ctx.metrics.registry.metrics() }));

  route('post', '/v1/orders/:order/messages', MAX_ENVELOPE_BYTES, 'publish', async (req) => {
    const { device, order } = await signed(req);
    const clientMsgId = req.header(HTTP_CLIENT_MSG_ID_HEADER);
    if (!ClientMsgId.safeParse(clientMsgId).success) throw new ProtocolError('BAD_FRAME', `header ${HTTP_CLIENT_MSG_ID_HEADER}: 1..64 bytes`);
    if (req.body.byteLength === 0) throw new ProtocolError('BAD_FRAME', 'the body must be the sealed envelope');
    const take = ctx.publishLimiter.take(device, ctx.now());
    if (!take.ok) throw Object.assign(new ProtocolError('RATE_LIMITED'), { retryAfterMs: take.retryAfterMs });
    const validated = await validatePublish(ctx, device, orderId(order), clientMsgId, req.body);
    const r = await appendPublish(ctx, validated, 'http');
    return json(200, { order, clientMsgId, seq: r.seq, duplicate: r.duplicate });
  });

  route('get', '/v1/orders/:order/messages', 0, 'history', async (req) => {
    const { device, order, query } = await signed(req);
    const after = intParam(query, 'after') ?? 0;
    const limit = intParam(query, 'limit') ?? 100;
    if (Number.isNaN(after) || Number.isNaN(limit) || limit < 1) throw new ProtocolError('BAD_FRAME', 'after and limit must be non-negative integers, limit ≥ 1');
    const h = await readHistory(ctx, device, orderId(order), after, Math.min(limit, MAX_DELIVER_BATCH));
    return json(200, {
      order,
      headSeq: h.headSeq,
      nextAfterSeq: h.nextAfterSeq,
      messages: h.messages.map((m) => ({ seq: m.seq, prev: m.prev, at: m.at, envelope: b64(m.envelope) })),
    });
  });

  route('put', '/v1/orders/:order/roster', MAX_ROSTER_BYTES, 'roster_put', async (req) => {
    const { order } = await signed(req);
    const r = await putRoster(ctx, orderId(order), req.body);
    return json(200, { order, epoch: r.epoch, hash: Buffer.from(r.hash).toString('hex') });
  });

  route('get', '/v1/orders/:order/rosters', 0, 'rosters', async (req) => {
    const { device, order, query } = await signed(req);
    const from = intParam(query, 'from') ?? 1;
    if (Number.isNaN(from) || from < 1) throw new ProtocolError('BAD_FRAME', 'from must be an epoch ≥ 1');
    const page = await fetchRosters(ctx, device, orderId(order), from, MAX_ROSTERS_PER_GET);
    return json(200, { order, rosters: page.rosters.map(b64), ...(page.nextEpoch ? { nextEpoch: page.nextEpoch } : {}) });
  });

  route('post', '/v1/orders/:order/key-packages', MAX_KEY_PACKAGES_PER_PUT * MAX_KEY_PACKAGE_BYTES * 2, 'kp_put', async (req) => {
    const { device, order } = await signed(req);
    let body;
    try {
      body = KeyPackagesBody.parse(JSON.parse(new TextDecoder().decode(req.body)));
    } catch {
      throw new ProtocolError('BAD_FRAME', 'body must be JSON {"packages": [base64, ...]} with 1..64 packages');
    }
    const packages = body.packages.map((p) => new Uint8Array(Buffer.from(p, 'base64')));
    if (packages.some((p) => p.byteLength === 0 || p.byteLength > MAX_KEY_PACKAGE_BYTES)) throw new ProtocolError('PAYLOAD_TOO_LARGE', `key packages are 1..${MAX_KEY_PACKAGE_BYTES} bytes`);
    const stored = await putKeyPackages(ctx, device, orderId(order), packages);
    return json(200, { order, stored });
  });

  route('get', '/v1/orders/:order/key-packages', 0, 'kp_get', async (req) => {
    const { device, order, query } = await signed(req);
    const epoch = intParam(query, 'epoch');
    if (Number.isNaN(epoch)) throw new ProtocolError('BAD_FRAME', 'epoch must be an integer');
    const afterHex = query.get('after');
    if (afterHex !== null && !/^[0-9a-f]{72}$/i.test(afterHex)) throw new ProtocolError('BAD_FRAME', 'after must be the `next` cursor of the previous page (72 hex digits)');
    const page = await fetchKeyPackages(ctx, device, orderId(order), epoch, afterHex === null ? undefined : Buffer.from(afterHex, 'hex'));
    return json(200, { order, packages: page.packages.map(b64), ...(page.next ? { next: Buffer.from(page.next).toString('hex') } : {}) });
  });

  route('post', '/v1/orders/:order/blobs', ctx.config.blobs.maxBytes, 'blob_put', async (req) => {
    const { device, order } = await signed(req);
    const hex = req.header(HTTP_CONTENT_SHA256_HEADER);
    if (!/^[0-9a-f]{64}$/i.test(hex)) throw new ProtocolError('BAD_FRAME', `header ${HTTP_CONTENT_SHA256_HEADER}: SHA-256 of the body, 64 hex digits`);
    if (req.body.byteLength === 0) throw new ProtocolError('BAD_FRAME', 'empty blob');
    const blobId = await putBlob(ctx, device, orderId(order), Buffer.from(hex, 'hex'), req.body);
    return json(201, { blobId });
  });

  route('get', '/v1/blobs/:id', 0, 'blob_get', async (req) => {
    // Signed, rate-limited and replay-checked like every other call (the id is the path's parameter).
    const { device, order: blobId } = await signed(req);
    const data = await getBlob(ctx, device, blobId);
    return { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: data };
  });

}
