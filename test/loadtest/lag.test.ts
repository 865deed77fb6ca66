import { describe, expect, it } from 'vitest';
import { LagMonitor, LATE_SEND_MS, MAX_LAG_MS } from '../../loadtest/driver/lag.ts';

describe('scheduler lag detection', () => {
  it('keeps a run valid when every send leaves within the timer jitter', () => {
    const m = new LagMonitor();
    for (let i = 0; i < 1000; i++) m.record(i, i + 0.8);
    const s = m.summary();
    expect(s.valid).toBe(true);
    expect(s.late).toBe(0);
    expect(s.meanLagMs).toBeCloseTo(0.8, 6);
  });

  it('marks the run invalid when one send left more than MAX_LAG_MS late', () => {
    const m = new LagMonitor();
    for (let i = 0; i < 1000; i++) m.record(i, i + (i === 500 ? MAX_LAG_MS + 1 : 0));
    const s = m.summary();
    expect(s.valid).toBe(false);
    expect(s.reason).toMatch(/lagged/);
    expect(s.maxLagAtMs).toBe(500); // when the worst send was due
  });

  it('marks the run invalid when more than 1% of sends were late, even if none by much', () => {
    const m = new LagMonitor();
    for (let i = 0; i < 1000; i++) m.record(i, i + (i % 50 === 0 ? LATE_SEND_MS + 1 : 0)); // 2% late by 11 ms
    const s = m.summary();
    expect(s.late).toBe(20);
    expect(s.valid).toBe(false);
    expect(s.reason).toMatch(/2\.00% of sends/);
  });

  it('tolerates exactly 1% late sends', () => {
    const m = new LagMonitor();
    for (let i = 0; i < 1000; i++) m.record(i, i + (i % 100 === 0 ? LATE_SEND_MS + 1 : 0));
    expect(m.summary().valid).toBe(true);
  });
});
