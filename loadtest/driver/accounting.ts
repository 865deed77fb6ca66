/**
 * Delivery accounting for one receiver, and the sum over all of them. Pure: the
 * caller says what arrived and when; nothing here reads a clock or a socket.
 *
 * Two views of the same traffic:
 *   - the WIRE view: every message the transport handed us, keyed by the
 *     transport's own id (the relay's per-order seq, or the payload seq for peers
 *     that have none). A key seen twice is a raw redelivery (normal after a
 *     resume: the client drops it, the application never sees it).
 *   - the APPLICATION view: messages after the client's de-duplication, keyed by
 *     the publisher's own sequence number embedded in the payload. This is what
 *     the guarantees are about: every message once (lost, duplicates) and in the
 *     publisher's order (reordered).
 *
 * Reordered counts first arrivals whose sequence is below the highest already
 * delivered: 1,3,2 has one reordering (2); a duplicate is never also a reordering.
 */

export interface ReceiverTally {
  readonly receiver: string;
  readonly expected: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly reordered: number;
  /** Arrivals with a sequence the publisher never sent (corruption or cross-talk). */
  readonly phantom: number;
  readonly wireMessages: number;
  readonly wireRedeliveries: number;
  readonly reconnects: number;
  /** Time disconnected, per reconnect, ms. */
  readonly downtimesMs: readonly number[];
  /** Time from each reconnect until everything sent before it had arrived, ms. */
  readonly catchUpsMs: readonly number[];
  /** Reconnects whose catch-up never completed before the run ended. */
  readonly catchUpsPending: number;
}

/** A growable bitset over positive integers: which sequence numbers we have seen. */
class SeqSet {
  private bits = new Uint8Array(1024);
  /** Set `n`; return whether it was already set. */
  add(n: number): boolean {
    const byte = n >>> 3;
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(this.bits.length * 2, byte + 1));
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (n & 7);
    const had = (this.bits[byte]! & mask) !== 0;
    this.bits[byte]! |= mask;
    return had;
  }
  has(n: number): boolean {
    const byte = n >>> 3;
    return byte < this.bits.length && (this.bits[byte]! & (1 << (n & 7))) !== 0;
  }
}

export class DeliveryLedger {
  private readonly wireSeen = new SeqSet();
  private readonly appSeen = new SeqSet();
  private wireMessages = 0;
  private wireRedeliveries = 0;
  private delivered = 0;
  private duplicates = 0;
  private reordered = 0;
  private highest = 0;
  /** Every sequence 1..contiguous has arrived. */
  private contiguous = 0;
  private disconnectedAt: number | undefined;
  private reconnects = 0;
  private readonly downtimes: number[] = [];
  private readonly catchUps: number[] = [];
  private catchUp: { since: number; target: number } | undefined;

  constructor(readonly receiver: string) {}

  /**
   * A message came off the wire with transport id `wireSeq` (≥ 1). Returns false
   * when it is a redelivery the client should drop before the application.
   */
  onWire(wireSeq: number): boolean {
    this.wireMessages++;
    if (this.wireSeen.add(wireSeq)) {
      this.wireRedeliveries++;
      return false;
    }
    return true;
  }

  /** The application received the publisher's message `seq` (≥ 1) at `nowMs`. */
  onApp(seq: number, nowMs: number): void {
    if (this.appSeen.add(seq)) {
      this.duplicates++;
      return;
    }
    this.delivered++;
    if (seq < this.highest) this.reordered++;
    else this.highest = seq;
    while (this.appSeen.has(this.contiguous + 1)) this.contiguous++;
    if (this.catchUp && this.contiguous >= this.catchUp.target) {
      this.catchUps.push(nowMs - this.catchUp.since);
      this.catchUp = undefined;
    }
  }

  onDisconnect(nowMs: number): void {
    if (this.disconnectedAt === undefined) this.disconnectedAt = nowMs;
  }

  /**
   * The receiver is connected again at `nowMs`; `sentBefore` is how many messages
   * its publisher had sent by then, which it must now catch up to.
   */
  onReconnect(nowMs: number, sentBefore: number): void {
    this.reconnects++;
    if (this.disconnectedAt !== undefined) this.downtimes.push(nowMs - this.disconnectedAt);
    this.disconnectedAt = undefined;
    if (this.contiguous >= sentBefore) this.catchUps.push(0);
    else this.catchUp = { since: nowMs, target: sentBefore };
  }

  /** The tally once the run is over; `expected` is how many messages the publisher sent. */
  tally(expected: number): ReceiverTally {
    let delivered = 0;
    let phantom = 0;
    // Count only sequences the publisher actually sent; anything else is phantom.
    if (this.highest <= expected) delivered = this.delivered;
    else {
      for (let s = 1; s <= expected; s++) if (this.appSeen.has(s)) delivered++;
      phantom = this.delivered - delivered;
    }
    return {
      receiver: this.receiver,
      expected,
      delivered,
      lost: expected - delivered,
      duplicates: this.duplicates,
      reordered: this.reordered,
      phantom,
      wireMessages: this.wireMessages,
      wireRedeliveries: this.wireRedeliveries,
      reconnects: this.reconnects,
      downtimesMs: this.downtimes,
      catchUpsMs: this.catchUps,
      catchUpsPending: this.catchUp ? 1 : 0,
    };
  }
}

export interface DeliveryTotals {
  readonly receivers: number;
  readonly expected: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly reordered: number;
  readonly phantom: number;
  readonly wireRedeliveries: number;
  readonly reconnects: number;
  readonly maxDowntimeMs: number;
  readonly maxCatchUpMs: number;
  readonly catchUpsPending: number;
  /** Receivers that lost, duplicated or reordered anything, for the report (first 20). */
  readonly worst: readonly ReceiverTally[];
}

export function sumTallies(tallies: readonly ReceiverTally[]): DeliveryTotals {
  const t = { expected: 0, delivered: 0, lost: 0, duplicates: 0, reordered: 0, phantom: 0, wireRedeliveries: 0, reconnects: 0, catchUpsPending: 0 };
  let maxDowntimeMs = 0;
  let maxCatchUpMs = 0;
  for (const r of tallies) {
    t.expected += r.expected;
    t.delivered += r.delivered;
    t.lost += r.lost;
    t.duplicates += r.duplicates;
    t.reordered += r.reordered;
    t.phantom += r.phantom;
    t.wireRedeliveries += r.wireRedeliveries;
    t.reconnects += r.reconnects;
    t.catchUpsPending += r.catchUpsPending;
    for (const d of r.downtimesMs) maxDowntimeMs = Math.max(maxDowntimeMs, d);
    for (const c of r.catchUpsMs) maxCatchUpMs = Math.max(maxCatchUpMs, c);
  }
  const worst = tallies.filter((r) => r.lost + r.duplicates + r.reordered + r.phantom > 0).slice(0, 20);
  return { receivers: tallies.length, ...t, maxDowntimeMs, maxCatchUpMs, catchUpsPending: t.catchUpsPending, worst };
}
