import { describe, expect, it } from 'vitest';
import { buildSchedule, sendsPerStream, MAX_SCHEDULED_SENDS } from '../../loadtest/driver/schedule.ts';

describe('the open-loop send schedule', () => {
  it('offers exactly rate × duration sends at constant arrivals, evenly spaced', () => {
    const s = buildSchedule({ ratePerSec: 2000, durationMs: 3000, streams: 10, arrival: 'constant' });
    expect(s.length).toBe(6000);
    expect(s.atMs[1]! - s.atMs[0]!).toBeCloseTo(0.5, 9);
    expect(s.atMs[s.length - 1]!).toBeLessThan(3000);
  });

  it('has Poisson arrivals whose mean gap is 1/rate and whose gaps vary (coefficient of variation ≈ 1)', () => {
    const s = buildSchedule({ ratePerSec: 1000, durationMs: 60_000, streams: 1, arrival: 'poisson', seed: 42 });
    const gaps = Array.from({ length: s.length - 1 }, (_, i) => s.atMs[i + 1]! - s.atMs[i]!);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
    expect(mean).toBeGreaterThan(0.97);
    expect(mean).toBeLessThan(1.03);
    expect(sd / mean).toBeGreaterThan(0.95);
    expect(sd / mean).toBeLessThan(1.05);
    expect(s.length).toBeGreaterThan(58_000);
    expect(s.length).toBeLessThan(62_000);
  });

  it('is reproducible from its seed and differs with another seed', () => {
    const a = buildSchedule({ ratePerSec: 500, durationMs: 1000, streams: 3, arrival: 'poisson', seed: 7 });
    const b = buildSchedule({ ratePerSec: 500, durationMs: 1000, streams: 3, arrival: 'poisson', seed: 7 });
    const c = buildSchedule({ ratePerSec: 500, durationMs: 1000, streams: 3, arrival: 'poisson', seed: 8 });
    expect(Array.from(a.atMs)).toEqual(Array.from(b.atMs));
    expect(Array.from(a.atMs)).not.toEqual(Array.from(c.atMs));
  });

  it('spreads sends round-robin so every order publishes at the same rate with its own 1-based sequence', () => {
    const s = buildSchedule({ ratePerSec: 100, durationMs: 1000, streams: 4, arrival: 'constant' });
    expect(Array.from(s.stream.subarray(0, 6))).toEqual([0, 1, 2, 3, 0, 1]);
    expect(Array.from(s.seq.subarray(0, 6))).toEqual([1, 1, 1, 1, 2, 2]);
    expect(Array.from(sendsPerStream(s, 4))).toEqual([25, 25, 25, 25]);
  });

  it('stops at the count bound before the time bound', () => {
    expect(buildSchedule({ ratePerSec: 1000, durationMs: 10_000, maxSends: 123, streams: 1, arrival: 'constant' }).length).toBe(123);
  });

  it('refuses nonsense instead of allocating it', () => {
    expect(() => buildSchedule({ ratePerSec: 0, durationMs: 1000, streams: 1, arrival: 'constant' })).toThrow(/rate/);
    expect(() => buildSchedule({ ratePerSec: MAX_SCHEDULED_SENDS, durationMs: 10_000, streams: 1, arrival: 'constant' })).toThrow(/MAX_SCHEDULED_SENDS/);
  });
});

describe('a shaped schedule (the peak scenario)', () => {
  it('sends at the multiplied rate during the surge and at the base rate outside it', () => {
    const s = buildSchedule({ ratePerSec: 100, durationMs: 3000, streams: 1, arrival: 'constant', shape: (t) => (t >= 1000 && t < 2000 ? 4 : 1) });
    const inWindow = (a: number, b: number) => Array.from(s.atMs).filter((t) => t >= a && t < b).length;
    expect(inWindow(0, 1000)).toBe(100);
    expect(inWindow(1000, 2000)).toBeGreaterThanOrEqual(399);
    expect(inWindow(1000, 2000)).toBeLessThanOrEqual(401);
    expect(inWindow(2000, 3000)).toBeGreaterThanOrEqual(99);
  });
});
