/**
 * The SDK against a real relay (startRelay, uWS, memory store) over real sockets.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningRelay } from '../../server/index.ts';
import type { SealRelayClient } from '../../client/client.ts';
import { SealRelayError } from '../../client/errors.ts';
import { makeClient, makeWorld, record, rosterFor, startTestRelay, waitFor, type World } from './world.ts';

let w: World;
let relay: RunningRelay;
const clients: SealRelayClient[] = [];
let n = 0;
const newOrder = () => `SO-${process.pid}-${++n}`;

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w);
});
// A device may hold only MAX_CONNECTIONS_PER_DEVICE sockets: close each test's clients.
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await relay?.close();
});

async function party(p: keyof Pick<World, 'shipper' | 'consignee' | 'courier' | 'dispatcher'>) {
  const c = await makeClient(relay, w, w[p]);
  clients.push(c);
  return c;
}

/** An order whose epoch-1 roster has all four parties, put by the shipper. */
async function orderWithEveryone() {
  const id = newOrder();
  const [shipper, consignee, courier, dispatcher] = await Promise.all([party('shipper'), party('consignee'), party('courier'), party('dispatcher')]);
  const r1 = rosterFor(w, id, [w.shipper, w.consignee, w.courier, w.dispatcher]);
  await shipper.putRoster(id, r1.bytes);
  return { id, shipper, consignee, courier, dispatcher, r1 };
}

