/**
 * A relay that tampers — flips bits, replays, drops or reorders one sender's
 * messages, serves an old roster — against the SDK: every case is rejected or
 * reported with a typed error or warning, and nothing forged or replayed reaches
 * the application.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveredMessage } from '../../protocol/index.ts';
import type { RunningRelay } from '../../server/index.ts';
import type { SealRelayClient } from '../../client/client.ts';
import { MemoryStorage } from '../../client/storage/memory.ts';
import { TamperingRelay } from './tampering-relay.ts';
import { makeClient, makeParty, makeWorld, record, rosterFor, startTestRelay, waitFor, type World } from './world.ts';

let w: World;
let relay: RunningRelay;
let evil: TamperingRelay;
const clients: SealRelayClient[] = [];
let n = 0;

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w);
  evil = await TamperingRelay.start(relay.url);
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  evil.deliver = undefined;
  evil.rosters = undefined;
});
afterAll(async () => {
  await evil?.close();
  await relay?.close();
});

/**
 * The shipper talks to the honest relay; the consignee's connection goes through
 * the tampering one. The shipper sends texts one..four; `hook` sees each delivery
 * to the consignee as (message, its number 1..4).
 */
async function conversation(hook: (m: DeliveredMessage, nth: number, held: DeliveredMessage[]) => DeliveredMessage[]) {
  const id = `TM-${process.pid}-${++n}`;
  const shipper = await makeClient(relay, w, w.shipper);
  const consignee = await makeClient(relay, w, w.consignee, { url: evil.url });
  clients.push(shipper, consignee);
  await shipper.putRoster(id, rosterFor(w, id, [w.shipper, w.consignee]).bytes);
  const [os, oc] = await Promise.all([shipper.openOrder(id), consignee.openOrder(id)]);
  const got = record(oc);
  let nth = 0;
  const held: DeliveredMessage[] = [];
  evil.deliver = (order, ms) => (order === id ? ms.flatMap((m) => hook(m, ++nth, held)) : ms);
  for (const text of ['one', 'two', 'three', 'four']) await (await os.send('text', { text })).acked;
  return got;
}

const texts = (got: Awaited<ReturnType<typeof conversation>>) => got.messages.map((m) => (m.kind === 'text' ? m.body.text : m.kind));

describe('a tampering relay', () => {
  it('flips a bit in one envelope: BAD_SIGNATURE, and the hole it leaves in the sender chain as CHAIN_GAP; the forgery is never delivered', async () => {
    const got = await conversation((m, nth) => {
      if (nth !== 2) return [m];
      const flipped = m.envelope.slice();
      flipped[flipped.length - 80]! ^= 0x04; // inside the ciphertext: only the signature can tell
      return [{ ...m, envelope: flipped }];
    });
    await waitFor(() => got.messages.length === 3 && got.warnings.length === 2, 5000, 'three messages and two warnings');
    expect(texts(got)).toEqual(['one', 'three', 'four']);
    expect(got.warnings.map((x) => x.code)).toEqual(['BAD_SIGNATURE', 'CHAIN_GAP']);
  });

  it('replays an earlier envelope in place of a new one: a REPLAY warning, and the missing one shows as a chain gap', async () => {
    let first: Uint8Array<ArrayBuffer> | undefined;
    const got = await conversation((m, nth) => {
      if (nth === 1) first = m.envelope;
      if (nth === 3) m.envelope = first!;
      return [m];
    });
    await waitFor(() => got.messages.length === 3 && got.warnings.length === 2, 5000, 'three messages and two warnings');
    expect(texts(got)).toEqual(['one', 'two', 'four']);
    expect(got.warnings.map((x) => x.code)).toEqual(['REPLAY', 'CHAIN_GAP']);
  });

  it('drops one of a sender\'s messages and hides it in the sequence: a CHAIN_GAP warning names the sender', async () => {
    const got = await conversation((m, nth) => (nth === 2 ? [] : [m]));
    await waitFor(() => got.messages.length === 3 && got.warnings.length === 1, 5000, 'three messages and a warning');
    expect(texts(got)).toEqual(['one', 'three', 'four']);
    expect(got.warnings[0]).toMatchObject({ code: 'CHAIN_GAP', sender: w.shipper.keys.deviceId });
  });

  it('swaps two of a sender\'s messages: both are authentic and delivered, with CHAIN_GAP then CHAIN_REORDER', async () => {
    const got = await conversation((m, nth, held) => {
      if (nth === 2) {
        held.push(m);
        return [];
      }
      if (nth === 3) {
        const two = held.pop()!;
        return [{ ...m, seq: two.seq }, { ...two, seq: m.seq }];
      }
      return [m];
    });
    await waitFor(() => got.messages.length === 4, 5000, 'four messages');
    expect(texts(got)).toEqual(['one', 'three', 'two', 'four']);
    expect(got.warnings.map((x) => x.code)).toEqual(['CHAIN_GAP', 'CHAIN_REORDER']);
  });

  it('serves an old roster chain to a device that saw a newer one: opening the order fails with ROSTER_ROLLBACK', async () => {
    const id = `TM-${process.pid}-${++n}`;
    const storage = new MemoryStorage();
    const shipper = await makeClient(relay, w, w.shipper);
    clients.push(shipper);
    const r1 = rosterFor(w, id, [w.shipper, w.courier]);
    await shipper.putRoster(id, r1.bytes);
    await shipper.putRoster(id, rosterFor(w, id, [w.shipper, makeParty(w.authority, 'courier')], r1.roster).bytes);
    const honest = await makeClient(relay, w, w.shipper, { storage });
    clients.push(honest);
    expect((await honest.openOrder(id)).roster.epoch).toBe(2);
    honest.close();

    evil.rosters = (f) => ({ ...f, rosters: f.rosters.slice(0, 1) });
    const fooled = await makeClient(relay, w, w.shipper, { storage, url: evil.url });
    clients.push(fooled);
    await expect(fooled.openOrder(id)).rejects.toMatchObject({ code: 'ROSTER_ROLLBACK' });
  });
});
