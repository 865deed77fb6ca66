/**
 * One connection following one order: a small state machine.
 *
 *   replaying ──(caught up with the feed)──▶ live ──(buffer over pauseBytes)──▶ paused
 *       ▲                                                                          │
 *       └──────────────────────────────(drain)─────────────────────────────────────┘
 *
 * `sentSeq` is the highest seq this subscription has dealt with (delivered, or
 * skipped because this reader may not see it). Replay reads the store from
 * `sentSeq`; live delivery only ever continues at sentSeq + 1. So a pause never
 * skips anything, and while paused the relay holds no per-message state for the
 * subscriber: memory stays bounded however far behind it falls.
 *
 * `lastVisible` is the seq of the last message this reader was sent: it becomes
 * the `prev` of the next one. For the first message after subscribing it is the
 * client's `afterSeq` (the last message it says it has).
 */
import { encodeDeliverOne, encodeFrame } from '../../protocol/codec.ts';
import type { DeliveredMessage } from '../../protocol/frames.ts';
import { MAX_FRAME_BYTES } from '../../protocol/limits.ts';
import { wire } from '../bytes.ts';
import type { StoredMessage } from '../store/types.ts';
import type { DeliveryHooks, DeliveryLimits, DeliverySource, SubscriberSink } from './types.ts';

/** Envelope bytes per deliver frame: the frame must stay under MAX_FRAME_BYTES with room for per-message overhead. */
export const DELIVER_FRAME_BUDGET = MAX_FRAME_BYTES - 32 * 1024;

export type SubscriptionState = 'replaying' | 'live' | 'paused' | 'ended';

/** The part of the order feed a subscription needs: how far live fan-out has got. */
export interface FeedPosition {
  readonly lastFanned: number;
}

export class Subscription {
  state: SubscriptionState = 'replaying';
  sentSeq: number;
  lastVisible: number;

  constructor(
    readonly order: string,
    readonly sink: SubscriberSink,
    afterSeq: number,
    private readonly feed: FeedPosition,
    private readonly source: DeliverySource,
    private readonly limits: DeliveryLimits,
    private readonly hooks: DeliveryHooks,
  ) {
    this.sentSeq = afterSeq;
    this.lastVisible = afterSeq;
  }

  /**
   * Offer one live message (already known to be the feed's next). `frames` caches
   * the encoded frame per `prev`, so readers in the same position share one encoding.
   */
  offerLive(msg: StoredMessage, frames: Map<number, Uint8Array>): void {
    if (this.state !== 'live' || msg.seq <= this.sentSeq) return;
    if (msg.seq > this.sentSeq + 1) {
      // A gap between what we sent and the feed: never skip, read it from the store.
      void this.replay();
      return;
    }
    if (!this.source.canRead(this.order, msg.epoch, msg.scope, this.sink.device)) {
      this.sentSeq = msg.seq;
      return;
    }
    if (this.sink.bufferedAmount > this.limits.pauseBytes) return this.pause();
    let bytes = frames.get(this.lastVisible);
    if (!bytes) {
      bytes = encodeDeliverOne(this.order, msg.seq, this.lastVisible, msg.envelope, msg.at);
      frames.set(this.lastVisible, bytes);
    }
    if (this.sink.sendEncoded('deliver', bytes, 1) === 'dropped') return this.sink.overflow();
    this.hooks.onDeliver('live', 1);
    this.sentSeq = this.lastVisible = msg.seq;
  }

  /** The socket drained: resume from the store if we were paused. */
  drained(): void {
    if (this.state === 'paused' && this.sink.bufferedAmount <= this.limits.pauseBytes / 2) void this.replay();
  }

  end(): void {
    this.state = 'ended';
  }

  private pause(): void {
    if (this.state === 'ended') return;
    this.state = 'paused';
    this.hooks.onPause();
    this.sink.paused();
  }

  /** Read from the store in batches until caught up with the live feed, then go live. */
  async replay(): Promise<void> {
    if (this.state === 'ended') return;
    this.state = 'replaying';
    try {
      for (;;) {
        if (this.sink.bufferedAmount > this.limits.pauseBytes) return this.pause();
        const batch = await this.source.read(this.order, this.sentSeq, this.limits.batch);
        if (this.state !== 'replaying') return;
        if (batch.length === 0) {
          // Nothing after sentSeq in the store; the feed cannot be ahead of the store.
          this.state = 'live';
          return;
        }
        if (batch[0]!.seq > this.sentSeq + 1) return this.trimmed(batch[0]!.seq);
        const maxEpoch = batch.reduce((e, m) => Math.max(e, m.epoch), 0);
        if (!this.source.knowsEpoch(this.order, maxEpoch)) {
          await this.source.ensureEpoch(this.order, maxEpoch);
          if (this.state !== 'replaying') return;
        }
        this.sendBatch(batch);
        if (this.state !== 'replaying') return;
        if (this.sentSeq < batch[batch.length - 1]!.seq) continue; // stopped early for backpressure: re-check at the top
        if (batch.length < this.limits.batch && this.sentSeq >= this.feed.lastFanned) {
          this.state = 'live';
          return;
        }
      }
    } catch (err) {
      this.hooks.onError(err, this.order);
      // Store trouble: try again shortly rather than leave the reader stranded.
      if (this.state === 'replaying') {
        this.state = 'paused';
        setTimeout(() => void this.replay(), 250).unref?.();
      }
    }
  }

  /**
   * Send the visible messages of `batch` in frames of at most DELIVER_FRAME_BUDGET
   * envelope bytes. Stops early (and pauses) if the socket buffer fills, with
   * sentSeq at the last message dealt with, so nothing is skipped.
   */
  private sendBatch(batch: readonly StoredMessage[]): void {
    let messages: DeliveredMessage[] = [];
    let bytes = 0;
    let prev = this.lastVisible;
    let dealtWith = this.sentSeq;
    const flush = (): boolean => {
      if (messages.length === 0) return true;
      const result = this.sink.sendEncoded('deliver', encodeFrame({ t: 'deliver', order: this.order, messages }), messages.length);
      if (result === 'dropped') {
        this.sink.overflow();
        return false;
      }
      this.hooks.onDeliver('replay', messages.length);
      this.lastVisible = prev;
      this.sentSeq = dealtWith;
      messages = [];
      bytes = 0;
      return true;
    };
    for (const m of batch) {
      if (this.source.canRead(this.order, m.epoch, m.scope, this.sink.device)) {
        if (bytes + m.envelope.byteLength > DELIVER_FRAME_BUDGET && messages.length > 0) {
          if (!flush()) return;
          if (this.sink.bufferedAmount > this.limits.pauseBytes) return this.pause();
        }
        messages.push({ seq: m.seq, prev, envelope: wire(m.envelope), at: m.at });
        bytes += m.envelope.byteLength;
        prev = m.seq;
      }
      dealtWith = m.seq;
    }
    if (!flush()) return;
    this.lastVisible = prev;
    this.sentSeq = dealtWith;
  }

  private async trimmed(firstHeld: number): Promise<void> {
    const oldestSeq = Math.max(firstHeld, await this.source.oldest(this.order).catch(() => firstHeld));
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.sink.sendFrame({ t: 'error', code: 'HISTORY_TRIMMED', message: 'Messages after your position were removed by retention; resubscribe from oldestSeq - 1.', order: this.order, oldestSeq });
    this.sink.ended(this.order, 'HISTORY_TRIMMED');
  }
}
