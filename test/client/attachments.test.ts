/**
 * Attachments through a real relay: small ones over blob frames, large ones over
 * signed HTTP; verified and decrypted on the other side, with progress.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningRelay } from '../../server/index.ts';
import type { SealRelayClient } from '../../client/client.ts';
import { makeClient, makeWorld, record, rosterFor, startTestRelay, waitFor, type World } from './world.ts';

let w: World;
let relay: RunningRelay;
const clients: SealRelayClient[] = [];
let n = 0;

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w);
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await relay?.close();
});

async function pair() {
  const id = `AT-${process.pid}-${++n}`;
  const courier = await makeClient(relay, w, w.courier);
  const consignee = await makeClient(relay, w, w.consignee);
  clients.push(courier, consignee);
  await courier.putRoster(id, rosterFor(w, id, [w.courier, w.consignee]).bytes);
  return { id, courier, consignee };
}

const photo = (size: number) => new Uint8Array(size).map((_, i) => (i * 7919) & 0xff);

describe('attachments', () => {
  it('a small photo travels as a blob frame and comes back identical, with progress in every phase', async () => {
    const { id, courier, consignee } = await pair();
    const phases = new Set<string>();
    const ref = await courier.uploadAttachment(id, photo(20_000), { mimeType: 'image/jpeg', name: 'dent.jpg' }, (p) => phases.add(p));
    const oc = await courier.openOrder(id);
    const on = record(await consignee.openOrder(id));
    await oc.send('exception', { type: 'damaged', description: 'crushed corner', evidence: [ref] });
    await waitFor(() => on.messages.length === 1);
    const m = on.messages[0]!;
    if (m.kind !== 'exception') throw new Error('expected an exception');
    const back = await consignee.downloadAttachment(m.body.evidence![0]!, (p) => phases.add(p));
    expect(Buffer.from(back).equals(Buffer.from(photo(20_000)))).toBe(true);
    expect([...phases].sort()).toEqual(['decrypt', 'download', 'encrypt', 'upload']);
  });

  it('a large photo goes over signed HTTP', async () => {
    const { id, courier, consignee } = await pair();
    const big = photo(400_000);
    const ref = await courier.uploadAttachment(id, big, { mimeType: 'image/jpeg' });
    expect(ref.ciphertextSize).toBeGreaterThan(128 * 1024);
    // Buffer.equals: a deep toEqual over 400k elements takes seconds.
    expect(Buffer.from(await consignee.downloadAttachment(ref)).equals(Buffer.from(big))).toBe(true);
  });

  it('signs large transfers for the relay it talks to, learning its id from /healthz before the first connection', async () => {
    const { id, courier } = await pair();
    // Never connected: no challenge has named the relay yet, so the id comes from GET /healthz.
    const offline = await makeClient(relay, w, w.consignee, { connect: false });
    clients.push(offline);
    expect(offline.connection.relayId).toBeUndefined();
    const big = photo(300_000);
    const ref = await offline.uploadAttachment(id, big, { mimeType: 'image/jpeg' });
    expect(ref.ciphertextSize).toBeGreaterThan(128 * 1024);
    expect(Buffer.from(await courier.downloadAttachment(ref)).equals(Buffer.from(big))).toBe(true);
    // The connected one signs for the relay that challenged it.
    expect(courier.connection.relayId).toBe(relay.config.relayId);
  });

  it('surfaces the relay refusing a transfer signed for another relay as AUTH_FAILED', async () => {
    const { id } = await pair();
    const misconfigured = await makeClient(relay, w, w.courier, { relayId: 'another-relay', connect: false });
    clients.push(misconfigured);
    await expect(misconfigured.uploadAttachment(id, photo(300_000), { mimeType: 'image/jpeg' })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('refuses a blob that is not the one the message names', async () => {
    const { id, courier, consignee } = await pair();
    const a = await courier.uploadAttachment(id, photo(1000), { mimeType: 'image/png' });
    const b = await courier.uploadAttachment(id, photo(1001), { mimeType: 'image/png' });
    await expect(consignee.downloadAttachment({ ...a, blobId: b.blobId })).rejects.toMatchObject({ code: 'ATTACHMENT_HASH_MISMATCH' });
  });
});
