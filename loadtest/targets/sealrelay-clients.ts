/**
 * The publisher and receiver sides of a sealrelay load device, with exactly the
 * delivery behaviour DESIGN §4 asks of a client: publishes are retried with the
 * same clientMsgId until acknowledged (an outbox that survives reconnects);
 * receivers hand messages on once and in relay order, notice holes through
 * `prev`, resume with afterSeq after a reconnect, and ack cumulatively.
 */
import { decodeEnvelopeHeader } from '../../crypto/index.ts';
import type { ServerFrame } from '../../protocol/frames.ts';
import type { ReceiverSink } from '../driver/target.ts';
import type { LoadDevice } from './fixtures.ts';
import { connectDevice, wire, type RelayConnection } from './relay-connection.ts';

/** Cumulative acks at most this often: one frame per 100 ms instead of one per message. */
export const ACK_EVERY_MS = 100;
const RECONNECT_BASE_MS = 100;
const RECONNECT_MAX_MS = 2000;

/** Full-jitter backoff (centrifuge-js): a storm of reconnects spreads itself out. */
export function backoffMs(attempt: number, random = Math.random): number {
  return Math.round(random() * Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** attempt));
}

export class ErrorTally {
  readonly byCode = new Map<string, number>();
  add(code: string): void {
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.byCode);
  }
}

/** Shared by one device's successive connections: reconnect with the last ticket, give up when closed. */
abstract class Reconnecting {
  protected conn: RelayConnection | undefined;
  protected closed = false;
  private attempt = 0;
  /** Frames and closes of an older socket are ignored by generation (centrifuge-js). */
  private generation = 0;
  private reconnecting_ = false;

  constructor(
    protected readonly url: () => string,
    protected readonly device: LoadDevice,
    protected readonly errors: ErrorTally,
  ) {}

  protected abstract onFrame(f: ServerFrame): void;
  protected abstract onOpen(): void;
  protected onDown(): void {}

  async open(): Promise<void> {
    const gen = ++this.generation;
    const conn = await connectDevice(
      this.url(),
      this.device,
      {
        onFrame: (f) => gen === this.generation && this.onFrame(f),
        onClose: () => gen === this.generation && this.lost(),
      },
      this.conn?.ticket,
    );
    if (gen !== this.generation || this.closed) {
      conn.ws.terminate(); // a newer attempt (or close()) overtook this one
      return;
    }
    this.conn = conn;
    this.attempt = 0;
    this.onOpen();
  }

  /**
   * First connection, retried with backoff until `deadlineMs` passes: under an
   * impaired profile an outage may fall on the set-up, and a real client keeps
   * trying too.
   */
  async openWithRetry(deadlineMs = 120_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.open();
      } catch (err) {
        if (Date.now() > until || this.closed) throw err;
        await new Promise((r) => setTimeout(r, Math.max(250, backoffMs(attempt))));
      }
    }
  }

  private lost(): void {
    if (this.closed || this.reconnecting_) return;
    this.reconnecting_ = true; // exactly one reconnect loop per device
    this.onDown();
    const retry = () => {
      if (this.closed) return;
      this.open().then(
        () => (this.reconnecting_ = false),
        () => {
          this.attempt++;
          setTimeout(retry, backoffMs(this.attempt));
        },
      );
    };
    setTimeout(retry, backoffMs(this.attempt++));
  }

  /** Stop reading the socket for `ms`: TCP's window closes and the relay's send buffer fills. */
  stall(ms: number): void {
    const ws = this.conn?.ws;
    if (!ws) return;
    ws.pause();
    setTimeout(() => ws.resume(), ms);
  }

  /** Drop the socket without a goodbye: a dead radio. */
  interrupt(): void {
    this.conn?.ws.terminate();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.conn?.ws.close(1000);
  }
}

export class SealPublisher extends Reconnecting {
  /** clientMsgId (= message seq) → envelope, until the relay acknowledges it. */
  private readonly unacked = new Map<number, Uint8Array>();
  private connected = false;

  constructor(
    url: () => string,
    device: LoadDevice,
    errors: ErrorTally,
    readonly orderId: string,
    private readonly envelopes: readonly Uint8Array[],
  ) {
    super(url, device, errors);
  }

