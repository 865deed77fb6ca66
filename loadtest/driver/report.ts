/**
 * The one JSON report of a run. Every figure a performance engineer compares
 * between runs is a top-level field; details (per-receiver worst cases, the CDF,
 * lag, CPU breakdown) sit below. The schema is the contract the HTML/Markdown
 * reports, the k6 handleSummary and CI read.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const Latency = z.object({ p50: z.number(), p90: z.number(), p99: z.number(), p999: z.number(), max: z.number() });

/** One message class of the run's mix (driver/mix.ts), with what became of it. */
const MixClass = z.object({
  name: z.string(),
  /** The sender's role. */
  sender: z.string(),
  kind: z.string(),
  scope: z.string(),
  weight: z.number(),
  /** Bytes per message on the wire (sealrelay: the envelopes it sealed; peers: the opaque payload). */
  bytes: z.number().int(),
  attachmentBytes: z.number().int().optional(),
  sent: z.number().int(),
  /** Sends of this class never handed to the relay (their attachment upload failed or had not finished); not in `expected`. */
  notHandedOn: z.number().int().optional(),
  /** Receivers per order whose role reads this class's scope: its fan-out. */
  receivers: z.number().int(),
  expected: z.number().int(),
  delivered: z.number().int(),
});

const Storm = z.object({
  name: z.string(),
  atMs: z.number(),
  clients: z.number().int(),
  resumed: z.number().int(),
  resumedWithTicket: z.number().int(),
  caughtUp: z.number().int(),
  allResumedMs: z.number().nullable(),
  allCaughtUpMs: z.number().nullable(),
  maxCatchUpMs: z.number(),
  goalMs: z.number(),
  met: z.boolean(),
  driverCpuMs: z.number().optional(),
  serverCpuMs: z.number().optional(),
});

export const RunReportSchema = z.object({
  scenario: z.string(),
  profile: z.string(),
  target: z.string(),
  bodies: z.enum(['opaque', 'pre-sealed', 'sdk']),
  store: z.string().optional(),
  arrival: z.enum(['constant', 'poisson']),
  offeredRate: z.number(),
  durationMs: z.number(),
  /** Sent and checked for delivery, but not in latency, lag or CPU figures. */
  warmupMs: z.number(),
  orders: z.number().int(),
  receiversPerOrder: z.number().int(),
  connections: z.number().int(),
  /** Bytes of the most frequent class's messages (see `mix` for every class). */
  payloadBytes: z.number().int(),
  /** The workload: its message classes with weights, sizes, fan-out and delivery. */
  mix: z.object({ name: z.string(), classes: z.array(MixClass) }).optional(),
  sent: z.number().int(),
  /** Sends never handed to the relay (attachment uploads that failed or had not finished when the drain closed); the run is then invalid. */
  notHandedOn: z.number().int().optional(),
  /** Deliveries expected of the relay: each message handed to it, times the receivers whose role reads it. */
  expected: z.number().int(),
  delivered: z.number().int(),
  lost: z.number().int(),
  duplicates: z.number().int(),
  reordered: z.number().int(),
  phantom: z.number().int(),
  wireRedeliveries: z.number().int(),
  deliveredPerSec: z.number(),
  latencyMs: Latency,
  latencyCdf: z.array(z.object({ ms: z.number(), fraction: z.number() })),
  reconnects: z.number().int(),
  maxDowntimeMs: z.number(),
  maxCatchUpMs: z.number(),
  catchUpsPending: z.number().int(),
  /** Reconnect storms (scenario reconnect-storm): per storm, who resumed and when the last had caught up. */
  storms: z.array(Storm).optional(),
  serverCpuUsPerDelivery: z.number(),
  serverCpuCores: z.number(),
  serverRssBytes: z.number(),
  serverPeakRssBytes: z.number(),
  sidecars: z.array(z.object({ name: z.string(), cpuUs: z.number(), cpuUsPerDelivery: z.number(), rssBytes: z.number() })),
  driverCpuCores: z.number(),
  driverSaturated: z.boolean(),
  pinned: z.boolean(),
  lag: z.object({ sends: z.number(), late: z.number(), maxLagMs: z.number(), meanLagMs: z.number() }),
  valid: z.boolean(),
  invalidReasons: z.array(z.string()),
  worstReceivers: z.array(z.object({ receiver: z.string(), expected: z.number(), delivered: z.number(), lost: z.number(), duplicates: z.number(), reordered: z.number() })),
  /** bodies 'sdk': deliveries the receivers could not open (signature, AEAD, key package, schema), total and by code. Any makes the run invalid. */
  openFailures: z.object({ total: z.number().int(), byCode: z.record(z.string(), z.number()) }).optional(),
  /** Attachment uploads (signed HTTP to the relay's blob endpoint) before attachment messages. */
  attachments: z
    .object({
      uploads: z.number().int(),
      retries: z.number().int(),
      failed: z.number().int(),
      pending: z.number().int(),
      bytes: z.number(),
      uploadMs: z.object({ p50: z.number(), p99: z.number(), max: z.number() }),
    })
    .optional(),
  /** Error frames the server sent clients, by code (a retried RATE_LIMITED can explain a reordering). */
  clientErrors: z.record(z.string(), z.number()).optional(),
  /** HTTP runs (autocannon) only: what did not come back 2xx, by kind. */
  http: z.object({ endpoint: z.string(), errors: z.number(), timeouts: z.number(), non2xx: z.number(), status4xx: z.number(), status5xx: z.number() }).optional(),
  startedAt: z.string(),
  host: z.object({ cpus: z.number(), node: z.string(), platform: z.string() }),
});

