import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthorityKey, cryptoReady } from '../../crypto/index.ts';
import { decodeClientFrame, encodeFrame } from '../../protocol/codec.ts';
import type { ClientFrame, ServerFrame } from '../../protocol/frames.ts';
import type { Received } from '../../loadtest/driver/target.ts';
import { makeDevice } from '../../loadtest/targets/fixtures.ts';
import { ErrorTally, SealParty, backoffMs } from '../../loadtest/targets/sealrelay-clients.ts';
import { wire } from '../../loadtest/targets/relay-connection.ts';

// A scripted fake relay (libsignal's FakeChat idea): answers connect with welcome
// and lets each test decide what a `sub` gets back, byte for byte.
async function fakeRelay(onSub: (ws: WebSocket, f: Extract<ClientFrame, { t: 'sub' }>, n: number) => void) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  let subs = 0;
  const send = (ws: WebSocket, f: ServerFrame) => ws.send(encodeFrame(f));
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const f = decodeClientFrame(new Uint8Array(data));
      if (f.t === 'connect') {
        send(ws, { t: 'welcome', deviceId: f.deviceId, connectionId: 'c', ticket: wire(new Uint8Array([1])), ticketExpiresAt: Date.now() + 1e6, serverTime: Date.now(), resumed: false, limits: { maxFrameBytes: 1, maxEnvelopeBytes: 1, heartbeatMs: 1 } });
      } else if (f.t === 'sub') onSub(ws, f, ++subs);
    });
  });
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, subs: () => subs, close: () => {
      for (const c of wss.clients) c.terminate();
      return new Promise<void>((r) => wss.close(() => r()));
    },
    send,
  };
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('the load receiver', () => {
  it('drops an old subscription’s in-flight frames until its new `subscribed`, instead of re-subscribing on each', async () => {
    await cryptoReady();
    const device = await makeDevice(AuthorityKey.generate(), 'shipper', 'u', Date.now());
    // Envelope bytes are opaque to the relay; the receiver reads the index from the header, so use real ones.
    const { preSeal } = await import('../../loadtest/targets/fixtures.ts');
    const { makeFixtures } = await import('../../loadtest/targets/fixtures.ts');
    const fx = await makeFixtures({ orders: 1, receiversPerOrder: 1, runId: 't' });
    const envs = preSeal(fx.orders[0]!, 6, 8).map(wire);
    const msg = (seq: number) => ({ seq, prev: seq - 1, envelope: envs[seq - 1]!, at: Date.now() });
    const relay = await fakeRelay((ws, f, n) => {
      const send = (x: ServerFrame) => ws.send(encodeFrame(x));
      if (n === 1) {
        // First subscription: 1, 2, then a hole (4 arrives with prev 3).
        send({ t: 'subscribed', rid: f.rid, order: f.order, epoch: 1, headSeq: 2, fromSeq: 1 });
        send({ t: 'deliver', order: f.order, messages: [msg(1), msg(2)] });
        send({ t: 'deliver', order: f.order, messages: [msg(4)] });
      } else {
        // Live frames of the OLD subscription still in flight, then the new one's replay.
        send({ t: 'deliver', order: f.order, messages: [msg(5)] });
        send({ t: 'deliver', order: f.order, messages: [msg(6)] });
        send({ t: 'subscribed', rid: f.rid, order: f.order, epoch: 1, headSeq: 6, fromSeq: f.afterSeq + 1 });
        send({ t: 'deliver', order: f.order, messages: [msg(3), msg(4), msg(5), msg(6)] });
      }
    });
    cleanup.push(relay.close);
    const got: Received[] = [];
    const r = new SealParty(() => relay.url, device, new ErrorTally(), 'o');
    r.receive({ sink: { message: (m) => got.push(m), disconnected: () => undefined, reconnected: () => undefined }, classify: () => 0 });
    cleanup.push(() => r.close());
    await r.open();
    await expect.poll(() => got.length, { timeout: 5000 }).toBe(6);
    expect(got.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(relay.subs()).toBe(2); // one re-subscribe for the hole, not one per in-flight frame
  });
});

describe('reconnect backoff', () => {
  it('is full jitter under a cap that grows with the attempt', () => {
    expect(backoffMs(0, () => 0.999)).toBeLessThanOrEqual(100);
    expect(backoffMs(3, () => 0.999)).toBeLessThanOrEqual(800);
    expect(backoffMs(20, () => 0.999)).toBeLessThanOrEqual(2000);
    expect(backoffMs(20, () => 0)).toBe(0);
  });
});
