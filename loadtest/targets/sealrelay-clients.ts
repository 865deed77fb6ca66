/**
 * A party of a load order on sealrelay — one device, one socket — with exactly
 * the delivery behaviour DESIGN §4 asks of a client. As a sender (outbox):
 * publishes are retried with the same clientMsgId until acknowledged, across
 * reconnects. As a receiver (inbox): messages are handed on once and in relay
 * order, holes seen through `prev` are back-filled by re-subscribing, a
 * reconnect resumes with afterSeq, acks are cumulative. A shipper who chats and
 * reads the order is one party doing both on one socket, as on a phone.
 */
import { envelopeRoute, type EnvelopeRoute } from '../../crypto/index.ts';
import type { ClientFrame, DeliveredMessage, ServerFrame } from '../../protocol/frames.ts';
import type { ReceiverSink } from '../driver/target.ts';
import type { LoadDevice } from './fixtures.ts';
import { ErrorTally, Reconnecting } from './reconnecting.ts';
import { wire } from './relay-connection.ts';

export { ACK_EVERY_MS, ErrorTally, backoffMs } from './reconnecting.ts';

/** Request ids above every `sub` rid (those wrap below 1,000,000), so replies never mix. */
const FIRST_REQUEST_RID = 1_000_001;

/**
 * What a receiving party does with what arrives. `classify` names the stream of
 * an envelope from its clear header (undefined: no stream of this run). `open`,
 * when given (bodies 'sdk'), verifies, decrypts and schema-checks a message
 * before it is handed on, in order; false means it did not open.
 */
export interface InboxOptions {
  readonly sink: ReceiverSink;
  classify(h: EnvelopeRoute): number | undefined;
  open?(m: DeliveredMessage): Promise<boolean>;
}

/** A request frame without its rid (the party numbers requests itself). */
type Request = Extract<ClientFrame, { rid: number }> extends infer F ? (F extends unknown ? Omit<F, 'rid'> : never) : never;

export class SealParty extends Reconnecting {
  private inbox: InboxOptions | undefined;
  /** Highest relay seq taken in order: everything up to it arrived. */
  private lastSeq = 0;
  /** Highest relay seq handed to the application (after opening, with bodies 'sdk'): what is acked. */
  private readSeq = 0;
  private ackedSeq = 0;
  private reconnecting = false;
  /** rid of the latest `sub`: deliver frames before its `subscribed` are the old subscription's. */
  private subRid = 0;
  private live = false;
  /** Messages waiting to be opened and handed on, in order (bodies 'sdk'). */
  private handing: Promise<void> = Promise.resolve();

  /** clientMsgId → envelope, until the relay acknowledges it (insertion order is send order). */
  private readonly unacked = new Map<string, Uint8Array>();
  private connected = false;

  private nextRid = FIRST_REQUEST_RID;
  private readonly requests = new Map<number, { want: ServerFrame['t']; resolve(f: ServerFrame): void; reject(e: Error): void }>();

  constructor(
    url: () => string,
    device: LoadDevice,
    errors: ErrorTally,
    readonly orderId: string,
  ) {
    super(url, device, errors);
  }

  /** Start receiving this order (subscribes now if connected, and after every reconnect). */
  receive(inbox: InboxOptions): void {
    this.inbox = inbox;
    if (this.conn) this.subscribe();
  }

  get receiving(): boolean {
    return this.inbox !== undefined;
  }

  // ------------------------------------------------------------ requests

  /** Send a frame with a request id and resolve with the reply of type `want` (an error frame with its rid rejects). */
  request<T extends ServerFrame['t']>(frame: Request, want: T): Promise<Extract<ServerFrame, { t: T }>> {
    const rid = this.nextRid++;
    return new Promise((resolve, reject) => {
      if (!this.conn) return reject(new Error(`${this.device.deviceId} is not connected`));
      this.requests.set(rid, { want, resolve: resolve as (f: ServerFrame) => void, reject });
      this.conn.send({ ...frame, rid } as ClientFrame);
    });
  }

  /** Put this order's roster through this party's connection (any authenticated device may carry one). */
  async putRoster(roster: Uint8Array): Promise<void> {
    await this.request({ t: 'roster_put', order: this.orderId, roster: wire(roster) }, 'roster_ok');
  }

  // ------------------------------------------------------------ outbox

  /** Queue `envelope` under `clientMsgId` and send it now if connected; resent until acknowledged. */
  publish(clientMsgId: string, envelope: Uint8Array): void {
    this.unacked.set(clientMsgId, envelope);
    if (this.connected) this.sendPub(clientMsgId, envelope);
  }

  get pending(): number {
    return this.unacked.size;
  }

