import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signChallenge } from '../../crypto/index.ts';
import { HTTP_AUTH_HEADERS, HTTP_CLIENT_MSG_ID_HEADER, HTTP_CONTENT_SHA256_HEADER, httpRequestTranscript, legacyHttpRequestTranscript } from '../../protocol/http-auth.ts';
import type { RunningRelay } from '../../server/index.ts';
import { Sender, authed, makeParty, makeWorld, rosterFor, startTestRelay, subscribe, type Party, type World } from './helpers.ts';

let w: World;
let relay: RunningRelay;
const order = 'order-http';
let sender: Sender;
let relayId: string;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

interface SignOptions {
  body?: Uint8Array;
  headers?: Record<string, string>;
  timestamp?: number;
  nonce?: string;
  signer?: Party;
  /** Sign the legacy v1 transcript instead of v2. */
  legacy?: boolean;
}

/** Build the headers of a signed request (v2, for the relay's id from /healthz), as a back-end would. */
function signedHeaders(p: Party, method: string, pathAndQuery: string, o: SignOptions = {}): Record<string, string> {
  const timestamp = o.timestamp ?? Date.now();
  const nonce = o.nonce ?? randomBytes(16).toString('base64url');
  const parts = { method, pathAndQuery, timestamp, nonce, bodySha256: sha256(o.body ?? new Uint8Array()) };
  const transcript = o.legacy ? legacyHttpRequestTranscript(parts) : httpRequestTranscript({ ...parts, relayId, headers: o.headers });
  return {
    [HTTP_AUTH_HEADERS.certificate]: Buffer.from(p.cert).toString('base64'),
    [HTTP_AUTH_HEADERS.timestamp]: String(timestamp),
    [HTTP_AUTH_HEADERS.nonce]: nonce,
    [HTTP_AUTH_HEADERS.signature]: Buffer.from(signChallenge((o.signer ?? p).keys, transcript)).toString('base64'),
    ...o.headers,
  };
}

function call(p: Party, method: string, pathAndQuery: string, o: SignOptions = {}) {
  return fetch(`${relay.httpUrl}${pathAndQuery}`, { method, headers: signedHeaders(p, method, pathAndQuery, o), body: o.body as BodyInit | undefined });
}

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w);
  relayId = ((await (await fetch(`${relay.httpUrl}/healthz`)).json()) as { relayId: string }).relayId;
  const r = rosterFor(w, order, [w.shipper, w.consignee, w.courier, w.dispatcher]);
  const res = await call(w.dispatcher, 'PUT', `/v1/orders/${order}/roster`, { body: r.bytes });
  expect(res.status).toBe(200);
  sender = new Sender(w.courier, r.roster);
});
afterAll(() => relay.close());

