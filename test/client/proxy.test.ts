/**
 * The SDK through loadtest's toxic TCP proxy in front of a real relay: random
 * connection resets during a three-way conversation, and a blackholed link that
 * only the heartbeat can notice.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ToxicProxy } from '../../loadtest/net/proxy.ts';
import type { RunningRelay } from '../../server/index.ts';
import type { SealRelayClient } from '../../client/client.ts';
import type { StateChange } from '../../client/connection.ts';
import { makeClient, makeWorld, record, rosterFor, startTestRelay, waitFor, type Party, type World } from './world.ts';

/** Messages per party: the 1,000 (about 20 s here); SEALRELAY_CHAOS_N lowers it for a quick local run. */
const PER_PARTY = Number(process.env.SEALRELAY_CHAOS_N ?? 1000);

let w: World;
let relay: RunningRelay;
let proxy: ToxicProxy;
const clients: SealRelayClient[] = [];

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w);
  proxy = await ToxicProxy.start({ upstream: { host: '127.0.0.1', port: relay.port } });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await proxy?.close();
  await relay?.close();
});

async function viaProxy(p: Party, over: Parameters<typeof makeClient>[3] = {}) {
  const c = await makeClient(relay, w, p, { url: `ws://127.0.0.1:${proxy.port}/`, ...over });
  clients.push(c);
  return c;
}

describe('through a fault-injecting proxy', () => {
  it(`three parties each send ${PER_PARTY} messages while connections are reset at random; everyone gets every message of the others once, in order`, async () => {
    const id = `PX-${process.pid}-1`;
    const parties = [w.shipper, w.consignee, w.dispatcher];
    const cs = await Promise.all(parties.map((p) => viaProxy(p)));
    await cs[0]!.putRoster(id, rosterFor(w, id, parties).bytes);
    const orders = await Promise.all(cs.map((c) => c.openOrder(id)));
    const seen = orders.map((o) => record(o));
    const chaos = setInterval(() => proxy.reset({ probability: 0.5 }), 150);
    try {
      await Promise.all(
        orders.map(async (o, p) => {
          for (let i = 0; i < PER_PARTY; i++) {
            await o.send('text', { text: `${p}:${i}` });
            if (i % 25 === 0) await new Promise((r) => setTimeout(r, 10));
          }
        }),
      );
      await waitFor(() => seen.every((s) => s.messages.length >= parties.length * PER_PARTY), 120_000, 'every message everywhere');
    } finally {
      clearInterval(chaos);
    }
    await new Promise((r) => setTimeout(r, 300));
    const reference = seen[0]!.messages.map((m) => m.seq);
    for (const s of seen) {
      expect(s.warnings).toEqual([]);
      expect(s.messages).toHaveLength(parties.length * PER_PARTY);
      // One sequence, the same at every party, strictly increasing.
      expect(s.messages.map((m) => m.seq)).toEqual(reference);
      for (let p = 0; p < parties.length; p++) {
        const fromP = s.messages.map((m) => (m.kind === 'text' ? m.body.text : '')).filter((t) => t.startsWith(`${p}:`));
        expect(fromP).toEqual(Array.from({ length: PER_PARTY }, (_, i) => `${p}:${i}`));
      }
    }
    expect(proxy.state().stats.resets).toBeGreaterThan(0);
  }, 180_000);

  it('notices a silently dead link through the heartbeat within two intervals and recovers when it heals', async () => {
    const c = await viaProxy(w.courier, { heartbeatMs: 300, handshakeTimeoutMs: 1000 });
    const states: (StateChange & { at: number })[] = [];
    c.on('state', (s) => states.push({ ...s, at: Date.now() }));
    await waitFor(() => c.state === 'connected');
    const cutAt = Date.now();
    proxy.blackhole(2500);
    await waitFor(() => c.state === 'connecting', 3000, 'the dead link to be noticed');
    const noticed = states.find((s) => s.to === 'connecting')!;
    expect(noticed.code).toBe('HEARTBEAT_TIMEOUT');
    expect(noticed.at - cutAt).toBeLessThan(2 * 300 + 400);
    await waitFor(() => c.state === 'connected', 10_000, 'reconnect after the blackhole');
  }, 20_000);
});
