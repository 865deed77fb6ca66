/**
 * The load generator's signed HTTP requests (loadtest/http/signing.ts) against a real
 * relay with the default configuration, which refuses legacy v1 signatures.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOADTEST_RELAY_ID, signedHeaders } from '../../loadtest/http/signing.ts';
import type { LoadDevice } from '../../loadtest/targets/fixtures.ts';
import { HTTP_CLIENT_MSG_ID_HEADER, HTTP_CONTENT_SHA256_HEADER } from '../../protocol/http-auth.ts';
import type { RunningRelay } from '../../server/index.ts';
import { makeWorld, rosterFor, Sender, startTestRelay, type Party, type World } from '../integration/helpers.ts';

let w: World;
let relay: RunningRelay;
let sender: Sender;
const order = 'order-loadtest-http';
const device = (p: Party): LoadDevice => ({ keys: p.keys, deviceId: p.keys.deviceId, certificate: p.cert, role: p.role });

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w, { relayId: LOADTEST_RELAY_ID });
  const r = rosterFor(w, order, [w.shipper, w.courier, w.dispatcher]);
  const path = `/v1/orders/${order}/roster`;
  const put = await fetch(relay.httpUrl + path, { method: 'PUT', body: Buffer.from(r.bytes), headers: signedHeaders(device(w.dispatcher), 'PUT', path, r.bytes) });
  expect(put.status).toBe(200);
  sender = new Sender(w.courier, r.roster);
});
afterAll(() => relay?.close());

describe('load-test HTTP signing (transcript v2)', () => {
  it('publishes with its client-msg-id signed, and a changed client-msg-id is refused', async () => {
    const path = `/v1/orders/${order}/messages`;
    const body = sender.seal('status');
    const headers = signedHeaders(device(w.courier), 'POST', path, body, { headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'lt-1' } });
    expect(headers[HTTP_CLIENT_MSG_ID_HEADER]).toBe('lt-1');
    const ok = await fetch(relay.httpUrl + path, { method: 'POST', body: Buffer.from(body), headers });
    expect(ok.status).toBe(200);
    const again = signedHeaders(device(w.courier), 'POST', path, body, { headers: { [HTTP_CLIENT_MSG_ID_HEADER]: 'lt-2' } });
    const altered = await fetch(relay.httpUrl + path, { method: 'POST', body: Buffer.from(body), headers: { ...again, [HTTP_CLIENT_MSG_ID_HEADER]: 'lt-evil' } });
    expect(altered.status).toBe(401);
  });

  it('uploads a blob declaring and signing its SHA-256 by itself, and reads history and the blob back', async () => {
    const blob = randomBytes(4096);
    const path = `/v1/orders/${order}/blobs`;
    const headers = signedHeaders(device(w.courier), 'POST', path, blob);
    expect(headers[HTTP_CONTENT_SHA256_HEADER]).toBe(createHash('sha256').update(blob).digest('hex'));
    const put = await fetch(relay.httpUrl + path, { method: 'POST', body: blob, headers });
    expect(put.status).toBe(201);
    const { blobId } = (await put.json()) as { blobId: string };
    const getPath = `/v1/blobs/${blobId}`;
    const got = await fetch(relay.httpUrl + getPath, { headers: signedHeaders(device(w.shipper), 'GET', getPath) });
    expect(Buffer.from(await got.arrayBuffer()).equals(blob)).toBe(true);
    const historyPath = `/v1/orders/${order}/messages?after=0&limit=10`;
    expect((await fetch(relay.httpUrl + historyPath, { headers: signedHeaders(device(w.shipper), 'GET', historyPath) })).status).toBe(200);
  });

  it('binds each request to the relay: one signed for another relayId is refused', async () => {
    const path = `/v1/orders/${order}/messages?after=0`;
    const res = await fetch(relay.httpUrl + path, { headers: signedHeaders(device(w.shipper), 'GET', path, undefined, { relayId: 'another-relay' }) });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'AUTH_FAILED' });
  });
});