describe('HTTP API', () => {
  it('serves /healthz, /readyz and Prometheus /metrics', async () => {
    expect((await fetch(`${relay.httpUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${relay.httpUrl}/readyz`)).json()).toMatchObject({ ok: true, store: 'up' });
    const metrics = await (await fetch(`${relay.httpUrl}/metrics`)).text();
    for (const name of ['sealrelay_connections', 'sealrelay_frames_in_total', 'sealrelay_publishes_total', 'sealrelay_deliveries_total', 'sealrelay_dedup_hits_total', 'sealrelay_store_latency_seconds', 'sealrelay_backpressure_pauses_total', 'sealrelay_errors_total']) {
      expect(metrics).toContain(name);
    }
    expect((await fetch(`${relay.httpUrl}/nope`)).status).toBe(404);
  });

  it('publishes a signed envelope idempotently and a WebSocket subscriber receives it', async () => {
    const ws = await authed(relay, w.consignee);
    await subscribe(ws, order, 0);
    const body = sender.seal('location', '52.52,13.40');
    const path = `/v1/orders/${order}/messages`;
    const first = await call(w.courier, 'POST', path, { body, headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'gw-1' } });
    expect(first.status).toBe(200);
    const ack = (await first.json()) as { seq: number; duplicate: boolean };
    expect(ack.duplicate).toBe(false);
    const again = await call(w.courier, 'POST', path, { body, headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'gw-1' } });
    expect(await again.json()).toMatchObject({ seq: ack.seq, duplicate: true });
    expect((await ws.deliveries(order, 1)).map((m) => m.seq)).toEqual([ack.seq]);
    ws.close();
  });

  it('refuses unsigned, replayed, stale, tampered and wrongly-signed requests', async () => {
    const path = `/v1/orders/${order}/messages`;
    expect((await fetch(`${relay.httpUrl}${path}?after=0`)).status).toBe(401);
    const headers = signedHeaders(w.consignee, 'GET', `${path}?after=0`);
    expect((await fetch(`${relay.httpUrl}${path}?after=0`, { headers })).status).toBe(200);
    const replay = await fetch(`${relay.httpUrl}${path}?after=0`, { headers });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: 'AUTH_FAILED', detail: expect.stringMatching(/replay/) });
    expect((await call(w.consignee, 'GET', `${path}?after=0`, { timestamp: Date.now() - 10 * 60_000 })).status).toBe(401);
    const tampered = signedHeaders(w.consignee, 'GET', `${path}?after=0`);
    expect((await fetch(`${relay.httpUrl}${path}?after=1`, { headers: tampered })).status).toBe(401);
    expect((await call(w.consignee, 'GET', `${path}?after=0`, { signer: w.shipper })).status).toBe(401);
  });

  it('refuses a legacy v1 signature with AUTH_FAILED by default, and a v2 one made for another relay', async () => {
    const path = `/v1/orders/${order}/messages?after=0`;
    const v1 = await call(w.consignee, 'GET', path, { legacy: true });
    expect(v1.status).toBe(401);
    expect(await v1.json()).toMatchObject({ error: 'AUTH_FAILED', detail: expect.stringMatching(/transcript v2/) });
    const timestamp = Date.now();
    const nonce = randomBytes(16).toString('base64url');
    const foreign = httpRequestTranscript({ method: 'GET', pathAndQuery: path, timestamp, nonce, bodySha256: sha256(new Uint8Array()), relayId: 'another-relay' });
    const res = await fetch(`${relay.httpUrl}${path}`, {
      headers: {
        [HTTP_AUTH_HEADERS.certificate]: Buffer.from(w.consignee.cert).toString('base64'),
        [HTTP_AUTH_HEADERS.timestamp]: String(timestamp),
        [HTTP_AUTH_HEADERS.nonce]: nonce,
        [HTTP_AUTH_HEADERS.signature]: Buffer.from(signChallenge(w.consignee.keys, foreign)).toString('base64'),
      },
    });
    expect(res.status).toBe(401);
    expect(relayId).toBe('test-relay');
  });

  it('enforces the same policy as the socket: a courier may not publish proof_of_delivery', async () => {
    const res = await call(w.courier, 'POST', `/v1/orders/${order}/messages`, { body: sender.seal('proof_of_delivery'), headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'pod' } });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'ROLE_FORBIDDEN' });
  });

  it('returns history with the visibility of a subscription', async () => {
    const shipperRoster = (await (await call(w.shipper, 'GET', `/v1/orders/${order}/rosters`)).json()) as { rosters: string[] };
    expect(shipperRoster.rosters).toHaveLength(1);
    const res = await call(w.consignee, 'GET', `/v1/orders/${order}/messages?after=0&limit=50`);
    const h = (await res.json()) as { messages: Array<{ seq: number; prev: number; envelope: string }>; headSeq: number };
    expect(h.messages.length).toBeGreaterThan(0);
    expect(h.messages[0]!.prev).toBe(0);
    expect(Buffer.from(h.messages[0]!.envelope, 'base64').length).toBeGreaterThan(100);
    const outsider = await makeWorld();
    const res2 = await fetch(`${relay.httpUrl}/v1/orders/${order}/messages`, { headers: signedHeaders(outsider.courier, 'GET', `/v1/orders/${order}/messages`) });
    expect(res2.status).toBe(401); // untrusted authority
  });

  it('stores and serves key packages only to their recipient', async () => {
    const r = rosterFor(w, order, [w.shipper, w.consignee, w.courier, w.dispatcher]);
    const packages = new Sender(w.shipper, r.roster, 'commercial').keyPackages();
    const put = await call(w.shipper, 'POST', `/v1/orders/${order}/key-packages`, { body: Buffer.from(JSON.stringify({ packages: packages.map((p) => Buffer.from(p).toString('base64')) })) });
    expect(await put.json()).toMatchObject({ stored: 1 });
    expect(await (await call(w.dispatcher, 'GET', `/v1/orders/${order}/key-packages`)).json()).toMatchObject({ packages: [expect.any(String)] });
    expect(await (await call(w.consignee, 'GET', `/v1/orders/${order}/key-packages`)).json()).toMatchObject({ packages: [] });
  });

  it('uploads and downloads a blob with a SHA-256 check, for members only', async () => {
    const data = randomBytes(100_000);
    const bad = await call(w.courier, 'POST', `/v1/orders/${order}/blobs`, { body: data, headers: { [HTTP_CONTENT_SHA256_HEADER]: sha256(randomBytes(4)).toString('hex') } });
    expect(bad.status).toBe(422);
    const ok = await call(w.courier, 'POST', `/v1/orders/${order}/blobs`, { body: data, headers: { [HTTP_CONTENT_SHA256_HEADER]: sha256(data).toString('hex') } });
    expect(ok.status).toBe(201);
    const { blobId } = (await ok.json()) as { blobId: string };
    const got = await call(w.consignee, 'GET', `/v1/blobs/${blobId}`);
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
    // A trusted device outside the order gets the same answer as for a missing blob.
    const notYours = makeParty(w.authority, 'support');
    expect((await call(notYours, 'GET', `/v1/blobs/${blobId}`)).status).toBe(404);
  });

  it('refuses a body over the route limit with 413 before reading it', async () => {
    const res = await call(w.courier, 'POST', `/v1/orders/${order}/messages`, { body: new Uint8Array(200 * 1024), headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'big' } });
    expect(res.status).toBe(413);
  });
});

