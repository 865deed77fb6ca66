/**
 * Two relay processes on one Redis (issue #3): a publisher on node A, subscribers
 * on node B, node A killed with SIGKILL mid-stream. The publisher then does what
 * the client SDK does: reconnects (to node B) and re-sends every message it holds
 * no ack for, with the same clientMsgId and the same sealed bytes. Every
 * acknowledged message must reach both subscribers exactly once, in seq order,
 * and nothing else may arrive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.ts';
import { Sender, TestClient, b, makeWorld, putRoster, rosterFor, subscribe, type Party, type World } from '../integration/helpers.ts';

interface RelayProcess {
  readonly url: string;
  readonly child: ChildProcess;
}

const running = new Set<ChildProcess>();

/** A relay in its own process (node --import tsx: one pid, so SIGKILL kills the relay itself). */
async function spawnRelay(w: World, redisUrl: string, id: string): Promise<RelayProcess> {
  const config = {
    host: '127.0.0.1',
    port: 0,
    redisUrl,
    // One relayId for the cluster: challenge transcripts and tickets are bound to it.
    relayId: 'two-node-cluster',
    trustedAuthorities: w.trusted.map((k) => Buffer.from(k).toString('hex')),
    rateLimits: { publishPerSecond: 100_000, publishBurst: 100_000, framesPerSecond: 100_000, framesBurst: 100_000 },
    logLevel: 'warn',
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/redis/relay-node.ts'], {
    cwd: new URL('../../', import.meta.url).pathname,
    env: { ...process.env, SEALRELAY_TEST_CONFIG: JSON.stringify(config), NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay ${id} did not start: ${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (ws:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`relay ${id} exited ${code}: ${err}`)); });
  });
  return { url, child };
}

async function client(url: string, p: Party): Promise<TestClient> {
  const c = await TestClient.open(url);
  await c.auth(p);
  return c;
}

describe.skipIf(!redisAvailable({ ownServer: true }))('two relay nodes on one Redis', () => {
  let redis: RedisServer;
  let w: World;
  let nodeA: RelayProcess;
  let nodeB: RelayProcess;

  beforeAll(async () => {
    redis = await startRedis({ own: true, appendfsync: 'always' });
    w = await makeWorld();
    [nodeA, nodeB] = await Promise.all([spawnRelay(w, redis.url, 'node-a'), spawnRelay(w, redis.url, 'node-b')]);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([...running].map(async (c) => { const gone = once(c, 'exit'); c.kill('SIGKILL'); await gone; }));
    await redis?.stop();
  });

  it('delivers every acknowledged message exactly once and in order after the publisher\'s node is SIGKILLed mid-stream', async () => {
    const order = `order-two-nodes-${Date.now()}`;
    const { bytes, roster } = rosterFor(w, order, [w.shipper, w.consignee, w.dispatcher]);
    const admin = await client(nodeB.url, w.shipper);
    expect(await putRoster(admin, order, bytes)).toMatchObject({ t: 'roster_ok' });
    admin.close();

    const readers = await Promise.all([client(nodeB.url, w.consignee), client(nodeB.url, w.dispatcher)]);
    for (const r of readers) expect(await subscribe(r, order, 0)).toMatchObject({ t: 'subscribed' });

    // The publisher's outbox: sealed once, re-sent byte for byte until acknowledged.
    const total = 600;
    const sender = new Sender(w.shipper, roster);
    const outbox = Array.from({ length: total }, (_, i) => ({ clientMsgId: `m-${i}`, envelope: sender.seal('text', `status ${i}`) }));
    const acked = new Map<string, number>();
    const collect = (c: TestClient) => {
      for (let i = c.frames.length - 1; i >= 0; i--) {
        const f = c.frames[i]!;
        if (f.t === 'puback') {
          acked.set(f.clientMsgId, f.seq);
          c.frames.splice(i, 1);
        }
      }
    };

    // Node A: a window of 64 unacknowledged publishes, as the client outbox keeps; SIGKILL once 150 are acked,
    // so the kill always lands mid-stream with publishes in flight (some stored without their ack reaching us).
    const publisherA = await client(nodeA.url, w.shipper);
    let next = 0;
    while (!publisherA.isClosed) {
      collect(publisherA);
      if (acked.size >= 150) nodeA.child.kill('SIGKILL');
      while (next < total && next - acked.size < 64) {
        const m = outbox[next++]!;
        publisherA.send({ t: 'pub', order, clientMsgId: m.clientMsgId, envelope: b(m.envelope) });
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await publisherA.closed;
    collect(publisherA);
    const ackedBeforeKill = acked.size;
    expect(ackedBeforeKill).toBeGreaterThanOrEqual(150);
    expect(ackedBeforeKill).toBeLessThan(total);

    // Failover: the same device reconnects to node B and re-sends everything unacknowledged.
    const publisherB = await client(nodeB.url, w.shipper);
    for (const m of outbox) {
      if (!acked.has(m.clientMsgId)) publisherB.send({ t: 'pub', order, clientMsgId: m.clientMsgId, envelope: b(m.envelope) });
    }
    let storedButUnacked = 0;
    while (acked.size < total) {
      const f = await publisherB.next((x) => x.t === 'puback' || x.t === 'error', 20_000);
      if (f.t !== 'puback') throw new Error(`publish refused: ${JSON.stringify(f).slice(0, 200)}`);
      acked.set(f.clientMsgId, f.seq);
      if (f.duplicate) storedButUnacked++;
    }

    // Every message got one seq, the seqs are exactly 1..total.
    expect([...acked.values()].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const bySeq = new Map(outbox.map((m) => [acked.get(m.clientMsgId)!, m.envelope]));

    for (const r of readers) {
      const got = await r.deliveries(order, total, 30_000);
      expect(got.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      for (const m of got) expect(Buffer.from(m.envelope).equals(Buffer.from(bySeq.get(m.seq)!))).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 200));
    for (const r of readers) expect(r.frames.filter((f) => f.t === 'deliver')).toEqual([]);
    console.log(`two nodes: ${ackedBeforeKill} of ${total} acked by node A before SIGKILL, the rest re-sent to node B (${storedButUnacked} of them had been stored by A without an ack: dedup answered their seq); all ${total} delivered once, in order, to both readers`);
    publisherB.close();
    for (const r of readers) r.close();
  }, 120_000);
});