  private sendPub(clientMsgId: string, envelope: Uint8Array): void {
    this.conn?.send({ t: 'pub', order: this.orderId, clientMsgId, envelope: wire(envelope) });
  }

  // ------------------------------------------------------------ inbox

  private subscribe(): void {
    // Without this, live frames of the previous subscription still in flight would each
    // see a hole and re-subscribe again: on a slow link the receiver never catches up.
    this.live = false;
    this.subRid = (this.subRid % 1_000_000) + 1;
    this.conn?.send({ t: 'sub', rid: this.subRid, order: this.orderId, afterSeq: this.lastSeq });
  }

  /** Called by the target's shared ticker. */
  flushAck(): void {
    if (this.readSeq > this.ackedSeq && this.conn) {
      this.conn.send({ t: 'ack', order: this.orderId, seq: this.readSeq });
      this.ackedSeq = this.readSeq;
    }
  }

  /** Hand on in order: at once for headers read in the clear, behind the previous ones when messages are opened first. */
  private handOn(m: DeliveredMessage, inbox: InboxOptions): void {
    // Pre-sealed bodies: read the clear header at once (no closure: this runs per delivery, and the driver must not be the bottleneck).
    if (!inbox.open) return this.handOver(m, inbox, true);
    const open = inbox.open.bind(inbox);
    this.handing = this.handing.then(() => open(m).then((opened) => this.handOver(m, inbox, opened)));
  }

  private handOver(m: DeliveredMessage, inbox: InboxOptions, opened: boolean): void {
    this.readSeq = Math.max(this.readSeq, m.seq);
    if (!opened) return; // counted by the opener; the application never sees it
    const h = envelopeRoute(m.envelope);
    inbox.sink.message({ wireSeq: m.seq, cls: inbox.classify(h) ?? Number.MAX_SAFE_INTEGER, seq: h.index + 1 });
  }

  private onDeliver(messages: readonly DeliveredMessage[], inbox: InboxOptions): void {
    for (const m of messages) {
      if (m.seq <= this.lastSeq) {
        // A redelivery (replay overlapping live traffic): the ledger counts it on the wire, the app never sees it.
        if (inbox.open) this.handing = this.handing.then(() => inbox.sink.message({ wireSeq: m.seq, seq: 0 }));
        else inbox.sink.message({ wireSeq: m.seq, seq: 0 });
        continue;
      }
      if (m.prev > this.lastSeq) {
        // A hole we may see: back-fill from the store instead of handing on out of order.
        this.subscribe();
        return;
      }
      this.lastSeq = m.seq;
      this.handOn(m, inbox);
    }
  }

  // ------------------------------------------------------------ connection events

  protected onOpen(): void {
    this.connected = true;
    // Resend everything not yet acknowledged, in order, with the same clientMsgIds: the relay de-duplicates.
    for (const [id, env] of this.unacked) this.sendPub(id, env);
    if (this.inbox) this.subscribe();
  }

  protected override onDown(): void {
    this.connected = false;
    this.live = false;
    for (const [rid, r] of this.requests) {
      this.requests.delete(rid);
      r.reject(new Error('the connection dropped before the reply'));
    }
    if (this.inbox) {
      this.reconnecting = true;
      this.inbox.sink.disconnected();
    }
  }

  protected onFrame(f: ServerFrame): void {
    const inbox = this.inbox;
    switch (f.t) {
      case 'deliver':
        // Before `subscribed`: an older subscription's traffic; the replay will bring it again.
        if (inbox && this.live) this.onDeliver(f.messages, inbox);
        return;
      case 'subscribed':
        if (!inbox || f.rid !== this.subRid) return;
        this.live = true;
        if (this.reconnecting) {
          this.reconnecting = false;
          inbox.sink.reconnected({ resumed: this.conn?.resumed === true });
        }
        return;
      case 'puback':
        this.unacked.delete(f.clientMsgId);
        return;
      case 'unsubscribed':
        if (f.code) this.errors.add(f.code);
        return;
      case 'error': {
        this.errors.add(f.code);
        const req = f.rid !== undefined ? this.requests.get(f.rid) : undefined;
        if (req) {
          this.requests.delete(f.rid!);
          req.reject(new Error(`${f.code}: ${f.message}`));
        }
        const env = f.clientMsgId ? this.unacked.get(f.clientMsgId) : undefined;
        if (env) setTimeout(() => this.unacked.has(f.clientMsgId!) && this.sendPub(f.clientMsgId!, env), f.retryAfterMs ?? 200);
        return;
      }
      default: {
        const rid = (f as { rid?: number }).rid;
        const req = rid !== undefined ? this.requests.get(rid) : undefined;
        if (req && req.want === f.t) {
          this.requests.delete(rid!);
          req.resolve(f);
        }
      }
    }
  }
}
