/**
 * Signed HTTP requests across relay nodes and HTTP history size (audit findings):
 * the nonce cache was per process (a request replayed to another node passed),
 * `x-sealrelay-client-msg-id` was not signed, and one history GET could return
 * 256 × 96 KiB envelopes as one JSON body.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signChallenge } from '../../crypto/index.ts';
import { HTTP_AUTH_HEADERS, HTTP_CLIENT_MSG_ID_HEADER, httpRequestTranscript, legacyHttpRequestTranscript } from '../../protocol/http-auth.ts';
import { HISTORY_BYTES_BUDGET } from '../../server/orders.ts';
import { MemoryStore } from '../../server/store/memory.ts';
import type { HttpReply } from '../../server/transport.ts';
import { makeWorld, rosterFor, Sender, type Party, type World } from '../integration/helpers.ts';
import { FakeClient, fakeNode, type FakeNode } from './fake-cluster.ts';

let w: World;
const nodes: FakeNode[] = [];
beforeAll(async () => { w = await makeWorld(); });
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.relay.close())); });

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

interface Signed {
  method: string;
  path: string;
  query: string;
  params: string[];
  body: Uint8Array;
  headers: Record<string, string>;
}

/** A signed request as a back end builds it; `relayId` given → transcript v2 (headers signed), else legacy v1. */
function sign(p: Party, method: string, path: string, params: string[], o: { body?: Uint8Array; query?: string; headers?: Record<string, string>; relayId?: string } = {}): Signed {
  const timestamp = Date.now();
  const nonce = randomBytes(16).toString('base64url');
  const body = o.body ?? new Uint8Array();
  const pathAndQuery = o.query ? `${path}?${o.query}` : path;
  const parts = { method, pathAndQuery, timestamp, nonce, bodySha256: sha256(body) };
  const transcript = o.relayId ? httpRequestTranscript({ ...parts, relayId: o.relayId, headers: o.headers }) : legacyHttpRequestTranscript(parts);
  return {
    method, path, query: o.query ?? '', params, body,
    headers: {
      [HTTP_AUTH_HEADERS.certificate]: Buffer.from(p.cert).toString('base64'),
      [HTTP_AUTH_HEADERS.timestamp]: String(timestamp),
      [HTTP_AUTH_HEADERS.nonce]: nonce,
      [HTTP_AUTH_HEADERS.signature]: Buffer.from(signChallenge(p.keys, transcript)).toString('base64'),
      ...o.headers,
    },
  };
}

