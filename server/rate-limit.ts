/**
 * Token buckets, keyed (per device). Pure: time is an argument, so tests step a
 * clock instead of sleeping. A bucket refills continuously at `ratePerSecond`
 * up to `burst`; taking from an empty bucket reports how long until a token.
 */
export interface BucketSpec {
  readonly ratePerSecond: number;
  readonly burst: number;
}

export type Take = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets idle long enough to be full again are forgotten, keeping memory proportional to active devices. */
const SWEEP_EVERY = 4096;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private takes = 0;

  constructor(private readonly spec: BucketSpec) {}

  take(key: string, now: number, cost = 1): Take {
    if (++this.takes % SWEEP_EVERY === 0) this.sweep(now);
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.spec.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.spec.burst, b.tokens + ((now - b.at) * this.spec.ratePerSecond) / 1000);
      b.at = now;
    }
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil(((cost - b.tokens) * 1000) / this.spec.ratePerSecond)) };
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    const fullAfterMs = (this.spec.burst * 1000) / this.spec.ratePerSecond;
    for (const [k, b] of this.buckets) if (now - b.at >= fullAfterMs) this.buckets.delete(k);
  }
}
