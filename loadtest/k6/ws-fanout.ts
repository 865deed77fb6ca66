/**
 * k6: the order fan-out over WebSockets against real relays (docker-compose runs
 * it against two nodes). Receivers hold one socket each for the whole run;
 * publishes arrive at a constant rate (constant-arrival-rate), each iteration a
 * courier's gateway connecting with its resumption ticket, publishing one
 * pre-sealed envelope and waiting for the puback.
 *
 *   k6 run -e FIXTURES=loadtest/k6/fixtures.json -e RATE=200 -e DURATION=60s loadtest/k6/ws-fanout.ts
 *
 * Thresholds: p99 publish-to-puback and relay-to-receiver latency, and zero
 * gaps and duplicates seen by receivers.
 */
import encoding from 'k6/encoding';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import type { K6Fixtures } from './fixtures-format.ts';
import { decode, encode, type Value } from './msgpack.ts';
import { fanoutSummary } from './summary.ts';

const fixtures = JSON.parse(open(__ENV.FIXTURES || './fixtures.json')) as K6Fixtures;
const RATE = Number(__ENV.RATE || 100);
const DURATION = __ENV.DURATION || '30s';
const DURATION_S = Number(DURATION.replace(/s$/, ''));
const URLS = (__ENV.RELAY_URLS || fixtures.relayUrl).split(',');
const PROTOCOL_VERSION = 1;

const pubackMs = new Trend('puback_ms', true);
const deliveryMs = new Trend('delivery_ms', true);
const sent = new Counter('messages_sent');
const expected = new Counter('messages_expected');
const delivered = new Counter('messages_delivered');
const gaps = new Counter('messages_lost');
const duplicated = new Counter('messages_duplicated');
const reordered = new Counter('messages_reordered');
const reconnects = new Counter('reconnects');

const receiverCount = fixtures.orders.reduce((n, o) => n + o.receivers.length, 0);

export const options: Options = {
  scenarios: {
    receivers: { executor: 'per-vu-iterations', exec: 'receive', vus: receiverCount, iterations: 1, maxDuration: `${DURATION_S + 60}s` },
    publishers: {
      executor: 'constant-arrival-rate',
      exec: 'publish',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      startTime: '5s', // receivers subscribe first
      preAllocatedVUs: Math.min(200, Math.max(10, RATE)),
      maxVUs: 1000,
    },
  },
  thresholds: {
    puback_ms: ['p(99)<100'],
    delivery_ms: ['p(99)<100'],
    messages_lost: ['count==0'],
    messages_duplicated: ['count==0'],
    messages_reordered: ['count==0'],
    dropped_iterations: ['count==0'],
  },
};

const b64 = (s: string) => new Uint8Array(encoding.b64decode(s, 'std'));
const frame = (f: { [k: string]: Value | undefined }) => encode(f).buffer as ArrayBuffer;
const parse = (data: unknown) => decode(new Uint8Array(data as ArrayBuffer)) as { [k: string]: Value };

/** Open a socket and authenticate with the device's ticket; calls onReady after `welcome`. */
function openDevice(deviceId: string, ticket: string, url: string, onFrame: (ws: WebSocket, f: { [k: string]: Value }) => void, onReady: (ws: WebSocket) => void): WebSocket {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  let ready = false;
  ws.onopen = () => ws.send(frame({ t: 'connect', v: PROTOCOL_VERSION, deviceId, ticket: b64(ticket) }));
  ws.onmessage = (e) => {
    const f = parse(e?.data);
    if (!ready) {
      if (f.t === 'welcome') {
        ready = true;
        onReady(ws);
      } else if (f.t === 'challenge' || f.t === 'error') {
        // A ticket the relay no longer accepts: regenerate fixtures (tickets last 12 h and need the relays' shared secret).
        console.error(`${deviceId}: ticket refused (${String(f.code ?? f.t)}); regenerate fixtures`);
        ws.close();
      }
      return;
    }
    onFrame(ws, f);
  };
  return ws;
}

export function receive(): void {
  const k = exec.vu.idInTest - 1;
  const order = fixtures.orders[Math.floor(k / 3) % fixtures.orders.length]!;
  const device = order.receivers[k % order.receivers.length]!;
  const seen = new Set<number>();
  let last = 0;
  const url = URLS[k % URLS.length]!;
  const ws = openDevice(
    device.deviceId,
    device.ticket,
    url,
    (sock, f) => {
      if (f.t !== 'deliver') return;
      let ackTo = last;
      for (const m of f.messages as Array<{ [k: string]: Value }>) {
        const seq = m.seq as number;
        if (seen.has(seq)) {
          duplicated.add(1);
          continue;
        }
        seen.add(seq);
        if (seq < last) reordered.add(1);
        else {
          if ((m.prev as number) > last) gaps.add(seq - last - 1);
          last = seq;
        }
        delivered.add(1);
        deliveryMs.add(Date.now() - (m.at as number));
        ackTo = last;
      }
      sock.send(frame({ t: 'ack', order: order.orderId, seq: ackTo }));
    },
    (sock) => sock.send(frame({ t: 'sub', rid: 1, order: order.orderId, afterSeq: 0 })),
  );
  ws.onclose = () => reconnects.add(0);
  setTimeout(() => ws.close(), (DURATION_S + 20) * 1000);
}

export function publish(): void {
  const i = exec.scenario.iterationInTest;
  const order = fixtures.orders[i % fixtures.orders.length]!;
  const envelope = order.envelopes[Math.floor(i / fixtures.orders.length) % order.envelopes.length]!;
  const clientMsgId = `k6-${exec.scenario.startTime}-${i}`;
  let t0 = 0;
  openDevice(
    order.publisher.deviceId,
    order.publisher.ticket,
    URLS[i % URLS.length]!,
    (ws, f) => {
      if (f.t === 'puback' && f.clientMsgId === clientMsgId) {
        pubackMs.add(Date.now() - t0);
        if (!f.duplicate) expected.add(order.receivers.length);
        ws.close();
      }
    },
    (ws) => {
      t0 = Date.now();
      ws.send(frame({ t: 'pub', order: order.orderId, clientMsgId, envelope: b64(envelope) }));
      sent.add(1);
    },
  );
}

export const handleSummary = fanoutSummary('k6-ws-fanout', 'delivery_ms', RATE);
