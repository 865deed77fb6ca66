/**
 * Inbound ordering: turns whatever the relay delivers (replays overlapping live
 * traffic, duplicates after a reconnect, a batch lost on a dying socket) into each
 * message exactly once, in sequence order, per order.
 *
 * A reader does not see every sequence number of an order (other scopes, epochs
 * before it joined), so "seq = last + 1" cannot detect loss. The relay links each
 * delivered message to the previous one THIS reader may see (`prev`):
 *   prev ≤ released  → next in line: release it
 *   prev > released  → something between is missing: buffer, ask for a back-fill
 *   seq ≤ released   → already released: a duplicate, drop
 *
 * Two cursors per order: `released` (handed to the session, in memory) and
 * `committed` (the application has handled it; persisted, acknowledged to the
 * relay, and where a restarted process resumes with `afterSeq`). A crash between
 * hand-off and commit replays at most the uncommitted tail, so across a crash
 * delivery is at-least-once by (order, seq), and exactly-once within a process.
 *
 * Pure state over ClientStorage: no sockets, no timers.
 */
import { z } from 'zod';
import type { DeliveredMessage } from '../protocol/index.ts';
import { MAX_DELIVER_BATCH } from '../protocol/index.ts';
import { getJson, setJson, type ClientStorage } from './storage/types.ts';

export interface InboxOptions {
  /** Out-of-order messages held per order while a gap is back-filled; more are dropped (the back-fill brings them again). */
  readonly maxBuffered?: number;
  /** Ask again for the same gap after this long, in case the back-fill itself was lost. */
  readonly backfillRetryMs?: number;
}

export interface Offered {
  /** Messages to hand on now, in sequence order. */
  readonly release: DeliveredMessage[];
  /** Set when a gap was found: re-subscribe with `afterSeq` = this value. */
  readonly backfillFrom?: number;
  /** How many offered messages were dropped as duplicates. */
  readonly duplicates: number;
}

interface OrderCursor {
  released: number;
  committed: number;
  buffer: Map<number, DeliveredMessage>;
  gapAskedAt: number | undefined;
}

const Persisted = z.object({ committed: z.number().int().nonnegative() });
const keyOf = (order: string) => `inbox/${order}`;

export class Inbox {
  private readonly orders = new Map<string, OrderCursor>();
  private readonly maxBuffered: number;
  private readonly backfillRetryMs: number;

  constructor(
    private readonly storage: ClientStorage,
    opts: InboxOptions = {},
  ) {
    this.maxBuffered = opts.maxBuffered ?? 4 * MAX_DELIVER_BATCH;
    this.backfillRetryMs = opts.backfillRetryMs ?? 5_000;
  }

  /** Load the order's cursor (once); returns the sequence to subscribe after. */
  async open(order: string): Promise<number> {
    let c = this.orders.get(order);
    if (!c) {
      const parsed = Persisted.safeParse(await getJson(this.storage, keyOf(order)));
      const committed = parsed.success ? parsed.data.committed : 0;
      // Re-check after the await: a concurrent open() may have won.
      c = this.orders.get(order) ?? { released: committed, committed, buffer: new Map(), gapAskedAt: undefined };
      this.orders.set(order, c);
    }
    return c.released;
  }

  /** Where a (re)subscription should resume: after everything already handed on. */
  resumeAfter(order: string): number {
    return this.cursor(order).released;
  }

  committed(order: string): number {
    return this.cursor(order).committed;
  }

  /** Take delivered messages (any order, any duplicates) and say what to release. */
  offer(order: string, messages: readonly DeliveredMessage[], now: number): Offered {
    const c = this.cursor(order);
    let duplicates = 0;
    for (const m of messages) {
      if (m.seq <= c.released || c.buffer.has(m.seq)) duplicates++;
      else c.buffer.set(m.seq, m);
    }
    const release: DeliveredMessage[] = [];
    let gap = false;
    for (;;) {
      const next = lowest(c.buffer);
      if (!next) break;
      if (next.prev > c.released) {
        gap = true;
        break;
      }
      c.buffer.delete(next.seq);
      c.released = next.seq;
      release.push(next);
    }
    if (c.buffer.size > this.maxBuffered) {
      // Keep the lowest: they are the next to release; the rest come again with the back-fill.
      const keep = [...c.buffer.keys()].sort((a, b) => a - b).slice(0, this.maxBuffered);
      const kept = new Map(keep.map((s) => [s, c.buffer.get(s)!]));
      c.buffer = kept;
    }
    if (!gap) {
      c.gapAskedAt = undefined;
      return { release, duplicates };
    }
    if (c.gapAskedAt !== undefined && now - c.gapAskedAt < this.backfillRetryMs) return { release, duplicates };
    c.gapAskedAt = now;
    return { release, duplicates, backfillFrom: c.released };
  }

  /** Whether a gap back-fill is still outstanding and due to be asked again. */
  backfillDue(order: string, now: number): number | undefined {
    const c = this.cursor(order);
    if (c.gapAskedAt === undefined || now - c.gapAskedAt < this.backfillRetryMs) return undefined;
    c.gapAskedAt = now;
    return c.released;
  }

  /**
   * The application has handled everything up to `seq`: persist it. Resolves once
   * durable; the caller then acknowledges `seq` to the relay.
   */
  async commit(order: string, seq: number): Promise<void> {
    const c = this.cursor(order);
    if (seq <= c.committed) return;
    c.committed = Math.min(seq, c.released);
    await setJson(this.storage, keyOf(order), { committed: c.committed });
  }

  /** Read from `afterSeq` on (backwards too: a re-read of history); persisted like a commit. */
  async seek(order: string, afterSeq: number): Promise<void> {
    const c = this.cursor(order);
    c.released = c.committed = Math.max(0, afterSeq);
    c.buffer.clear();
    c.gapAskedAt = undefined;
    await setJson(this.storage, keyOf(order), { committed: c.committed });
  }

  /**
   * The relay no longer holds messages before `oldestSeq` (HISTORY_TRIMMED): move
   * both cursors past what cannot be fetched. Returns how many sequence numbers
   * were skipped, for the warning the caller raises.
   */
  async skipTo(order: string, oldestSeq: number): Promise<number> {
    const c = this.cursor(order);
    const target = oldestSeq - 1;
    if (target <= c.released) return 0;
    const skipped = target - c.released;
    c.released = target;
    for (const s of [...c.buffer.keys()]) if (s <= target) c.buffer.delete(s);
    c.gapAskedAt = undefined;
    await this.commit(order, target);
    return skipped;
  }

  /** Forget an order (closed or removed); its persisted cursor stays for a later open. */
  close(order: string): void {
    this.orders.delete(order);
  }

  private cursor(order: string): OrderCursor {
    const c = this.orders.get(order);
    if (!c) throw new Error(`inbox: order ${order} was not opened`);
    return c;
  }
}

function lowest(buffer: Map<number, DeliveredMessage>): DeliveredMessage | undefined {
  let best: DeliveredMessage | undefined;
  for (const m of buffer.values()) if (!best || m.seq < best.seq) best = m;
  return best;
}
