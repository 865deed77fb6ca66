/**
 * Self-contained HTML reports (one file, no network): uPlot and its CSS are
 * inlined, the data is embedded as JSON. One page per run (latency CDF and
 * percentiles) and one per matrix (percentiles per profile, latency CDFs,
 * throughput against offered load, the peer comparison of CPU per delivery).
 * Each chart records how many points it drew in window.__charts, so a browser
 * test can check that charts have data, not just that a canvas exists.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { RunReport } from '../driver/report.ts';

const require = createRequire(import.meta.url);

function uplotAssets(): { js: string; css: string } {
  const dir = dirname(require.resolve('uplot/package.json'));
  return { js: readFileSync(`${dir}/dist/uPlot.iife.min.js`, 'utf8'), css: readFileSync(`${dir}/dist/uPlot.min.css`, 'utf8') };
}

/** JSON safe inside <script>: no "</script>" can close the tag early. */
function embed(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

export interface ChartSpec {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  /** x values, then one array per series (null for gaps). */
  data: Array<Array<number | null>>;
  series: string[];
  logY?: boolean;
  /** Draw points only (categories on x, e.g. peers). */
  points?: boolean;
}

const CLIENT = `
window.__charts = [];
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
for (const c of CHARTS) {
  const el = document.getElementById(c.id);
  const opts = {
    title: c.title, width: Math.min(900, window.innerWidth - 40), height: 320,
    scales: { x: { time: false }, y: c.logY ? { distr: 3 } : {} },
    axes: [{ label: c.xLabel }, { label: c.yLabel }],
    series: [{ label: c.xLabel }, ...c.series.map((s, i) => ({
      label: s, stroke: palette[i % palette.length], width: 2,
      points: { show: !!c.points || c.data[0].length < 30, size: c.points ? 10 : 5 },
      paths: c.points ? () => null : undefined,
    }))],
  };
  new uPlot(opts, c.data, el);
  const pts = c.data.slice(1).reduce((n, s) => n + s.filter((v) => v !== null && Number.isFinite(v)).length, 0);
  window.__charts.push({ id: c.id, points: pts });
  el.dataset.points = String(pts);
}
document.body.dataset.rendered = 'true';
`;

export function renderHtml(title: string, summaryHtml: string, charts: ChartSpec[]): string {
  const { js, css } = uplotAssets();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${css}
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}.bad{color:#b00;font-weight:bold}.chart{margin:18px 0}</style>
</head><body><h1>${esc(title)}</h1>
${summaryHtml}
${charts.map((c) => `<div class="chart" id="${esc(c.id)}"></div>`).join('\n')}
<script>${js}</script>
<script>const CHARTS = ${embed(charts)};${CLIENT}</script>
</body></html>
`;
}

function reportTable(reports: readonly RunReport[]): string {
  const head = ['target', 'scenario', 'profile', 'offered/s', 'delivered', 'lost', 'dup', 'reord', 'p50', 'p90', 'p99', 'p99.9', 'max ms', 'CPU µs/dlv', 'valid'];
  const rows = reports.map((r) => {
    const bad = r.lost + r.duplicates + r.reordered > 0;
    const cells = [r.target, r.scenario, r.profile, r.offeredRate, `${r.delivered}/${r.expected}`, r.lost, r.duplicates, r.reordered, r.latencyMs.p50, r.latencyMs.p90, r.latencyMs.p99, r.latencyMs.p999, r.latencyMs.max, r.serverCpuUsPerDelivery, r.valid ? 'yes' : 'NO'];
    return `<tr${bad || !r.valid ? ' class="bad"' : ''}>${cells.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`;
  });
  return `<table><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows.join('')}</table>`;
}

/** The CDF as chart data: x = percentile, one series per report (each sampled at the same percentiles). */
function cdfChart(reports: readonly RunReport[], id: string): ChartSpec {
  const fractions = [...new Set(reports.flatMap((r) => r.latencyCdf.map((p) => p.fraction)))].sort((a, b) => a - b);
  return {
    id,
    title: 'Latency CDF (from intended send time)',
    xLabel: 'percentile',
    yLabel: 'ms',
    logY: true,
    data: [fractions.map((f) => f * 100), ...reports.map((r) => fractions.map((f) => Math.max(0.001, r.latencyCdf.find((p) => p.fraction === f)?.ms ?? NaN) || null))],
    series: reports.map((r) => `${r.target} ${r.profile} ${r.offeredRate}/s`),
  };
}

export function runHtml(r: RunReport): string {
  const pct: ChartSpec = {
    id: 'percentiles',
    title: 'Latency percentiles',
    xLabel: 'percentile',
    yLabel: 'ms',
    logY: true,
    data: [[50, 90, 99, 99.9, 100], [r.latencyMs.p50, r.latencyMs.p90, r.latencyMs.p99, r.latencyMs.p999, r.latencyMs.max].map((v) => Math.max(v, 0.001))],
    series: [r.target],
  };
  const mix = r.mix ? `; mix ${esc(r.mix.name)}: ${r.mix.classes.map((c) => `${esc(c.name)} ${c.sent}× ${c.bytes} B → ${c.receivers}`).join(', ')}` : '';
  const storms = (r.storms ?? []).map((s) => `; storm: ${s.resumed}/${s.clients} resumed in ${s.allResumedMs ?? '—'} ms, caught up in ${s.allCaughtUpMs ?? '—'} ms (${s.met ? 'met' : 'missed'})`).join('');
  const notes = `<p>bodies: ${r.bodies}; ${r.orders} orders × ${r.receiversPerOrder + 1} parties; ${r.payloadBytes}-byte payloads${mix}${storms}; ${r.arrival} arrivals; warm-up ${r.warmupMs} ms; pinned: ${r.pinned}; driver CPU ${r.driverCpuCores} cores${r.invalidReasons.length ? `; <span class="bad">INVALID: ${esc(r.invalidReasons.join('; '))}</span>` : ''}</p>`;
  return renderHtml(`${r.scenario} · ${r.target} · ${r.profile} · ${r.offeredRate}/s`, reportTable([r]) + notes, [cdfChart([r], 'cdf'), pct]);
}

export function matrixHtml(title: string, reports: readonly RunReport[]): string {
  const profiles = [...new Set(reports.map((r) => r.profile))];
  const targets = [...new Set(reports.map((r) => r.target))];
  const rates = [...new Set(reports.map((r) => r.offeredRate))].sort((a, b) => a - b);
  const byProfile: ChartSpec = {
    id: 'by-profile',
    title: 'p50 / p99 / p99.9 latency per profile',
    xLabel: 'profile #',
    yLabel: 'ms',
    logY: true,
    points: true,
    data: [profiles.map((_, i) => i + 1), ...(['p50', 'p99', 'p999'] as const).map((k) => profiles.map((p) => worst(reports.filter((r) => r.profile === p).map((r) => r.latencyMs[k]))))],
    series: ['p50', 'p99', 'p99.9'],
  };
  const throughput: ChartSpec = {
    id: 'throughput',
    title: 'Delivered messages/s against offered publishes/s',
    xLabel: 'offered publishes/s',
    yLabel: 'delivered/s',
    data: [rates, ...targets.map((t) => rates.map((rate) => reports.find((r) => r.target === t && r.offeredRate === rate)?.deliveredPerSec ?? null))],
    series: targets,
  };
  const peers: ChartSpec = {
    id: 'peers',
    title: 'Server CPU µs per delivery, per peer, at each offered rate',
    xLabel: 'offered publishes/s',
    yLabel: 'µs / delivery',
    data: [rates, ...targets.map((t) => rates.map((rate) => reports.find((r) => r.target === t && r.offeredRate === rate)?.serverCpuUsPerDelivery ?? null))],
    series: targets,
  };
  const legend = `<p>profiles: ${profiles.map((p, i) => `${i + 1} = ${esc(p)}`).join(', ')}</p>`;
  return renderHtml(title, reportTable(reports) + legend, [byProfile, cdfChart(reports, 'cdf'), throughput, peers]);
}

function worst(xs: number[]): number | null {
  return xs.length ? Math.max(0.001, ...xs) : null;
}

export function writeRunHtml(r: RunReport, file: string): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, runHtml(r));
  return file;
}

export function writeMatrixHtml(title: string, reports: readonly RunReport[], file: string): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, matrixHtml(title, reports));
  return file;
}
