/**
 * What the driver needs from a system under test: start it (so its pid can be
 * sampled), connect a publisher per sending party of each order and receivers
 * per order, stop it. Peers (bare uWS, ws, Mosquitto, NATS) and sealrelay
 * implement the same shape, so the same workload (driver/mix.ts: the same
 * message classes, sizes and fan-out) and the same accounting run against all
 * of them.
 */
import type { Mix } from './mix.ts';

export interface StartedServer {
  /** The server process, for /proc sampling. */
  readonly pid: number;
  /** Other processes whose CPU belongs beside it (e.g. redis-server), by name. */
  readonly sidecars?: ReadonlyArray<{ readonly name: string; readonly pid: number }>;
  /** Bytes actually carried per message of each class when the target decides (sealrelay: the envelopes it sealed). */
  readonly classBytes?: readonly number[];
}

/** One received message as the target decoded it. */
export interface Received {
  /** The message class (index into the run's mix) of the stream it belongs to; 0 when the mix has one class. */
  readonly cls?: number;
  /**
   * The transport's id for this delivery (the relay's per-order seq) when the
   * client de-duplicates on it, as the sealrelay SDK does. Peers without one leave
   * it out: their application sees every wire delivery, redeliveries included.
   */
  readonly wireSeq?: number;
  /** The publisher's sequence number within its (order, class) stream, 1-based. */
  readonly seq: number;
  /** Intended send time (epoch ms) if the payload carries it; else the driver looks it up. */
  readonly intendedMs?: number;
}

export interface ReceiverSink {
  message(m: Received): void;
  /** The connection dropped; the target is reconnecting (if it can). */
  disconnected(): void;
  /** Connected (and re-subscribed) again; `resumed` when the session was resumed with a ticket rather than authenticated again. */
  reconnected(info?: { readonly resumed?: boolean }): void;
}

/** One message for a publisher to send. */
export interface Outgoing {
  /** Its class: an index into the run's mix. */
  readonly cls: number;
  /** Its sequence within the (order, class) stream, 1-based. */
  readonly seq: number;
  /** Its scheduled time (epoch ms). */
  readonly intendedMs: number;
}

export interface Publisher {
  /**
   * Send this message now. Must not block. Returns nothing when the message went
   * to the client's outbox at once; for a message that must wait (an attachment
   * uploaded first), a promise of the epoch ms at which it was handed on: its
   * delivery latency is measured from then, the wait is reported apart.
   */
  publish(m: Outgoing): void | Promise<number>;
  close(): Promise<void>;
}

export interface Receiver {
  /** Kill the connection abruptly (a dead radio); the target's client decides how to recover. */
  interrupt?(): void;
  /** Stop reading for `ms` (a phone in a lift with its socket open): the server's buffers fill. */
  stall?(ms: number): void;
  close(): Promise<void>;
}

export interface PeerTarget {
  /** "bare-uws", "ws", "mosquitto", "nats-core", "nats-jetstream", "sealrelay-memory", … */
  readonly name: string;
  /** How message bodies are made: opaque bytes, envelopes sealed before the run, or sealed by the SDK live. */
  readonly bodies: 'opaque' | 'pre-sealed' | 'sdk';
  /** Prepare for `orders` orders (keys, rosters, pre-sealed envelopes) and start the server. */
  start(plan: StartPlan): Promise<StartedServer>;
  /** Error codes the server sent the clients during the run (sealrelay: from the error table). */
  errorCounts?(): Record<string, number>;
  /**
   * Messages the receivers could not open (bodies: 'sdk': signature, AEAD, key
   * package or schema failures), by code; undefined when nothing is opened
   * (bodies read in the clear). Any failure makes the run invalid.
   */
  openFailures?(): Record<string, number> | undefined;
  /** Attachment uploads (targets that upload blobs before attachment messages). */
  attachmentStats?(): AttachmentStats;
  /** Exercise the client-side decode paths once before the clock starts (optional). */
  warmUp?(): Promise<void>;
  /** The publisher of party `party` (mix.ts PARTY_ROLES; 0 the courier) of `order`. */
  connectPublisher(order: number, party: number): Promise<Publisher>;
  /** Receiver `receiver` (0-based; party receiver + 1) of `order`; it reads the scopes its role may read. */
  connectReceiver(order: number, receiver: number, sink: ReceiverSink): Promise<Receiver>;
  stop(): Promise<void>;
}

export interface StartPlan {
  readonly orders: number;
  readonly receiversPerOrder: number;
  /** The message classes of the run (sizes, senders, scopes). */
  readonly mix: Mix;
  /** Sends per (order, class) stream, for targets that seal in advance. */
  readonly streamCount: (order: number, cls: number) => number;
}

export interface AttachmentStats {
  /** Uploads completed, and attempts that failed and were retried. */
  readonly uploads: number;
  readonly retries: number;
  /** Uploads refused for good, and uploads still under way when the run ended: their messages were never sent (lost). */
  readonly failed: number;
  readonly pending: number;
  readonly bytes: number;
  /** Upload time from the intended send time (the user's tap) to the blob's 201, ms. */
  readonly uploadMs: { readonly p50: number; readonly p99: number; readonly max: number };
}

/** Thrown by start() when a peer's binary is missing, so a matrix can skip it loudly and go on. */
export class PeerUnavailable extends Error {
  constructor(
    readonly peer: string,
    readonly hint: string,
  ) {
    super(`${peer} is not available here: ${hint}`);
    this.name = 'PeerUnavailable';
  }
}
