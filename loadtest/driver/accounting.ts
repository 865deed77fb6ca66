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
 * A receiver follows one or more STREAMS (driver/streams.ts: an order's message
 * classes, each its own publisher sequence); the application view is kept per
 * stream, and a receiver's expected count per stream follows the role policy
 * (0 for a scope it may not read).
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
  /** Arrivals with a sequence the publisher never sent, or on a stream this receiver may not read (corruption, cross-talk, a policy leak). */
  readonly phantom: number;
  readonly wireMessages: number;
  readonly wireRedeliveries: number;
  readonly reconnects: number;
  /** Reconnects that resumed the session with a ticket instead of authenticating again. */
  readonly resumed: number;
  /** Time disconnected, per reconnect, ms. */
  readonly downtimesMs: readonly number[];
  /** Time from each reconnect until everything sent before it had arrived, ms. */
  readonly catchUpsMs: readonly number[];
  /** Reconnects whose catch-up never completed before the run ended. */
  readonly catchUpsPending: number;
  /** Delivered per stream (same order as `expected` was given). */
  readonly deliveredByStream: readonly number[];
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

/** One receiver's view of one stream (an order's message class, or the whole order for single-class runs). */
class StreamView {
  readonly seen = new SeqSet();
  delivered = 0;
  duplicates = 0;
  reordered = 0;
  highest = 0;
  /** Every sequence 1..contiguous has arrived. */
  contiguous = 0;
}

/** One reconnect: when, whether the client resumed its session (a resumption ticket), and when it had caught up. */
export interface ReconnectRecord {
  readonly at: number;
  readonly resumed: boolean;
  caughtUpAt?: number;
}

export class DeliveryLedger {
  private readonly wireSeen = new SeqSet();
  private readonly streams: StreamView[];
  private wireMessages = 0;
  private wireRedeliveries = 0;
  private disconnectedAt: number | undefined;
  private readonly downtimes: number[] = [];
  private readonly catchUps: number[] = [];
  private readonly log: ReconnectRecord[] = [];
  /** The catch-up in progress: per-stream targets and how many streams are still short of theirs. */
  private catchUp: { record: ReconnectRecord; targets: readonly number[]; behind: number } | undefined;

  /** `streams`: how many independent publisher sequences this receiver follows. */
  constructor(
    readonly receiver: string,
    streams = 1,
  ) {
    this.streams = Array.from({ length: streams }, () => new StreamView());
  }

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

  /** The application received message `seq` (≥ 1) of publisher stream `stream` at `nowMs`. */
  onApp(seq: number, nowMs: number, stream = 0): void {
    const s = this.streams[stream];
    if (!s) throw new RangeError(`stream ${stream} of ${this.streams.length}`);
    if (s.seen.add(seq)) {
      s.duplicates++;
      return;
    }
    s.delivered++;
    if (seq < s.highest) s.reordered++;
    else s.highest = seq;
    const before = s.contiguous;
    while (s.seen.has(s.contiguous + 1)) s.contiguous++;
    const c = this.catchUp;
    if (c && before < c.targets[stream]! && s.contiguous >= c.targets[stream]! && --c.behind === 0) {
      this.catchUps.push(nowMs - c.record.at);
      c.record.caughtUpAt = nowMs;
      this.catchUp = undefined;
    }
  }

  onDisconnect(nowMs: number): void {
    if (this.disconnectedAt === undefined) this.disconnectedAt = nowMs;
  }

  /**
   * The receiver is connected again at `nowMs`; `sentBefore` is how many messages
   * each stream's publisher had sent by then (a number for one stream), which it
   * must now catch up to. Give 0 for streams this receiver may not read.
   * `resumed`: the session was resumed (ticket), not authenticated from scratch.
   */
  onReconnect(nowMs: number, sentBefore: number | ArrayLike<number>, resumed = false): void {
    if (this.disconnectedAt !== undefined) this.downtimes.push(nowMs - this.disconnectedAt);
    this.disconnectedAt = undefined;
    const targets = typeof sentBefore === 'number' ? [sentBefore] : Array.from(sentBefore);
    const record: ReconnectRecord = { at: nowMs, resumed };
    this.log.push(record);
    const behind = this.streams.reduce((n, s, i) => n + (s.contiguous < (targets[i] ?? 0) ? 1 : 0), 0);
    if (behind === 0) {
      this.catchUps.push(0);
      record.caughtUpAt = nowMs;
      this.catchUp = undefined;
    } else this.catchUp = { record, targets, behind };
  }

  /** Every reconnect so far, in order (the storm figures read these). */
  reconnectLog(): readonly ReconnectRecord[] {
    return this.log;
  }

  /**
   * The tally once the run is over; `expected` is how many messages each stream's
   * publisher sent (a number for one stream; 0 for a stream this receiver may not read,
   * so anything that arrives on it is phantom).
   */
  tally(expected: number | ArrayLike<number>): ReceiverTally {
    const exp = typeof expected === 'number' ? [expected] : Array.from(expected);
    const t = { expected: 0, delivered: 0, duplicates: 0, reordered: 0, phantom: 0 };
    const deliveredByStream: number[] = [];
    this.streams.forEach((s, i) => {
      const e = exp[i] ?? 0;
      let delivered = s.delivered;
      // Count only sequences the publisher actually sent; anything else is phantom.
      if (s.highest > e) {
        delivered = 0;
        for (let q = 1; q <= e; q++) if (s.seen.has(q)) delivered++;
        t.phantom += s.delivered - delivered;
      }
      t.expected += e;
      t.delivered += delivered;
      deliveredByStream.push(delivered);
      t.duplicates += s.duplicates;
      t.reordered += s.reordered;
    });
    return {
      receiver: this.receiver,
      ...t,
      lost: t.expected - t.delivered,
      wireMessages: this.wireMessages,
      wireRedeliveries: this.wireRedeliveries,
      reconnects: this.log.length,
      resumed: this.log.filter((r) => r.resumed).length,
      downtimesMs: this.downtimes,
      catchUpsMs: this.catchUps,
      catchUpsPending: this.catchUp ? 1 : 0,
      deliveredByStream,
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
  readonly resumed: number;
  readonly maxDowntimeMs: number;
  readonly maxCatchUpMs: number;
  readonly catchUpsPending: number;
  /** Receivers that lost, duplicated or reordered anything, for the report (first 20). */
  readonly worst: readonly ReceiverTally[];
}

export function sumTallies(tallies: readonly ReceiverTally[]): DeliveryTotals {
  const t = { expected: 0, delivered: 0, lost: 0, duplicates: 0, reordered: 0, phantom: 0, wireRedeliveries: 0, reconnects: 0, resumed: 0, catchUpsPending: 0 };
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
    t.resumed += r.resumed;
    t.catchUpsPending += r.catchUpsPending;
    for (const d of r.downtimesMs) maxDowntimeMs = Math.max(maxDowntimeMs, d);
    for (const c of r.catchUpsMs) maxCatchUpMs = Math.max(maxCatchUpMs, c);
  }
  const worst = tallies.filter((r) => r.lost + r.duplicates + r.reordered + r.phantom > 0).slice(0, 20);
  return { receivers: tallies.length, ...t, maxDowntimeMs, maxCatchUpMs, catchUpsPending: t.catchUpsPending, worst };
}
