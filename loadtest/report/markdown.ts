/** Markdown tables for BENCHMARKS.md, from run reports. Pure. */
import type { RunReport } from '../driver/report.ts';

export function markdownTable(reports: readonly RunReport[]): string {
  const head = '| target | scenario | profile | offered/s | delivered | lost | dup | reord | p50 ms | p99 ms | p99.9 ms | max ms | server CPU µs/delivery | valid |';
  const sep = '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|';
  const rows = reports.map(
    (r) =>
      `| ${r.target} | ${r.scenario} | ${r.profile} | ${r.offeredRate} | ${r.delivered}/${r.expected} | ${r.lost} | ${r.duplicates} | ${r.reordered} | ${r.latencyMs.p50} | ${r.latencyMs.p99} | ${r.latencyMs.p999} | ${r.latencyMs.max} | ${r.serverCpuUsPerDelivery} | ${r.valid ? 'yes' : 'no: ' + r.invalidReasons.join('; ')} |`,
  );
  return [head, sep, ...rows].join('\n');
}
