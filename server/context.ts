/**
 * Everything a session or an HTTP handler needs, built once by startRelay.
 * Passed explicitly (no module singletons) so several relays can run in one
 * test process and every dependency is visible at the call site.
 */
import type { RelayConfig } from './config.ts';
import type { RosterBook } from './authz/rosters.ts';
import type { FeedRegistry } from './delivery/feed.ts';
import type { Logger } from './log.ts';
import type { RelayMetrics } from './metrics.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { BlobStore, MessageStore } from './store/types.ts';
import type { TicketIssuer } from './ticket.ts';

/** Appends not yet resolved: shutdown waits for them so no acknowledged-or-not message is left in limbo. */
export class InFlight {
  private readonly pending = new Set<Promise<unknown>>();

  track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const forget = (): void => void this.pending.delete(p);
    p.then(forget, forget);
    return p;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Resolve when all tracked promises settled or `timeoutMs` passed; returns how many were still pending. */
  async settle(timeoutMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([Promise.allSettled([...this.pending]), timeout]);
    clearTimeout(timer);
    return this.pending.size;
  }
}

export interface RelayContext {
  readonly config: RelayConfig;
  readonly store: MessageStore;
  readonly blobs: BlobStore;
  readonly rosters: RosterBook;
  readonly feeds: FeedRegistry;
  readonly tickets: TicketIssuer;
  readonly metrics: RelayMetrics;
  readonly log: Logger;
  readonly publishLimiter: RateLimiter;
  readonly frameLimiter: RateLimiter;
  readonly inFlight: InFlight;
  readonly now: () => number;
}
