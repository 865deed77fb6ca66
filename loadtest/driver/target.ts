/**
 * What the driver needs from a system under test: start it (so its pid can be
 * sampled), connect one publisher per order and receivers per order, stop it.
 * Peers (bare uWS, ws, Mosquitto, NATS) and sealrelay implement the same shape,
 * so the same workload and the same accounting run against all of them.
 */

export interface StartedServer {
  /** The server process, for /proc sampling. */
  readonly pid: number;
  /** Other processes whose CPU belongs beside it (e.g. redis-server), by name. */
  readonly sidecars?: ReadonlyArray<{ readonly name: string; readonly pid: number }>;
  /** Bytes actually carried per message when the target decides (sealed envelopes have a floor). */
  readonly payloadBytes?: number;
}

/** One received message as the target decoded it. */
export interface Received {
  /**
   * The transport's id for this delivery (the relay's per-order seq) when the
   * client de-duplicates on it, as the sealrelay SDK does. Peers without one leave
   * it out: their application sees every wire delivery, redeliveries included.
   */
  readonly wireSeq?: number;
  /** The publisher's sequence number within the order, 1-based. */
  readonly seq: number;
  /** Intended send time (epoch ms) if the payload carries it; else the driver looks it up. */
  readonly intendedMs?: number;
}

export interface ReceiverSink {
  message(m: Received): void;
  /** The connection dropped; the target is reconnecting (if it can). */
  disconnected(): void;
  /** Connected (and re-subscribed) again. */
  reconnected(): void;
}

export interface Publisher {
  /** Send message `seq` of this order now; intendedMs is its scheduled time (epoch ms). Must not block. */
  publish(seq: number, intendedMs: number): void;
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
  start(plan: { orders: number; receiversPerOrder: number; messagesPerOrder: number; payloadBytes: number }): Promise<StartedServer>;
  /** Error codes the server sent the clients during the run (sealrelay: from the error table). */
  errorCounts?(): Record<string, number>;
  /** Exercise the client-side decode paths once before the clock starts (optional). */
  warmUp?(): Promise<void>;
  connectPublisher(order: number): Promise<Publisher>;
  connectReceiver(order: number, party: number, sink: ReceiverSink): Promise<Receiver>;
  stop(): Promise<void>;
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
