/**
 * k6: the relay's HTTP API at a constant arrival rate (health and history reads
 * by default; signed HTTP publish needs Ed25519, which k6 lacks, so the Node
 * autocannon runs in loadtest/http/ cover publish and blobs).
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e RATE=200 -e DURATION=30s loadtest/k6/http.ts
 */
import { check } from 'k6';
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { fanoutSummary } from './summary.ts';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const RATE = Number(__ENV.RATE || 100);

const latency = new Trend('http_latency_ms', true);
const sent = new Counter('messages_sent');
const delivered = new Counter('messages_delivered');
const expected = new Counter('messages_expected');
const failed = new Counter('messages_lost');

export const options: Options = {
  scenarios: {
    health: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: __ENV.DURATION || '30s', preAllocatedVUs: 20, maxVUs: 200 },
  },
  thresholds: {
    http_latency_ms: ['p(99)<50'],
    messages_lost: ['count==0'],
    http_req_failed: ['rate==0'],
    dropped_iterations: ['count==0'],
  },
};

export default function (): void {
  const res = http.get(`${BASE}/healthz`);
  sent.add(1);
  expected.add(1);
  latency.add(res.timings.duration);
  if (check(res, { 'status is 200': (r) => r.status === 200 })) delivered.add(1);
  else failed.add(1);
}

export const handleSummary = fanoutSummary('k6-http-health', 'http_latency_ms', RATE);
