/**
 * End-to-end latency, from the INTENDED send time to arrival, in an HdrHistogram:
 * 1 µs .. 60 s at 3 significant digits, so p99.9 of a 1 ms run and max of a
 * 30-second outage land in one structure with bounded error (0.1%).
 */
import * as hdr from 'hdr-histogram-js';

export const LOWEST_US = 1;
export const HIGHEST_US = 60_000_000;
export const SIGNIFICANT_DIGITS = 3;

export interface LatencyMs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** A point of the latency CDF: `fraction` of samples are at or below `ms`. */
export interface CdfPoint {
  readonly ms: number;
  readonly fraction: number;
}

export class LatencyRecorder {
  // The pure-JS implementation: the WASM one needs an async init and explicit destroy,
  // and recording ~100k values/s is far below where the difference matters.
  private readonly h = hdr.build({
    lowestDiscernibleValue: LOWEST_US,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    // 32-bit counters: 4 billion samples per bucket is more than any run makes.
    bitBucketSize: 32,
    useWebAssembly: false,
  });
  private overflow = 0;

  /** Record one latency in milliseconds (clamped into the trackable range, overflow counted). */
  recordMs(ms: number): void {
    let us = Math.round(ms * 1000);
    if (us < LOWEST_US) us = LOWEST_US;
    if (us > HIGHEST_US) {
      this.overflow++;
      us = HIGHEST_US;
    }
    this.h.recordValue(us);
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** Samples beyond 60 s (recorded as 60 s). */
  get overflowCount(): number {
    return this.overflow;
  }

  percentiles(): LatencyMs {
    const max = round3(this.h.maxValue / 1000);
    // A percentile is the top of its bucket (≤ 0.1% above the true value); never report one above the max.
    const at = (p: number) => (this.h.totalCount === 0 ? 0 : Math.min(max, round3(this.h.getValueAtPercentile(p) / 1000)));
    return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max };
  }

  /** The CDF at log-spaced percentiles, for plots (up to the max). */
  cdf(): CdfPoint[] {
    if (this.h.totalCount === 0) return [];
    const ps = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100];
    return ps.map((p) => ({ ms: round3(this.h.getValueAtPercentile(p) / 1000), fraction: p / 100 }));
  }

  merge(other: LatencyRecorder): void {
    this.h.add(other.h);
    this.overflow += other.overflow;
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
