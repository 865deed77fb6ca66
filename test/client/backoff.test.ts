import { describe, expect, it } from 'vitest';
import { backoff } from '../../client/backoff.ts';

const opts = { baseMs: 500, maxMs: 20_000 };

describe('full-jitter backoff', () => {
  it('never waits longer than base·2^attempt, nor longer than the cap', () => {
    const top = () => 0.999999;
    expect(backoff(0, opts, top)).toBeLessThan(500);
    expect(backoff(0, opts, top)).toBeGreaterThan(495);
    expect(backoff(3, opts, top)).toBeLessThan(4000);
    expect(backoff(3, opts, top)).toBeGreaterThan(3990);
    expect(backoff(10, opts, top)).toBeLessThan(20_000);
    expect(backoff(10, opts, top)).toBeGreaterThan(19_900);
  });

  it('may retry at once: the lower bound is zero, which spreads a reconnect storm', () => {
    expect(backoff(5, opts, () => 0)).toBe(0);
  });

  it('spreads delays uniformly over the window (jitter is real)', () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const samples = Array.from({ length: 2000 }, () => backoff(4, opts, rand));
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(new Set(samples).size).toBeGreaterThan(1000);
    expect(mean).toBeGreaterThan(3600);
    expect(mean).toBeLessThan(4400);
  });

  it('survives absurd attempt counts and out-of-range random values', () => {
    expect(backoff(10_000, opts, () => 1)).toBeLessThan(20_000);
    expect(backoff(-3, opts, () => -1)).toBe(0);
    expect(Number.isFinite(backoff(1e9, opts, () => 0.5))).toBe(true);
  });
});
