/**
 * What the delivery core needs from the rest of the relay. Injected, so the core
 * is tested without sockets, stores or crypto (test/server/delivery.test.ts).
 */
import type { ErrorCode } from '../../protocol/errors.ts';
import type { ServerFrame } from '../../protocol/frames.ts';
import type { SendResult } from '../transport.ts';
import type { StoredMessage } from '../store/types.ts';

export interface DeliverySource {
  /** Messages with seq > afterSeq, ascending, at most `limit`. */
  read(order: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;
  head(order: string): Promise<number>;
  oldest(order: string): Promise<number>;
  /** Load rosters up to `epoch` so that `canRead` can answer for it. */
  ensureEpoch(order: string, epoch: number): Promise<void>;
  /** Synchronous visibility after ensureEpoch: membership in the epoch's roster and a role that reads the scope. */
  canRead(order: string, epoch: number, scope: string, device: string): boolean;
  /** Synchronous: is the roster of `epoch` loaded? */
  knowsEpoch(order: string, epoch: number): boolean;
  watch(order: string): Promise<void>;
  unwatch(order: string): Promise<void>;
}

/** The connection side of a subscription (one per connection, shared by its subscriptions). */
export interface SubscriberSink {
  readonly device: string;
  readonly bufferedAmount: number;
  /** Send encoded frame bytes of `type`; `messages` counts delivered messages for metrics. */
  sendEncoded(type: ServerFrame['t'], bytes: Uint8Array, messages: number): SendResult;
  sendFrame(frame: ServerFrame): SendResult;
  /** A subscription paused for backpressure (the sink arms its slow-consumer timer). */
  paused(): void;
  /** The buffer overflowed the hard limit: close with SLOW_CONSUMER. */
  overflow(): void;
  /** A subscription ended by the relay (removed member, trimmed history); the sink forgets it. */
  ended(order: string, code: ErrorCode): void;
}

export interface DeliveryLimits {
  /** Buffered bytes above which a subscription stops live delivery and later resumes from the store. */
  readonly pauseBytes: number;
  /** Messages per replay read and per deliver frame. */
  readonly batch: number;
}

export interface DeliveryHooks {
  onPause(): void;
  onDeliver(mode: 'live' | 'replay', messages: number): void;
  onError(err: unknown, order: string): void;
}