describe('SDK end to end against a real relay', () => {
  it('parties exchange typed messages, each delivered once and in sequence order to everyone', async () => {
    const { id, shipper, consignee, courier, dispatcher } = await orderWithEveryone();
    const [os, oc, ok] = await Promise.all([shipper.openOrder(id), consignee.openOrder(id), courier.openOrder(id)]);
    const atConsignee = record(oc);
    const atShipper = record(os);
    await os.send('order', { action: 'details', reference: 'SO-1', pickup: { line: 'Dock 4, Shenzhen' }, dropoff: { line: '88 Nanjing Rd, Shanghai' } });
    const { acked } = await ok.send('status', { status: 'picked_up' });
    expect(await acked).toBeGreaterThan(0);
    await ok.send('location', { lat: 31.23, lng: 121.47, at: Date.now() });
    await oc.send('text', { text: 'please call before delivery' });
    await waitFor(() => atConsignee.messages.length === 4 && atShipper.messages.length === 4, 10_000, 'four messages at both');
    expect(atConsignee.warnings).toEqual([]);
    const kinds = atConsignee.messages.map((m) => m.kind).sort();
    expect(kinds).toEqual(['location', 'order', 'status', 'text']);
    const seqs = atConsignee.messages.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(atShipper.messages.map((m) => m.seq)).toEqual(seqs);
    // Opening twice gives the same session; a late reader can start anywhere, here after the second message.
    expect(await consignee.openOrder(id)).toBe(oc);
    const reread = await dispatcher.openOrder(id, { afterSeq: seqs[1]! });
    const it = reread.messages();
    const replayed = [(await it.next()).value!.seq, (await it.next()).value!.seq];
    expect(replayed).toEqual(seqs.slice(2));
    const status = atConsignee.messages.find((m) => m.kind === 'status');
    expect(status?.kind === 'status' && status.body.status).toBe('picked_up');
    expect(status?.sender.role).toBe('courier');
    expect(atConsignee.messages.find((m) => m.kind === 'text')?.self).toBe(true);
  });

  it('keeps commercial terms from the courier: the relay does not deliver them, and the courier could not open them anyway', async () => {
    const { id, shipper, courier, dispatcher } = await orderWithEveryone();
    const [os, ok, od] = await Promise.all([shipper.openOrder(id), courier.openOrder(id), dispatcher.openOrder(id)]);
    const atCourier = record(ok);
    const atDispatcher = record(od);
    const sent = await os.send('order', {
      action: 'details', reference: 'SO-2', pickup: { line: 'A' }, dropoff: { line: 'B' }, price: { amount: '129.50', currency: 'CNY' },
    });
    expect(sent.scope).toBe('commercial');
    const commercialEnvelope = (shipper.outbox.get(sent.clientMsgId) as { envelope: Uint8Array } | undefined)?.envelope;
    const seq = await sent.acked;
    await os.send('text', { text: 'shared note' });
    await waitFor(() => atDispatcher.messages.length === 2 && atCourier.messages.length === 1, 10_000, 'dispatcher 2, courier 1');
    expect(atDispatcher.messages[0]).toMatchObject({ kind: 'order', scope: 'commercial' });
    expect(atCourier.messages.map((m) => m.kind)).toEqual(['text']);
    // A relay that leaked the envelope to the courier would still leak nothing.
    expect(commercialEnvelope).toBeDefined();
    ok.onDeliver([{ seq: seq + 1000, prev: atCourier.messages[0]!.seq, envelope: commercialEnvelope! as Uint8Array<ArrayBuffer>, at: 0 }]);
    await waitFor(() => atCourier.warnings.length === 1, 5000, 'a warning at the courier');
    // No key package was ever sealed to the courier for the commercial scope.
    expect(atCourier.warnings[0]!.code).toBe('KEY_PACKAGE_MISSING');
    expect(atCourier.messages).toHaveLength(1);
  });

  it('refuses locally what the policy forbids, before anything is stored or sent', async () => {
    const { id, courier } = await orderWithEveryone();
    const ok = await courier.openOrder(id);
    const before = courier.outbox.size;
    await expect(ok.send('proof_of_delivery', { receivedBy: 'me', at: Date.now() })).rejects.toMatchObject({ code: 'POLICY_DENIED' });
    await expect(ok.send('status', { status: 'teleported' as never })).rejects.toBeInstanceOf(SealRelayError);
    await expect(ok.send('status', { status: 'teleported' as never })).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
    expect(courier.outbox.size).toBe(before);
  });

  it('surfaces a tampered or replayed envelope as a warning and never hands it to the application', async () => {
    const { id, shipper, consignee } = await orderWithEveryone();
    const [os, oc] = await Promise.all([shipper.openOrder(id), consignee.openOrder(id)]);
    const got = record(oc);
    const sent = await os.send('text', { text: 'original' });
    const envelope = (shipper.outbox.get(sent.clientMsgId) as { envelope: Uint8Array }).envelope.slice();
    const seq = await sent.acked;
    await waitFor(() => got.messages.length === 1, 5000, 'the original');
    const flipped = envelope.slice();
    flipped[flipped.length - 80]! ^= 0x01;
    oc.onDeliver([
      { seq: seq + 1, prev: seq, envelope: flipped as Uint8Array<ArrayBuffer>, at: 0 },
      { seq: seq + 2, prev: seq + 1, envelope: envelope as Uint8Array<ArrayBuffer>, at: 0 },
    ]);
    await waitFor(() => got.warnings.length === 2, 5000, 'two warnings');
    expect(got.warnings.map((x) => x.code)).toEqual(['BAD_SIGNATURE', 'REPLAY']);
    expect(got.messages.map((m) => m.body)).toEqual([{ text: 'original' }]);
  });

  it('reports a relay that drops one sender\'s message as a chain gap, and a late one as a reorder', async () => {
    const { id, shipper, consignee } = await orderWithEveryone();
    const [os, oc] = await Promise.all([shipper.openOrder(id), consignee.openOrder(id)]);
    const got = record(oc);
    await (await os.send('text', { text: 'warm-up' })).acked; // the consignee learns the sender key
    await waitFor(() => got.messages.length === 1);
    consignee.offline(); // from here on only the test feeds the consignee
    const env: Uint8Array[] = [];
    for (const text of ['one', 'two', 'three']) {
      const sent = await os.send('text', { text });
      env.push((shipper.outbox.get(sent.clientMsgId) as { envelope: Uint8Array }).envelope.slice());
      await sent.acked;
    }
    const base = got.messages[0]!.seq;
    const at = (seq: number, prev: number, e: Uint8Array) => ({ seq, prev, envelope: e as Uint8Array<ArrayBuffer>, at: 0 });
    oc.onDeliver([at(base + 10, base, env[0]!), at(base + 11, base + 10, env[2]!)]);
    await waitFor(() => got.messages.length === 3, 5000, 'one and three');
    oc.onDeliver([at(base + 12, base + 11, env[1]!)]);
    await waitFor(() => got.messages.length === 4, 5000, 'the late two');
    expect(got.warnings.map((x) => x.code)).toEqual(['CHAIN_GAP', 'CHAIN_REORDER']);
    expect(got.warnings[0]).toMatchObject({ sender: w.shipper.keys.deviceId, seq: base + 11 });
  });
});
