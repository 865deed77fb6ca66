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

/**
 * Appends not yet resolved: shutdown waits for them so no acknowledged-or-not
 * message is left in limbo. A count, not a set of promises: `begin` runs for every
 * publish.
 */
export class InFlight {
  private count = 0;
  private idle: Array<() => void> = [];

  /** One more operation in flight; call the returned function (once) when it settled. */
  begin(): () => void {
    this.count++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.count === 0) for (const wake of this.idle.splice(0)) wake();
    };
  }

  track<T>(p: Promise<T>): Promise<T> {
    const done = this.begin();
    p.then(done, done);
    return p;
  }

  get size(): number {
    return this.count;
  }

  /** Resolve when nothing is in flight or `timeoutMs` passed; returns how many were still pending. */
  async settle(timeoutMs: number): Promise<number> {
    if (this.count === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.idle.push(resolve);
      timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
    return this.count;
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
