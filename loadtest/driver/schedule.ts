/**
 * The open-loop send schedule, computed before the run starts so that the driver
 * never decides "when next" under load (which is how closed-loop drivers hide
 * their own stalls: coordinated omission). Pure: same options and seed, same
 * schedule.
 *
 * @example
 *   const s = buildSchedule({ ratePerSec: 2000, durationMs: 10_000, streams: 250, arrival: 'poisson', seed: 7 });
 *   s.atMs[i]; // intended send time of send i, ms after the start
 *   s.stream[i]; // which order publishes it (round-robin, so every order sees the same rate)
 */

export type Arrival = 'constant' | 'poisson';

export interface ScheduleOptions {
  /** Offered publishes per second, over all streams together. */
  readonly ratePerSec: number;
  /** Stop scheduling at this time (ms after the start)… */
  readonly durationMs: number;
  /** …or after this many sends, whichever comes first. */
  readonly maxSends?: number;
  /** Independent publishing streams (orders); sends are spread round-robin over them. */
  readonly streams: number;
  readonly arrival: Arrival;
  /** Seed for Poisson gaps; ignored for constant arrivals. */
  readonly seed?: number;
  /**
   * Rate multiplier over time (ms after the start), e.g. a peak: `t => t > 10_000 && t < 20_000 ? 4 : 1`.
   * Gaps are drawn at the rate in force where the previous send was.
   */
  readonly shape?: (tMs: number) => number;
}

export interface Schedule {
  /** Intended send time of each send, ms after the run start, non-decreasing. */
  readonly atMs: Float64Array;
  /** Stream (order index) of each send. */
  readonly stream: Uint32Array;
  /** Per-stream sequence number of each send, 1-based (the n-th message of that order). */
  readonly seq: Uint32Array;
  readonly length: number;
}

/** Hard cap so a typo like --rate 1e9 fails loudly instead of allocating gigabytes. */
export const MAX_SCHEDULED_SENDS = 20_000_000;

/** mulberry32: tiny, seedable, good enough for arrival gaps (not for crypto). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function buildSchedule(o: ScheduleOptions): Schedule {
  if (!(o.ratePerSec > 0) || !Number.isFinite(o.ratePerSec)) throw new RangeError(`rate must be > 0, got ${o.ratePerSec}`);
  if (!(o.durationMs > 0)) throw new RangeError(`duration must be > 0 ms, got ${o.durationMs}`);
  if (!Number.isInteger(o.streams) || o.streams < 1) throw new RangeError(`streams must be a positive integer, got ${o.streams}`);
  const peak = o.shape ? maxMultiplier(o.shape, o.durationMs) : 1;
  const byTime = Math.ceil((o.ratePerSec * peak * o.durationMs) / 1000) + (o.arrival === 'poisson' ? Math.ceil(o.ratePerSec * peak) : 0);
  const cap = Math.min(o.maxSends ?? Infinity, byTime);
  if (cap > MAX_SCHEDULED_SENDS) throw new RangeError(`${cap} sends exceed MAX_SCHEDULED_SENDS; lower the rate or duration`);
  const atMs = new Float64Array(cap);
  const meanGapMs = 1000 / o.ratePerSec;
  const random = seededRandom(o.seed ?? 1);
  let n = 0;
  let t = 0;
  while (n < cap) {
    const gap = o.shape ? meanGapMs / Math.max(1e-6, o.shape(t)) : meanGapMs;
    if (o.arrival === 'constant') t = o.shape ? (n > 0 ? t + gap : 0) : n * meanGapMs;
    // Exponential gaps give Poisson arrivals; 1 - u avoids log(0).
    else if (n > 0) t += -Math.log(1 - random()) * gap;
    if (t >= o.durationMs) break;
    atMs[n++] = t;
  }
  const stream = new Uint32Array(n);
  const seq = new Uint32Array(n);
  const perStream = new Uint32Array(o.streams);
  for (let i = 0; i < n; i++) {
    const s = i % o.streams;
    stream[i] = s;
    seq[i] = ++perStream[s]!;
  }
  return { atMs: atMs.subarray(0, n), stream, seq, length: n };
}

function maxMultiplier(shape: (t: number) => number, durationMs: number): number {
  let m = 0;
  for (let t = 0; t <= durationMs; t += Math.max(1, durationMs / 1000)) m = Math.max(m, shape(t));
  return Math.max(m, 1e-6);
}

/** How many sends of each stream the schedule holds (what each of its receivers should get). */
export function sendsPerStream(s: Schedule, streams: number): Uint32Array {
  const out = new Uint32Array(streams);
  for (let i = 0; i < s.length; i++) out[s.stream[i]!]!++;
  return out;
}