  /** Put this order's roster through the publisher's own connection (any authenticated device may carry one). */
  putRoster(roster: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingRoster = { resolve, reject };
      this.conn!.send({ t: 'roster_put', rid: 1, order: this.orderId, roster: wire(roster) });
    });
  }
  private pendingRoster: { resolve(): void; reject(e: Error): void } | undefined;

  publish(seq: number): void {
    const envelope = this.envelopes[seq - 1];
    if (!envelope) throw new RangeError(`no pre-sealed envelope for message ${seq} of ${this.orderId}`);
    this.unacked.set(seq, envelope);
    if (this.connected) this.sendPub(seq, envelope);
  }

  get pending(): number {
    return this.unacked.size;
  }

  private sendPub(seq: number, envelope: Uint8Array): void {
    this.conn?.send({ t: 'pub', order: this.orderId, clientMsgId: String(seq), envelope: wire(envelope) });
  }

  protected onOpen(): void {
    this.connected = true;
    // Resend everything not yet acknowledged, in order, with the same clientMsgIds: the relay de-duplicates.
    for (const [seq, env] of this.unacked) this.sendPub(seq, env);
  }

  protected override onDown(): void {
    this.connected = false;
  }

  protected onFrame(f: ServerFrame): void {
    if (f.t === 'puback') this.unacked.delete(Number(f.clientMsgId));
    else if (f.t === 'roster_ok') this.pendingRoster?.resolve();
    else if (f.t === 'error') {
      this.errors.add(f.code);
      if (f.rid === 1 && this.pendingRoster) this.pendingRoster.reject(new Error(`roster_put: ${f.code}: ${f.message}`));
      const seq = f.clientMsgId ? Number(f.clientMsgId) : NaN;
      const env = this.unacked.get(seq);
      if (env) setTimeout(() => this.unacked.has(seq) && this.sendPub(seq, env), f.retryAfterMs ?? 200);
    }
  }
}

export class SealReceiver extends Reconnecting {
  /** Highest relay seq handed to the application: everything up to it arrived, in order. */
  private lastSeq = 0;
  private ackedSeq = 0;
  private reconnecting = false;
  /** rid of the latest `sub`: deliver frames before its `subscribed` are the old subscription's. */
  private subRid = 0;
  private live = false;

  constructor(
    url: () => string,
    device: LoadDevice,
    errors: ErrorTally,
    readonly orderId: string,
    private readonly sink: ReceiverSink,
  ) {
    super(url, device, errors);
  }

  protected onOpen(): void {
    this.subscribe();
  }

  private subscribe(): void {
    // Without this, live frames of the previous subscription still in flight would each
    // see a hole and re-subscribe again: on a slow link the receiver never catches up.
    this.live = false;
    this.subRid = (this.subRid % 1_000_000) + 1;
    this.conn?.send({ t: 'sub', rid: this.subRid, order: this.orderId, afterSeq: this.lastSeq });
  }

  protected override onDown(): void {
    this.live = false;
    this.reconnecting = true;
    this.sink.disconnected();
  }

  /** Called by the target's shared ticker. */
  flushAck(): void {
    if (this.lastSeq > this.ackedSeq && this.conn) {
      this.conn.send({ t: 'ack', order: this.orderId, seq: this.lastSeq });
      this.ackedSeq = this.lastSeq;
    }
  }

  protected onFrame(f: ServerFrame): void {
    if (f.t === 'deliver') {
      if (!this.live) return; // an older subscription's traffic: the replay will bring it again
      for (const m of f.messages) {
        if (m.seq <= this.lastSeq) {
          // A redelivery (replay overlapping live traffic): the ledger counts it on the wire, the app never sees it.
          this.sink.message({ wireSeq: m.seq, seq: 0 });
          continue;
        }
        if (m.prev > this.lastSeq) {
          // A hole we may see: back-fill from the store instead of handing on out of order.
          this.subscribe();
          return;
        }
        this.lastSeq = m.seq;
        this.sink.message({ wireSeq: m.seq, seq: decodeEnvelopeHeader(m.envelope).index + 1 });
      }
    } else if (f.t === 'subscribed') {
      if (f.rid !== this.subRid) return;
      this.live = true;
      if (this.reconnecting) {
        this.reconnecting = false;
        this.sink.reconnected();
      }
    } else if (f.t === 'error') {
      this.errors.add(f.code);
    } else if (f.t === 'unsubscribed' && f.code) {
      this.errors.add(f.code);
    }
  }
}
