/**
 * autocannon against the relay's HTTP API at a set rate (overallRate: open loop,
 * with autocannon's coordinated-omission correction), one endpoint at a time:
 * health, publish over HTTP, history, blob upload and download. Each run becomes
 * a RunReport (same format as the WebSocket runs) with an `http` block for
 * errors, timeouts and non-2xx.
 *
 * Usage: npx tsx loadtest/http/run.ts [--endpoints healthz,publish,history,blob-put,blob-get] [--rate 200] [--duration 10] [--connections 20] [--json]
 */
import autocannon, { type AutocannonRequest, type AutocannonResult } from 'autocannon';
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { HTTP_CLIENT_MSG_ID_HEADER, HTTP_CONTENT_SHA256_HEADER } from '../../protocol/http-auth.ts';
import { locationOnly } from '../driver/mix.ts';
import { ProcSampler } from '../driver/proc.ts';
import { summaryLine, writeReport, type RunReport } from '../driver/report.ts';
import { canPin, pinSelfToDriverCore } from '../peers/process.ts';
import { SealRelayTarget } from '../targets/sealrelay.ts';
import { signedHeaders } from './signing.ts';

export const ENDPOINTS = ['healthz', 'publish', 'history', 'blob-put', 'blob-get'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** Orders whose couriers publish over HTTP; the per-device rate limit is raised for the run (documented in the report). */
const HTTP_ORDERS = 20;
const ENVELOPES_PER_ORDER = 50;
const BLOB_BYTES = 16 * 1024;

export interface HttpRunOptions {
  readonly rate: number;
  readonly durationS: number;
  readonly connections: number;
}

function requestFor(endpoint: Endpoint, target: SealRelayTarget, blobIds: string[]): AutocannonRequest {
  const { fixtures, envelopes } = target.loadFixtures;
  let n = 0;
  const blob = randomBytes(BLOB_BYTES);
  const blobSha = createHash('sha256').update(blob).digest('hex');
  // v2 signs the headers the relay acts on (client-msg-id, content hash): they go through signedHeaders, not around it.
  const sign = (req: AutocannonRequest, device = fixtures.orders[0]!.publisher, body?: Uint8Array) => ({
    ...req,
    headers: signedHeaders(device, req.method!, req.path!, body, { headers: req.headers ?? {} }),
  });
  switch (endpoint) {
    case 'healthz':
      return { method: 'GET', path: '/healthz' };
    case 'publish':
      return {
        method: 'POST',
        setupRequest: (req) => {
          const k = n++;
          const order = fixtures.orders[k % fixtures.orders.length]!;
          const env = envelopes[k % fixtures.orders.length]![Math.floor(k / fixtures.orders.length) % ENVELOPES_PER_ORDER]!;
          const path = `/v1/orders/${encodeURIComponent(order.orderId)}/messages`;
          const body = Buffer.from(env);
          return sign({ ...req, method: 'POST', path, body, headers: { 'content-type': 'application/octet-stream', [HTTP_CLIENT_MSG_ID_HEADER]: `http-${k}` } }, order.publisher, body);
        },
      };
    case 'history':
      return {
        method: 'GET',
        setupRequest: (req) => {
          const order = fixtures.orders[n++ % fixtures.orders.length]!;
          return sign({ ...req, method: 'GET', path: `/v1/orders/${encodeURIComponent(order.orderId)}/messages?after=0&limit=100` }, order.publisher);
        },
      };
    case 'blob-put':
      return {
        method: 'POST',
        setupRequest: (req) => {
          const order = fixtures.orders[n++ % fixtures.orders.length]!;
          const path = `/v1/orders/${encodeURIComponent(order.orderId)}/blobs`;
          return sign({ ...req, method: 'POST', path, body: blob, headers: { 'content-type': 'application/octet-stream', [HTTP_CONTENT_SHA256_HEADER]: blobSha } }, order.publisher, blob);
        },
      };
    case 'blob-get':
      return {
        method: 'GET',
        setupRequest: (req) => sign({ ...req, method: 'GET', path: `/v1/blobs/${blobIds[n++ % blobIds.length]}` }),
      };
  }
}

/** Seed what read endpoints read: a few published messages per order and a few blobs. */
async function seed(target: SealRelayTarget): Promise<string[]> {
  const { fixtures, envelopes } = target.loadFixtures;
  for (const [i, order] of fixtures.orders.entries()) {
    for (let k = 0; k < 10; k++) {
      const path = `/v1/orders/${encodeURIComponent(order.orderId)}/messages`;
      const body = envelopes[i]![k]!;
      const res = await fetch(target.httpUrl + path, { method: 'POST', body: Buffer.from(body), headers: signedHeaders(order.publisher, 'POST', path, body, { headers: { [HTTP_CLIENT_MSG_ID_HEADER]: `seed-${k}` } }) });
      if (!res.ok) throw new Error(`seeding history failed: ${res.status} ${await res.text()}`);
    }
  }
  const ids: string[] = [];
  const order = fixtures.orders[0]!;
  for (let k = 0; k < 5; k++) {
    const blob = randomBytes(BLOB_BYTES);
    const path = `/v1/orders/${encodeURIComponent(order.orderId)}/blobs`;
    const res = await fetch(target.httpUrl + path, {
      method: 'POST',
      body: blob,
      headers: signedHeaders(order.publisher, 'POST', path, blob, { headers: { [HTTP_CONTENT_SHA256_HEADER]: createHash('sha256').update(blob).digest('hex') } }),
    });
    if (!res.ok) throw new Error(`seeding blobs failed: ${res.status} ${await res.text()}`);
    ids.push(((await res.json()) as { blobId: string }).blobId);
  }
  return ids;
}

export function httpReport(endpoint: Endpoint, target: string, o: HttpRunOptions, r: AutocannonResult, cpuUs: number, rss: number, pinned: boolean, startedAt: Date): RunReport {
  const ok = r['2xx'];
  const failed = r.non2xx + r.errors + r.timeouts;
  // autocannon's requests.sent also counts requests still in flight at the end; count what finished.
  const sent = ok + failed;
  const ms = (x: number) => Math.round(x * 1000) / 1000;
  const invalidReasons = sent < o.rate * o.durationS * 0.9 ? [`autocannon completed ${sent} of ${o.rate * o.durationS} requests: the driver could not offer the rate`] : [];
  return {
    scenario: `http-${endpoint}`,
    profile: 'lan',
    target,
    bodies: 'pre-sealed',
    arrival: 'constant',
    offeredRate: o.rate,
    durationMs: Math.round(r.duration * 1000),
    warmupMs: 0,
    orders: HTTP_ORDERS,
    receiversPerOrder: 0,
    connections: o.connections,
    payloadBytes: endpoint.startsWith('blob') ? BLOB_BYTES : 0,
    sent,
    expected: sent,
    delivered: ok,
    lost: failed,
    duplicates: 0,
    reordered: 0,
    phantom: 0,
    wireRedeliveries: 0,
    deliveredPerSec: Math.round(ok / Math.max(1, r.duration)),
    latencyMs: { p50: ms(r.latency.p50), p90: ms(r.latency.p90), p99: ms(r.latency.p99), p999: ms(r.latency.p99_9), max: ms(r.latency.max) },
    latencyCdf: [],
    reconnects: 0,
    maxDowntimeMs: 0,
    maxCatchUpMs: 0,
    catchUpsPending: 0,
    serverCpuUsPerDelivery: ok > 0 ? Math.round((cpuUs / ok) * 100) / 100 : 0,
    serverCpuCores: Math.round((cpuUs / (r.duration * 1e6)) * 100) / 100,
    serverRssBytes: rss,
    serverPeakRssBytes: rss,
    sidecars: [],
    driverCpuCores: 0,
    driverSaturated: false,
    pinned,
    lag: { sends: sent, late: 0, maxLagMs: 0, meanLagMs: 0 },
    valid: invalidReasons.length === 0,
    invalidReasons,
    worstReceivers: [],
    startedAt: startedAt.toISOString(),
    host: { cpus: os.cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` },
    http: { endpoint, errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx, status4xx: r['4xx'], status5xx: r['5xx'] },
  };
}

export async function runHttp(endpoints: readonly Endpoint[], o: HttpRunOptions, pin = false): Promise<RunReport[]> {
  const target = new SealRelayTarget({
    store: 'memory',
    pin,
    // HTTP publishers are few devices at a high rate: lift the per-device limit so it measures the relay, not the throttle.
    relayConfig: { rateLimits: { publishPerSecond: 100_000, publishBurst: 100_000, framesPerSecond: 100_000, framesBurst: 100_000 } },
  });
  const started = await target.start({ orders: HTTP_ORDERS, receiversPerOrder: 0, mix: locationOnly(), streamCount: () => ENVELOPES_PER_ORDER });
  const reports: RunReport[] = [];
  try {
    const blobIds = await seed(target);
    for (const endpoint of endpoints) {
      const sampler = new ProcSampler(started.pid);
      const startedAt = new Date();
      sampler.begin();
      const result = await autocannon({ url: target.httpUrl, connections: o.connections, duration: o.durationS, overallRate: o.rate, timeout: 10, requests: [requestFor(endpoint, target, blobIds)] });
      const use = sampler.end();
      reports.push(httpReport(endpoint, 'sealrelay-memory', o, result, use.cpuUs, use.rssBytes, pin, startedAt));
    }
  } finally {
    await target.stop();
  }
  return reports;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      endpoints: { type: 'string', default: ENDPOINTS.join(',') },
      rate: { type: 'string', default: '200' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '20' },
      json: { type: 'boolean', default: false },
    },
  });
  const endpoints = values.endpoints!.split(',') as Endpoint[];
  for (const e of endpoints) if (!ENDPOINTS.includes(e)) throw new Error(`unknown endpoint ${e}; one of ${ENDPOINTS.join(', ')}`);
  const pinned = canPin() && pinSelfToDriverCore();
  const reports = await runHttp(endpoints, { rate: Number(values.rate), durationS: Number(values.duration), connections: Number(values.connections) }, pinned);
  const say = values.json ? (s: string) => console.error(s) : (s: string) => console.log(s);
  for (const r of reports) {
    writeReport(r);
    say(`${summaryLine(r)}  errors ${r.http?.errors} timeouts ${r.http?.timeouts} non-2xx ${r.http?.non2xx}`);
  }
  if (values.json) console.log(JSON.stringify({ runs: reports }));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
