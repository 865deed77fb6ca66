import { describe, expect, it } from 'vitest';
import type { RunReport } from '../../loadtest/driver/report.ts';
import { latencyBound } from '../../loadtest/report/bound.ts';

const report = (profile: string, p99: number, extra: Partial<RunReport> = {}): RunReport =>
  ({ profile, payloadBytes: 406, latencyMs: { p50: 0, p90: 0, p99, p999: 0, max: 0 }, maxCatchUpMs: 1234, reconnects: 7, ...extra }) as RunReport;

describe("issue 5's latency bound on impaired profiles", () => {
  it('is 2 × one-way delay + transfer of the largest message up and down + 1 s (3g-average: 100+100 ms, 780/330 kbit/s)', () => {
    // 723 B: 5784 bits / 330 kbit/s = 17.5 ms up, / 780 = 7.4 ms down.
    const v = latencyBound(report('3g-average', 1200, { mix: { name: 'steady', classes: [{ bytes: 406 }, { bytes: 723 }] } as RunReport['mix'] }));
    expect(v.boundMs).toBe(Math.round(200 + (723 * 8) / 330 + (723 * 8) / 780 + 1000));
    expect(v.met).toBe(true);
    expect(latencyBound(report('3g-average', 1300)).met).toBe(false);
  });

  it('uses the different up and down delays of edge-lossy', () => {
    const v = latencyBound(report('edge-lossy', 100));
    expect(v.boundMs).toBeGreaterThan(400 + 440 + 1000);
  });

  it('judges profiles with outages by catch-up time, and has no bound on lan', () => {
    const flaky = latencyBound(report('courier-flaky', 99_999));
    expect(flaky.met).toBeUndefined();
    expect(flaky.note).toMatch(/catch-up, 1234 ms/);
    const lan = latencyBound(report('lan', 5));
    expect(lan.met).toBeUndefined();
    expect(lan.boundMs).toBeUndefined();
  });
});
