/**
 * The bench:relay result: the issue-3 JSON shape, a readable table, and one
 * verdict line per goal (so a reader sees at once which goal was met). Pure.
 */
import type { IdleResult } from './idle.ts';

/** A sealed location envelope with the smallest body (measured: 406 bytes). */
export const DEFAULT_ENVELOPE_BYTES = 406;

export interface BenchRun {
  server: string;
  offeredRate: number;
  deliveredPerSec: number;
  latencyMs: { p50: number; p99: number; p999: number; max: number };
  serverCpuUsPerDelivery: number;
  rssBytes: number;
  lost: number;
  duplicates: number;
  reordered: number;
  /** Redis's own CPU per delivery, beside the relay's (sealrelay-redis only). */
  redisCpuUsPerDelivery?: number | undefined;
  serverCpuCores: number;
  driverCpuCores: number;
  valid: boolean;
  invalidReasons: string[];
}

export interface BenchJson {
  runs: BenchRun[];
  /** sealrelay-memory ÷ bare-uws server CPU µs per delivery at the highest rate (goal ≤ 2). */
  cpuRatioMemory: number | null;
  /** sealrelay-redis (relay process only) ÷ bare-uws at the highest rate (goal ≤ 3). */
  cpuRatioRedis: number | null;
  ratioRate: number;
  envelopeBytes: number;
  pinned: boolean;
  orders: number;
  durationMs: number;
  idle: IdleResult[];
}

function find(runs: readonly BenchRun[], server: string, rate: number): BenchRun | undefined {
  return runs.find((r) => r.server === server && r.offeredRate === rate);
}

function ratio(a: BenchRun | undefined, b: BenchRun | undefined): number | null {
  if (!a || !b || b.serverCpuUsPerDelivery <= 0) return null;
  return Math.round((a.serverCpuUsPerDelivery / b.serverCpuUsPerDelivery) * 100) / 100;
}

export function benchSummary(
  runs: BenchRun[],
  idle: IdleResult[],
  meta: { envelopeBytes: number; pinned: boolean; orders: number; durationMs: number },
): { json: BenchJson; verdicts: string[] } {
  const rate = Math.max(...runs.map((r) => r.offeredRate));
  const bare = find(runs, 'bare-uws', rate);
  const mem = find(runs, 'sealrelay-memory', rate);
  const red = find(runs, 'sealrelay-redis', rate);
  const json: BenchJson = {
    runs,
    cpuRatioMemory: ratio(mem, bare),
    cpuRatioRedis: ratio(red, bare),
    ratioRate: rate,
    envelopeBytes: meta.envelopeBytes,
    pinned: meta.pinned,
    orders: meta.orders,
    durationMs: meta.durationMs,
    idle,
  };
  const v: string[] = [];
  const mark = (ok: boolean) => (ok ? 'MET ' : 'MISSED');
  if (json.cpuRatioMemory !== null) v.push(`${mark(json.cpuRatioMemory <= 2)} memory store CPU/delivery ${json.cpuRatioMemory}× bare uWS at ${rate}/s (goal ≤ 2×)`);
  // A latency percentile of the messages that arrived says nothing when others never did:
  // an undelivered message has infinite latency, so any loss fails the latency goals too.
  const allArrived = (r: BenchRun) => r.lost === 0 && r.deliveredPerSec > 0;
  if (mem && bare) {
    const d = Math.round((mem.latencyMs.p99 - bare.latencyMs.p99) * 1000) / 1000;
    v.push(`${mark(d <= 1 && allArrived(mem))} memory store p99 ${mem.latencyMs.p99} ms vs bare uWS ${bare.latencyMs.p99} ms (+${d} ms; goal within 1 ms)`);
  }
  if (json.cpuRatioRedis !== null) v.push(`${mark(json.cpuRatioRedis <= 3)} Redis store CPU/delivery ${json.cpuRatioRedis}× bare uWS at ${rate}/s (goal ≤ 3×; redis-server itself ${red?.redisCpuUsPerDelivery} µs/delivery)`);
  if (red) v.push(`${mark(red.latencyMs.p99 <= 10 && allArrived(red))} Redis store p99 ${red.latencyMs.p99} ms at ${rate}/s (goal ≤ 10 ms${allArrived(red) ? '' : `; ${red.lost} messages never arrived`})`);
  const ours = runs.filter((r) => r.server.startsWith('sealrelay'));
  const bad = ours.filter((r) => r.lost + r.duplicates + r.reordered > 0);
  v.push(`${mark(bad.length === 0)} zero lost/duplicated/reordered in every sealrelay run${bad.length ? ` (not in: ${bad.map((r) => `${r.server}@${r.offeredRate}`).join(', ')})` : ''}`);
  const idleOurs = idle.find((i) => i.server.startsWith('sealrelay'));
  const idleBare = idle.find((i) => i.server === 'bare-uws');
  if (idleOurs) {
    v.push(
      `${mark(idleOurs.rssPerConnectionBytes <= 8192)} ${idleOurs.connections} idle authenticated connections: ${(idleOurs.rssPerConnectionBytes / 1024).toFixed(2)} KiB RSS each (goal ≤ 8 KiB; bare uWS ${idleBare ? (idleBare.rssPerConnectionBytes / 1024).toFixed(2) : '?'} KiB)`,
    );
  }
  const invalid = runs.filter((r) => !r.valid);
  if (invalid.length) v.push(`WARNING ${invalid.length} run(s) invalid: ${invalid.map((r) => `${r.server}@${r.offeredRate}: ${r.invalidReasons.join('; ')}`).join(' | ')}`);
  return { json, verdicts: v };
}

export function renderBenchTable(runs: readonly BenchRun[], header: boolean): string {
  const cols = ['server', 'offered/s', 'delivered/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'CPU µs/dlv', 'redis µs/dlv', 'RSS MiB', 'lost', 'dup', 'reord', 'valid'];
  const rows = runs.map((r) => [
    r.server,
    String(r.offeredRate),
    String(r.deliveredPerSec),
    String(r.latencyMs.p50),
    String(r.latencyMs.p99),
    String(r.latencyMs.p999),
    String(r.latencyMs.max),
    r.serverCpuUsPerDelivery.toFixed(2),
    r.redisCpuUsPerDelivery === undefined ? '-' : r.redisCpuUsPerDelivery.toFixed(2),
    (r.rssBytes / 1048576).toFixed(1),
    String(r.lost),
    String(r.duplicates),
    String(r.reordered),
    r.valid ? 'yes' : 'NO',
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [...(header ? [line(cols), widths.map((w) => '-'.repeat(w)).join('  ')] : []), ...rows.map(line)].join('\n');
}
