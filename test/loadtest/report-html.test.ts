import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../loadtest/driver/report.ts';
import { runLoad } from '../../loadtest/driver/run.ts';
import { writeMatrixHtml, writeRunHtml } from '../../loadtest/report/html.ts';
import { markdownTable } from '../../loadtest/report/markdown.ts';
import { FakeTarget } from './fake-target.ts';
import { CHROMIUM, hasChromium, requireService } from './service.ts';

const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const dir = mkdtempSync(join(tmpdir(), 'sr-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function reports(): Promise<RunReport[]> {
  const out: RunReport[] = [];
  for (const [rate, delayMs] of [
    [200, 1],
    [400, 3],
  ] as const) {
    const r = await runLoad({ target: new FakeTarget({ delayMs }), scenario: 'unit', profile: 'lan', orders: 4, ratePerSec: rate, durationMs: 300, drainMs: 500 });
    out.push(r, { ...r, target: 'other', profile: '3g-slow', serverCpuUsPerDelivery: 3 });
  }
  return out;
}

async function render(file: string): Promise<{ charts: Array<{ id: string; points: number }>; canvases: number; errors: string[] }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Self-contained means no request leaves the page: fail any that tries.
    await page.route('**/*', (route) => (route.request().url().startsWith('file:') ? route.continue() : route.abort()));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 10_000 });
    const charts = (await page.evaluate('window.__charts')) as Array<{ id: string; points: number }>;
    const canvases = await page.locator('canvas').count();
    return { charts, canvases, errors };
  } finally {
    await browser.close();
  }
}

describe.runIf(requireService('chromium', hasChromium(), 'apt-get install -y chromium'))('the HTML reports in real Chromium', () => {
  it('a run report renders its latency charts with data and no script errors', async () => {
    const [r] = await reports();
    const file = writeRunHtml(r!, join(dir, 'run.html'));
    const { charts, canvases, errors } = await render(file);
    expect(errors).toEqual([]);
    expect(canvases).toBeGreaterThanOrEqual(2);
    expect(charts.map((c) => c.id)).toEqual(['cdf', 'percentiles']);
    for (const c of charts) expect(c.points, c.id).toBeGreaterThan(0);
  }, 60_000);

  it('a matrix report renders per-profile, CDF, throughput and peer charts, each with data', async () => {
    const rs = await reports();
    const file = writeMatrixHtml('unit matrix', rs, join(dir, 'matrix.html'));
    const { charts, errors } = await render(file);
    expect(errors).toEqual([]);
    expect(charts.map((c) => c.id)).toEqual(['by-profile', 'cdf', 'throughput', 'peers']);
    for (const c of charts) expect(c.points, c.id).toBeGreaterThan(0);
  }, 60_000);
});

describe('the Markdown table for BENCHMARKS.md', () => {
  it('has one row per report and flags invalid runs', async () => {
    const rs = await reports();
    const md = markdownTable([rs[0]!, { ...rs[1]!, valid: false, invalidReasons: ['lagged'] }]);
    const lines = md.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/no: lagged/);
  });
});
