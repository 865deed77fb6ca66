/**
 * Reconnect delay: "full jitter" exponential backoff (AWS architecture blog,
 * "Exponential Backoff And Jitter"; the same shape centrifuge-js uses). Pure: the
 * random source is an argument so tests can pin it.
 *
 * Full jitter rather than equal jitter because after a relay restart thousands of
 * phones reconnect at once; spreading them uniformly over [0, cap) flattens the
 * storm best.
 */
export interface BackoffOptions {
  /** Delay cap of the first retry (attempt 0). */
  readonly baseMs: number;
  /** Upper bound of any delay. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ baseMs: 500, maxMs: 20_000 });

/**
 * Delay before reconnect attempt `attempt` (0-based): uniform in [0, min(maxMs, baseMs·2^attempt)).
 * @example setTimeout(reconnect, backoff(attempt++, DEFAULT_BACKOFF, Math.random));
 */
export function backoff(attempt: number, opts: BackoffOptions, random: () => number): number {
  // Clamp the exponent so 2^attempt cannot overflow to Infinity after a long outage.
  const exp = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const cap = Math.min(opts.maxMs, opts.baseMs * 2 ** exp);
  const r = Math.min(Math.max(random(), 0), 1 - Number.EPSILON);
  return Math.floor(r * cap);
}
