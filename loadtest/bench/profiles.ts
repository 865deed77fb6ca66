/**
 * One scenario across network profiles, then one matrix report (latency
 * percentiles per profile, CDFs) and a Markdown table for BENCHMARKS.md. Each
 * profile runs through the loadtest CLI in its own process (impaired profiles
 * need the namespace re-exec the CLI does).
 *
 *   npx tsx loadtest/bench/profiles.ts --profiles lan,3g-average,courier-flaky --scenario steady --rate 20 --duration 60 --orders 25 [--target sealrelay] [--store memory] [--mix steady] [--bodies pre-sealed] [--outage-scale 1]
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { latencyBound } from '../report/bound.ts';
import type { RunReport } from '../driver/report.ts';
import { summaryLine } from '../driver/report.ts';
import { writeMatrixHtml } from '../report/html.ts';
import { markdownTable } from '../report/markdown.ts';

const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));

const { values } = parseArgs({
  options: {
    profiles: { type: 'string', default: 'lan,3g-average' },
    scenario: { type: 'string', default: 'steady' },
    target: { type: 'string', default: 'sealrelay' },
    store: { type: 'string', default: 'memory' },
    rate: { type: 'string', default: '20' },
    duration: { type: 'string', default: '30' },
    orders: { type: 'string', default: '25' },
    'outage-scale': { type: 'string', default: '1' },
    mix: { type: 'string', default: 'steady' },
    bodies: { type: 'string', default: 'pre-sealed' },
  },
});

function runProfile(profile: string): Promise<RunReport | string> {
  const args = ['--import', 'tsx', CLI, '--profile', profile, '--scenario', values.scenario!, '--target', values.target!, '--store', values.store!, '--rate', values.rate!, '--duration', values.duration!, '--orders', values.orders!, '--outage-scale', values['outage-scale']!, '--mix', values.mix!, '--bodies', values.bodies!, '--json'];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as RunReport);
      } catch {
        resolve(`${profile}: no report (${err?.message ?? 'exit 0'}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      }
    });
  });
}

const reports: RunReport[] = [];
for (const p of values.profiles!.split(',')) {
  const r = await runProfile(p);
  if (typeof r === 'string') console.log(`FAILED ${r}`);
  else {
    reports.push(r);
    console.log(summaryLine(r));
  }
}
const verdicts = reports.map(latencyBound);
for (const v of verdicts) console.log(`${v.met === undefined ? 'N/A ' : v.met ? 'MET ' : 'MISSED'} ${v.profile}: ${v.note}`);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const html = writeMatrixHtml(`${values.scenario} across profiles`, reports, `reports/profiles-${values.scenario}-${stamp}.html`);
const boundRows = verdicts.map((v) => `| ${v.profile} | ${v.boundMs ?? '–'} | ${v.p99Ms} | ${v.met === undefined ? 'n/a' : v.met ? 'met' : 'missed'} | ${v.note} |`);
writeFileSync(
  `reports/profiles-${values.scenario}-${stamp}.md`,
  [markdownTable(reports), '', '| profile | p99 bound ms | p99 ms | verdict | how |', '|---|---:|---:|---|---|', ...boundRows].join('\n') + '\n',
);
console.log(`matrix: ${html}`);
