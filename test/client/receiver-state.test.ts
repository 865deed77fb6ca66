/**
 * Receiver state across restarts and sender-key-id squatting, against a tampering
 * relay: an envelope opened before a restart is a REPLAY after it (the sealed
 * ReceiverState/ChainTracker in storage), and another member's key package reusing
 * a sender's key id does not hide the genuine package.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OutboundSenderKey, createKeyPackages, decodeKeyPackageHeader, randomBytes } from '../../crypto/index.ts';
import type { RunningRelay } from '../../server/index.ts';
import type { SealRelayClient } from '../../client/client.ts';
import { MemoryStorage } from '../../client/storage/memory.ts';
import { TamperingRelay } from './tampering-relay.ts';
import { makeClient, makeWorld, record, rosterFor, startTestRelay, waitFor, type World } from './world.ts';

let w: World;
let relay: RunningRelay;
let evil: TamperingRelay;
const clients: SealRelayClient[] = [];
let n = 0;
const INBOX = (order: string) => `inbox/${order}`;

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w);
  evil = await TamperingRelay.start(relay.url);
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  evil.deliver = undefined;
  evil.keyPackages = undefined;
});
afterAll(async () => {
  await evil?.close();
  await relay?.close();
});

const texts = (ms: { kind: string; body: unknown }[]) => ms.map((m) => (m.kind === 'text' ? (m.body as { text: string }).text : m.kind));

describe('receiver state', () => {
  it('survives a restart: the relay re-delivering an opened envelope at a new seq is a REPLAY, not a message', async () => {
    const id = `RS-${process.pid}-${++n}`;
    const storage = new MemoryStorage();
    const shipper = await makeClient(relay, w, w.shipper);
    clients.push(shipper);
    await shipper.putRoster(id, rosterFor(w, id, [w.shipper, w.consignee]).bytes);
    const os = await shipper.openOrder(id);

    let first: Uint8Array<ArrayBuffer> | undefined;
    evil.deliver = (order, ms) => {
      if (order === id) first ??= ms[0]!.envelope;
      return ms;
    };
    const before = await makeClient(relay, w, w.consignee, { storage, url: evil.url });
    clients.push(before);
    const gotBefore = record(await before.openOrder(id));
    await (await os.send('text', { text: 'one' })).acked;
    await waitFor(() => gotBefore.messages.length === 1, 5000, 'message one');
    // The read position is durable (and, with it, the receiver state).
    const committed = async () => JSON.parse(new TextDecoder().decode((await storage.get(INBOX(id))) ?? new TextEncoder().encode('{}'))).committed;
    for (const end = Date.now() + 5000; (await committed()) !== 1 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    expect(await committed()).toBe(1);
    await before.close();

    // Restarted on the same storage; the relay swaps the next envelope for the first one.
    evil.deliver = (order, ms) => (order === id ? ms.map((m) => ({ ...m, envelope: first! })) : ms);
    const after = await makeClient(relay, w, w.consignee, { storage, url: evil.url });
    clients.push(after);
    const got = record(await after.openOrder(id));
    await (await os.send('text', { text: 'two' })).acked;
    await waitFor(() => got.warnings.length >= 1 || got.messages.length >= 1, 5000, 'the replayed envelope handled');
    expect(texts(got.messages)).toEqual([]);
    expect(got.warnings.map((x) => x.code)).toContain('REPLAY');
  });

  it("another member's key package squatting the sender's key id does not stop the sender's messages from opening", async () => {
    const id = `RS-${process.pid}-${++n}`;
    const r = rosterFor(w, id, [w.shipper, w.consignee, w.courier]);
    const shipper = await makeClient(relay, w, w.shipper);
    clients.push(shipper);
    await shipper.putRoster(id, r.bytes);
    const squats = new Map<string, Uint8Array>();
    // The courier (a member who may publish in the scope) reuses the shipper's key id; the relay serves its package first.
    evil.keyPackages = (f) => {
      if (f.order !== id) return f;
      const out: Uint8Array<ArrayBuffer>[] = [];
      for (const p of f.packages) {
        const h = decodeKeyPackageHeader(p);
        if (h.senderDeviceId === w.shipper.keys.deviceId) {
          const k = Buffer.from(h.senderKeyId).toString('hex') + h.scope;
          if (!squats.has(k)) {
            const sk = OutboundSenderKey.fromSecret({ orderId: id, epoch: h.epoch, scope: h.scope, senderDeviceId: w.courier.keys.deviceId, senderKeyId: h.senderKeyId, chainKey: randomBytes(32) });
            squats.set(k, createKeyPackages(sk, w.courier.keys, r.roster).find((x) => x.recipientDeviceId === w.consignee.keys.deviceId)!.bytes);
          }
          out.push(new Uint8Array(squats.get(k)!) as Uint8Array<ArrayBuffer>);
        }
        out.push(p);
      }
      return { ...f, packages: out };
    };
    const consignee = await makeClient(relay, w, w.consignee, { url: evil.url });
    clients.push(consignee);
    const [os, oc] = await Promise.all([shipper.openOrder(id), consignee.openOrder(id)]);
    const got = record(oc);
    for (const text of ['one', 'two']) await (await os.send('text', { text })).acked;
    await waitFor(() => got.messages.length + got.warnings.length >= 2, 5000, 'two messages');
    expect(squats.size).toBeGreaterThan(0);
    expect(texts(got.messages)).toEqual(['one', 'two']);
    expect(got.warnings).toEqual([]);
  });
});