async function send(node: FakeNode, route: string, r: Signed): Promise<{ status: number; json: Record<string, unknown> }> {
  const handler = node.transport.routes.get(route);
  if (!handler) throw new Error(`no route ${route}`);
  const reply: HttpReply = await handler({ method: r.method, path: r.path, query: r.query, params: r.params, remoteAddress: '127.0.0.1', body: r.body, header: (n) => r.headers[n.toLowerCase()] ?? '' });
  const text = typeof reply.body === 'string' ? reply.body : Buffer.from(reply.body ?? new Uint8Array()).toString('utf8');
  return { status: reply.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function orderOn(node: FakeNode, order: string) {
  const r1 = rosterFor(w, order, [w.shipper, w.consignee, w.courier]);
  const shipper = await FakeClient.open(node, w.shipper);
  await shipper.request({ t: 'roster_put', rid: 1, order, roster: r1.bytes as Uint8Array<ArrayBuffer> });
  return new Sender(w.courier, r1.roster);
}

const PUBLISH = 'post /v1/orders/:order/messages';

describe('signed HTTP requests', () => {
  it('refuses a request replayed to another node of the cluster (the nonce is remembered in the shared store)', async () => {
    const store = new MemoryStore();
    const [a, b] = [await fakeNode(w, store), await fakeNode(w, store)];
    nodes.push(a, b);
    const order = `o-http-replay-${Date.now()}`;
    const sender = await orderOn(a, order);
    const path = `/v1/orders/${order}/messages`;
    const req = sign(w.courier, 'POST', path, [order], { body: sender.seal('status'), headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'm-1' }, relayId: 'cluster-1' });
    expect((await send(a, PUBLISH, req)).status).toBe(200);
    const replayed = await send(b, PUBLISH, req);
    expect(replayed.status).toBe(401);
    expect(replayed.json.error).toBe('AUTH_FAILED');
    expect(String(replayed.json.detail)).toMatch(/replay/);
  });

  it('refuses a request whose signed header was altered (clientMsgId), and one signed for another relayId', async () => {
    const n = await fakeNode(w, new MemoryStore());
    nodes.push(n);
    const order = `o-http-tamper-${Date.now()}`;
    const sender = await orderOn(n, order);
    const path = `/v1/orders/${order}/messages`;
    const req = sign(w.courier, 'POST', path, [order], { body: sender.seal('status'), headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'm-1' }, relayId: 'cluster-1' });
    const tampered = await send(n, PUBLISH, { ...req, headers: { ...req.headers, [HTTP_CLIENT_MSG_ID_HEADER]: 'm-EVIL' } });
    expect(tampered).toMatchObject({ status: 401, json: { error: 'AUTH_FAILED' } });
    const foreign = sign(w.courier, 'POST', path, [order], { body: sender.seal('status'), headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'm-2' }, relayId: 'another-cluster' });
    expect(await send(n, PUBLISH, foreign)).toMatchObject({ status: 401, json: { error: 'AUTH_FAILED' } });
    expect((await send(n, PUBLISH, req)).status).toBe(200);
  });

  it('refuses legacy v1 signatures by default and accepts them only with the http.acceptLegacySignatures migration switch on', async () => {
    const byDefault = await fakeNode(w, new MemoryStore());
    nodes.push(byDefault);
    const order = `o-http-legacy-${Date.now()}`;
    const sender = await orderOn(byDefault, order);
    const path = `/v1/orders/${order}/messages`;
    const legacy = sign(w.courier, 'POST', path, [order], { body: sender.seal('status'), headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'm-1' } });
    expect(await send(byDefault, PUBLISH, legacy)).toMatchObject({ status: 401, json: { error: 'AUTH_FAILED' } });
    // The same request, signed v2, passes: the refusal is about the transcript only.
    const v2 = sign(w.courier, 'POST', path, [order], { body: sender.seal('status'), headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'm-1' }, relayId: 'cluster-1' });
    expect((await send(byDefault, PUBLISH, v2)).status).toBe(200);
    const migrating = await fakeNode(w, new MemoryStore(), { http: { acceptLegacySignatures: true } });
    nodes.push(migrating);
    await orderOn(migrating, order);
    expect((await send(migrating, PUBLISH, sign(w.courier, 'POST', path, [order], { body: sender.seal('status'), headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'm-2' } }))).status).toBe(200);
    expect(await migrating.relay.metrics.registry.getSingleMetricAsString('sealrelay_http_legacy_signatures_total')).toMatch(/ 1$/m);
  });

  it('rate-limits GET /v1/blobs/:id like every other signed call', async () => {
    const n = await fakeNode(w, new MemoryStore(), { rateLimits: { framesPerSecond: 1, framesBurst: 2 } });
    nodes.push(n);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(n, 'get /v1/blobs/:id', sign(w.courier, 'GET', '/v1/blobs/nope', ['nope'], { relayId: 'cluster-1' }))).status);
    expect(statuses).toEqual([404, 404, 429, 429]);
  });
});

describe('HTTP history', () => {
  it('caps one page by bytes and pages on with nextAfterSeq until everything was returned', async () => {
    const n = await fakeNode(w, new MemoryStore(), { rateLimits: { publishPerSecond: 1000, publishBurst: 1000, framesPerSecond: 1000, framesBurst: 1000 } });
    nodes.push(n);
    const order = `o-http-history-${Date.now()}`;
    const sender = await orderOn(n, order);
    const courier = await FakeClient.open(n, w.courier);
    const body = 'x'.repeat(60_000);
    for (let i = 0; i < 40; i++) await courier.request({ t: 'pub', order, clientMsgId: `big-${i}`, envelope: sender.seal('status', body) as Uint8Array<ArrayBuffer> });
    const path = `/v1/orders/${order}/messages`;
    const seen: number[] = [];
    let after = 0;
    let pages = 0;
    for (;;) {
      const page = await send(n, 'get /v1/orders/:order/messages', sign(w.consignee, 'GET', path, [order], { query: `after=${after}&limit=256`, relayId: 'cluster-1' }));
      expect(page.status).toBe(200);
      const messages = page.json.messages as Array<{ seq: number; envelope: string }>;
      const raw = messages.reduce((s, m) => s + Buffer.from(m.envelope, 'base64').byteLength, 0);
      expect(raw).toBeLessThanOrEqual(HISTORY_BYTES_BUDGET);
      seen.push(...messages.map((m) => m.seq));
      pages++;
      const next = page.json.nextAfterSeq as number;
      if (next >= (page.json.headSeq as number)) break;
      expect(next).toBeGreaterThan(after);
      after = next;
    }
    expect(pages).toBeGreaterThan(1);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });
});
