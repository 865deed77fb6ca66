/**
 * Delivery guarantees of the SDK against a real relay when the network and the
 * process misbehave: drops, outages, restarts, roster changes.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ToxicProxy } from '../../loadtest/net/proxy.ts';
import type { RunningRelay } from '../../server/index.ts';
import type { SealRelayClient } from '../../client/client.ts';
import { FileStorage } from '../../client/storage/file.ts';
import { MemoryStorage } from '../../client/storage/memory.ts';
import type { ReceivedMessage } from '../../client/order.ts';
import { CuttableTransport, makeClient, makeParty, makeWorld, record, rosterFor, startTestRelay, waitFor, type Party, type World } from './world.ts';

let w: World;
let relay: RunningRelay;
const clients: SealRelayClient[] = [];
const dirs: string[] = [];
let n = 0;
const newOrder = () => `RS-${process.pid}-${++n}`;

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
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function client(p: Party, over: Parameters<typeof makeClient>[3] = {}) {
  const c = await makeClient(relay, w, p, over);
  clients.push(c);
  return c;
}

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sdk-'));
  dirs.push(d);
  return d;
}

const texts = (ms: ReceivedMessage[]) => ms.map((m) => (m.kind === 'text' ? m.body.text : `<${m.kind}>`));

describe('SDK delivery under failure', () => {
  it('resumes with its ticket after a drop, without signing again', async () => {
    const transport = new CuttableTransport();
    const c = await client(w.shipper, { transport });
    const welcomes: boolean[] = [];
    c.connection.on('welcome', (f) => welcomes.push(f.resumed));
    await waitFor(() => welcomes.length === 1);
    transport.cut();
    await waitFor(() => welcomes.length === 2, 5000, 'second welcome');
    expect(welcomes).toEqual([false, true]);
    expect(c.state).toBe('connected');
  });

  it('delivers what was sent during an outage once, in order, when the network returns', async () => {
    const id = newOrder();
    const [a, b] = await Promise.all([client(w.shipper), client(w.consignee)]);
    await a.putRoster(id, rosterFor(w, id, [w.shipper, w.consignee]).bytes);
    const [oa, ob] = await Promise.all([a.openOrder(id), b.openOrder(id)]);
    const got = record(ob);
    a.offline();
    for (let i = 0; i < 20; i++) await oa.send('text', { text: `m${i}` });
    expect(a.pendingCount(id)).toBe(20);
    await new Promise((r) => setTimeout(r, 100));
    expect(got.messages).toHaveLength(0);
    a.online();
    await waitFor(() => got.messages.length === 20, 10_000, '20 messages');
    expect(texts(got.messages)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    await waitFor(() => a.pendingCount(id) === 0, 5000, 'outbox drained');
  });

  it('hands every message over exactly once and in order while both parties keep losing their connections', async () => {
    const id = newOrder();
    const ta = new CuttableTransport();
    const tb = new CuttableTransport();
    const [a, b] = await Promise.all([client(w.shipper, { transport: ta }), client(w.consignee, { transport: tb })]);
    await a.putRoster(id, rosterFor(w, id, [w.shipper, w.consignee]).bytes);
    const [oa, ob] = await Promise.all([a.openOrder(id), b.openOrder(id)]);
    const got = record(ob);
    const total = 150;
    const chaos = setInterval(() => (Math.random() < 0.5 ? ta : tb).cut(), 40);
    try {
      for (let i = 0; i < total; i++) {
        await oa.send('text', { text: `m${i}` });
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      await waitFor(() => got.messages.length >= total, 30_000, `${total} messages`);
    } finally {
      clearInterval(chaos);
    }
    await new Promise((r) => setTimeout(r, 200)); // anything extra would show up now
    expect(texts(got.messages)).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
    expect(got.warnings).toEqual([]);
    expect(ta.opened + tb.opened).toBeGreaterThan(4);
  });

  it('after a process restart, sends what the file outbox still holds exactly once', async () => {
    const id = newOrder();
    const dir = await tmp();
    const b = await client(w.consignee);
    const first = await client(w.shipper, { storage: new FileStorage(dir) });
    await first.putRoster(id, rosterFor(w, id, [w.shipper, w.consignee]).bytes);
    const [oa, ob] = await Promise.all([first.openOrder(id), b.openOrder(id)]);
    const got = record(ob);
    first.offline();
    for (let i = 0; i < 5; i++) await oa.send('text', { text: `queued ${i}` });
    first.close(); // the "crash": nothing was sent

    const second = await client(w.shipper, { storage: new FileStorage(dir) });
    expect(second.pendingCount(id)).toBe(5);
    await waitFor(() => got.messages.length === 5, 10_000, '5 messages after restart');
    await waitFor(() => second.pendingCount(id) === 0, 5000, 'outbox drained');
    await new Promise((r) => setTimeout(r, 200));
    expect(texts(got.messages)).toEqual([0, 1, 2, 3, 4].map((i) => `queued ${i}`));
  });

  it('a sender killed with SIGKILL mid-burst delivers, after restart, every stored message exactly once and in order', async () => {
    const id = newOrder();
    const dir = await tmp();
    const b = await client(w.consignee);
    const admin = await client(w.dispatcher);
    await admin.putRoster(id, rosterFor(w, id, [w.shipper, w.consignee, w.dispatcher]).bytes);
    const got = record(await b.openOrder(id));
    const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
    // A slow path for the child (100 ms each way) so acknowledgements lag far behind what it stores.
    const slow = await ToxicProxy.start({ upstream: { host: '127.0.0.1', port: relay.port }, toxics: { up: { latencyMs: 100 }, down: { latencyMs: 100 } } });
    onTestFinished(() => slow.close());
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'child-sender.ts')], {
      env: { ...process.env, SEALRELAY_CHILD: JSON.stringify({ url: `ws://127.0.0.1:${slow.port}/`, keys: hex(w.shipper.keys.serialize()), cert: hex(w.shipper.cert), trusted: w.trusted.map(hex), order: id, dir, count: 400 }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let lastStored = -1;
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        for (const m of d.toString().matchAll(/stored (\d+)/g)) lastStored = Number(m[1]);
        if (lastStored >= 40 && child.exitCode === null) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    expect(lastStored).toBeGreaterThanOrEqual(40);

    const restarted = await client(w.shipper, { storage: new FileStorage(dir) });
    // Read before the first socket event: what the killed process left unacknowledged.
    const leftOver = restarted.pendingCount();
    // The restarted sender follows the order too, and must be able to open its own earlier messages.
    const own = record(await restarted.openOrder(id));
    await waitFor(() => restarted.pendingCount() === 0, 20_000, 'the restarted outbox to drain');
    await new Promise((r) => setTimeout(r, 300));
    const seen = texts(got.messages);
    expect(seen.length).toBeGreaterThan(lastStored);
    expect(seen).toEqual(seen.map((_, i) => `k${i}`)); // no gap, no duplicate, no reorder
    expect(leftOver).toBeGreaterThan(0);
    // It resumes after what the killed process had already handed over; the rest it must open itself.
    await waitFor(() => own.messages.at(-1)?.seq === got.messages.at(-1)!.seq, 5000, 'the sender to see its own last message');
    expect(own.warnings).toEqual([]);
    expect(own.messages.every((m) => m.self)).toBe(true);
  }, 60_000);

  it('a restarted reader resumes after the last message it handled, not from the beginning', async () => {
    const id = newOrder();
    const dir = await tmp();
    const a = await client(w.shipper);
    await a.putRoster(id, rosterFor(w, id, [w.shipper, w.consignee]).bytes);
    const oa = await a.openOrder(id);
    const b1 = await client(w.consignee, { storage: new FileStorage(dir) });
    const got1 = record(await b1.openOrder(id));
    for (let i = 0; i < 3; i++) await (await oa.send('text', { text: `before ${i}` })).acked;
    await waitFor(() => got1.messages.length === 3);
    await b1.close(); // resolves once the read position is durable
    for (let i = 0; i < 2; i++) await (await oa.send('text', { text: `after ${i}` })).acked;
    const b2 = await client(w.consignee, { storage: new FileStorage(dir) });
    const got2 = record(await b2.openOrder(id));
    await waitFor(() => got2.messages.length === 2, 10_000, 'the two new messages');
    await new Promise((r) => setTimeout(r, 200));
    expect(texts(got2.messages)).toEqual(['after 0', 'after 1']);
    // Resuming mid-chain is not a gap: the earlier messages were handled before the restart.
    expect(got2.warnings).toEqual([]);
  });

  it('re-seals for the new epoch what was queued offline before a reassignment, so the removed courier never gets it', async () => {
    const id = newOrder();
    const newCourier = makeParty(w.authority, 'courier');
    const [s, cons, oldC] = await Promise.all([client(w.shipper), client(w.consignee), client(w.courier)]);
    const r1 = rosterFor(w, id, [w.shipper, w.consignee, w.courier]);
    await s.putRoster(id, r1.bytes);
    const [os, oc, oOld] = await Promise.all([s.openOrder(id), cons.openOrder(id), oldC.openOrder(id)]);
    const atCons = record(oc);
    const atOld = record(oOld);
    s.offline();
    const queued = [];
    for (let i = 0; i < 3; i++) queued.push(await os.send('text', { text: `queued ${i}` }));
    expect(queued.map((q) => q.epoch)).toEqual([1, 1, 1]);
    await cons.putRoster(id, rosterFor(w, id, [w.shipper, w.consignee, newCourier], r1.roster).bytes);
    s.online();
    const seqs = await Promise.all(queued.map((q) => q.acked));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    await waitFor(() => atCons.messages.length === 3, 10_000, 'three re-sealed messages');
    expect(atCons.messages.map((m) => [m.kind === 'text' && m.body.text, m.epoch])).toEqual([0, 1, 2].map((i) => [`queued ${i}`, 2]));
    expect(atOld.messages).toEqual([]);
    expect(os.roster.epoch).toBe(2);
  });

  it('on a courier reassignment the old courier learns it was removed and gets nothing after; the new one cannot read before', async () => {
    const id = newOrder();
    const newCourier = makeParty(w.authority, 'courier');
    const oldStorage = new MemoryStorage();
    const [s, oldC, newC] = await Promise.all([client(w.shipper), client(w.courier, { storage: oldStorage }), client(newCourier)]);
    const r1 = rosterFor(w, id, [w.shipper, w.courier]);
    await s.putRoster(id, r1.bytes);
    const [os, oOld] = await Promise.all([s.openOrder(id), oldC.openOrder(id)]);
    const atOld = record(oOld);
    const removed: number[] = [];
    oOld.on('removed', (e) => removed.push(e.epoch));
    const before = await os.send('text', { text: 'before reassignment' });
    expect(before.epoch).toBe(1);
    await waitFor(() => atOld.messages.length === 1);

    const r2 = rosterFor(w, id, [w.shipper, newCourier], r1.roster);
    await s.putRoster(id, r2.bytes);
    await waitFor(() => removed.length === 1, 5000, 'removed event');
    expect(removed).toEqual([2]);
    expect(oOld.closed).toBe(true);

    await waitFor(() => os.roster.epoch === 2, 5000, 'shipper sees epoch 2');
    const after = await os.send('text', { text: 'after reassignment' });
    expect(after.epoch).toBe(2); // a new sender key for the new epoch, sealed only to current members
    await after.acked;
    const oNew = await newC.openOrder(id);
    const atNew = record(oNew);
    await waitFor(() => atNew.messages.length + atNew.warnings.length >= 1, 5000, 'the new courier sees the new message');
    await new Promise((r) => setTimeout(r, 200));
    expect(texts(atNew.messages)).toEqual(['after reassignment']);
    expect(texts(atOld.messages)).toEqual(['before reassignment']);

    // The old courier's device, restarted later with the same storage, remembers: the relay
    // still serves it the epoch-1 chain (never the roster that removed it), which must not undo this.
    const later = await client(w.courier, { storage: oldStorage });
    await expect(later.openOrder(id)).rejects.toMatchObject({ code: 'MEMBER_REMOVED' });
    // A removed device that kept no storage learns it when the relay refuses its subscription.
    const amnesiac = await client(w.courier);
    const reopened = await amnesiac.openOrder(id);
    const removedAgain: boolean[] = [];
    reopened.on('removed', (e) => removedAgain.push(e.verified));
    await waitFor(() => removedAgain.length === 1, 5000, 'removed on reopen');
    expect(removedAgain).toEqual([false]);
    expect(reopened.closed).toBe(true);

    // Re-added in epoch 3, the same storage opens the order again.
    await s.putRoster(id, rosterFor(w, id, [w.shipper, newCourier, w.courier], r2.roster).bytes);
    const readded = await client(w.courier, { storage: oldStorage });
    expect((await readded.openOrder(id)).roster.epoch).toBe(3);
  });
});