export type RunReport = z.infer<typeof RunReportSchema>;

/** Write the report under `dir` (default reports/) and return the file path. */
export function writeReport(r: RunReport, dir = 'reports', suffix = 'json'): string {
  mkdirSync(dir, { recursive: true });
  const stamp = r.startedAt.replace(/[:.]/g, '-');
  const file = join(dir, `${r.scenario}-${r.target}-${r.profile}-${Math.round(r.offeredRate)}-${stamp}.${suffix}`);
  writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
  return file;
}

/** One line of a human table for a run. */
export function summaryLine(r: RunReport): string {
  const l = r.latencyMs;
  const storms = (r.storms ?? []).map(
    (s) => `\n  storm "${s.name}": ${s.resumed}/${s.clients} resumed (${s.resumedWithTicket} with a ticket) in ${s.allResumedMs ?? '—'} ms, ${s.caughtUp}/${s.clients} caught up in ${s.allCaughtUpMs ?? '—'} ms (goal ${s.goalMs} ms: ${s.met ? 'MET' : 'MISSED'})` +
      (s.driverCpuMs !== undefined ? `; CPU meanwhile: driver ${s.driverCpuMs} ms, server ${s.serverCpuMs} ms` : ''),
  );
  const mix = r.mix && r.mix.classes.length > 1 ? `\n  mix ${r.mix.name}: ${r.mix.classes.map((c) => `${c.name} ${c.sent}×${c.bytes}B→${c.receivers}`).join(', ')}` : '';
  return (
    `${r.target.padEnd(18)} ${String(r.offeredRate).padStart(6)}/s  delivered ${r.delivered}/${r.expected}` +
    `  lost ${r.lost} dup ${r.duplicates} reord ${r.reordered}` +
    `  p50 ${l.p50} p99 ${l.p99} p99.9 ${l.p999} max ${l.max} ms` +
    `  cpu ${r.serverCpuUsPerDelivery.toFixed(2)} µs/dlv  bodies ${r.bodies}  ${r.valid ? 'valid' : 'INVALID: ' + r.invalidReasons.join('; ')}` +
    mix +
    storms.join('')
  );
}
