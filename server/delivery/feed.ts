/**
 * Live fan-out of one order on this node, driven by the store's append hints.
 *
 * Hints may come late, out of order, repeated or not at all (Redis pub/sub), so
 * the feed keeps `lastFanned`, the highest seq it has fanned out: a hint at
 * lastFanned + 1 is fanned out at once; one further ahead triggers a back-fill
 * read from the store; anything at or below lastFanned is ignored. Each message
 * is encoded once per distinct `prev` among its readers, not once per socket.
 */
import type { StoredMessage } from '../store/types.ts';
import { Subscription, type FeedPosition } from './subscription.ts';
import type { DeliveryHooks, DeliveryLimits, DeliverySource, SubscriberSink } from './types.ts';

export class OrderFeed implements FeedPosition {
  lastFanned = 0;
  readonly subscriptions = new Set<Subscription>();
  /** Resolves once lastFanned is initialised from the store head. */
  readonly ready: Promise<void>;
  private isReady = false;
  private target = 0;
  private pumping = false;
  /** Encoded frames of the message being fanned out, by `prev`; reused (cleared) for every message. */
  private readonly frames = new Map<number, Uint8Array>();

  constructor(
    readonly order: string,
    private readonly source: DeliverySource,
    private readonly limits: DeliveryLimits,
    private readonly hooks: DeliveryHooks,
  ) {
    this.ready = this.init();
  }

  private async init(): Promise<void> {
    // Watch first: a message appended between head() and watch() would otherwise be missed.
    await this.source.watch(this.order);
    this.lastFanned = await this.source.head(this.order);
    this.isReady = true;
    if (this.target > this.lastFanned) void this.pump();
  }

  /** Create a subscription from `afterSeq` and start its replay. */
  subscribe(sink: SubscriberSink, afterSeq: number): Subscription {
    const sub = new Subscription(this.order, sink, afterSeq, this, this.source, this.limits, this.hooks);
    this.subscriptions.add(sub);
    // Replay only once lastFanned is known, or a reader could go live behind the feed.
    void this.ready.then(() => sub.replay(), () => undefined);
    return sub;
  }

  remove(sub: Subscription): void {
    sub.end();
    this.subscriptions.delete(sub);
  }

  get empty(): boolean {
    return this.subscriptions.size === 0;
  }

  /** An append hint for this order. `message` may be undefined when the hint carries only a seq. */
  hint(seq: number, message?: StoredMessage): void {
    if (seq <= this.lastFanned && this.isReady) return;
    if (this.isReady && !this.pumping && message && seq === this.lastFanned + 1 && this.source.knowsEpoch(this.order, message.epoch)) {
      this.fanOut(message);
      return;
    }
    if (seq > this.target) this.target = seq;
    if (this.isReady && !this.pumping) void this.pump();
  }

  /** Back-fill from the store up to `target`, in order, one batch at a time. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.lastFanned < this.target) {
        const batch = await this.source.read(this.order, this.lastFanned, this.limits.batch);
        if (batch.length === 0) break;
        const maxEpoch = batch.reduce((e, m) => Math.max(e, m.epoch), 0);
        if (!this.source.knowsEpoch(this.order, maxEpoch)) await this.source.ensureEpoch(this.order, maxEpoch);
        for (const m of batch) if (m.seq > this.lastFanned) this.fanOut(m);
      }
    } catch (err) {
      this.hooks.onError(err, this.order);
      setTimeout(() => void (this.pumping ? undefined : this.pump()), 250).unref?.();
    } finally {
      this.pumping = false;
    }
  }

  private fanOut(message: StoredMessage): void {
    // Messages trimmed away before we saw them leave a gap; subscriptions handle it by replaying.
    this.lastFanned = message.seq;
    if (this.subscriptions.size === 0) return;
    const frames = this.frames;
    try {
      for (const sub of this.subscriptions) sub.offerLive(message, frames);
    } finally {
      // Never let one message's frames serve the next (a reader of another scope could get them).
      frames.clear();
    }
  }
}

/** All feeds of this node: one per order with at least one local subscription. */
export class FeedRegistry {
  private readonly feeds = new Map<string, OrderFeed>();

  constructor(
    private readonly source: DeliverySource,
    private readonly limits: DeliveryLimits,
    private readonly hooks: DeliveryHooks,
  ) {}

  get(order: string): OrderFeed | undefined {
    return this.feeds.get(order);
  }

  /** The feed of `order`, created (and watched) on first use. */
  open(order: string): OrderFeed {
    let feed = this.feeds.get(order);
    if (!feed) {
      feed = new OrderFeed(order, this.source, this.limits, this.hooks);
      this.feeds.set(order, feed);
      feed.ready.catch((err) => this.hooks.onError(err, order));
    }
    return feed;
  }

  /** Drop a subscription; the last one out closes the feed and unwatches the order. */
  remove(sub: Subscription): void {
    const feed = this.feeds.get(sub.order);
    if (!feed) return;
    feed.remove(sub);
    this.release(sub.order);
  }

  /** Close the feed of `order` if nobody follows it. */
  release(order: string): void {
    const feed = this.feeds.get(order);
    if (!feed || !feed.empty) return;
    this.feeds.delete(order);
    this.source.unwatch(order).catch((err) => this.hooks.onError(err, order));
  }

  hint(order: string, message: StoredMessage): void {
    this.feeds.get(order)?.hint(message.seq, message);
  }

  get size(): number {
    return this.feeds.size;
  }

  all(): IterableIterator<OrderFeed> {
    return this.feeds.values();
  }
}
