/**
 * SealRelayClient: one device's connection to a relay, its outbox, and its open
 * orders. It owns the wiring only: the connection state machine, the outbox, the
 * inbox and the order sessions each do one job and are tested on their own.
 *
 * Delivery contract: a message is durable on the device when `send` resolves and
 * is retried with the same clientMsgId until the relay acknowledges it, across
 * reconnects and restarts (with persistent storage). Received messages reach the
 * application once each, in sequence order; not committed means delivered again.
 */
import { cryptoReady, DEFAULT_ROTATION, randomBytes, signChallenge, type DeviceKeys, type SenderKeyRotation } from '../crypto/index.ts';
import { ERRORS, isErrorCode, type ServerFrame, type ServerFrameOf } from '../protocol/index.ts';
import {
  downloadAttachment,
  uploadAttachment,
  type AttachmentDeps,
  type AttachmentMeta,
  type AttachmentProgress,
  type HttpClient,
} from './attachments.ts';
import type { BackoffOptions } from './backoff.ts';
import type { AttachmentRef } from './messages.ts';
import { wire } from './bytes.ts';
import { systemClock, type Clock } from './clock.ts';
import { Connection, type ConnectionEvents, type ConnectionState, type StateChange } from './connection.ts';
import { relayError } from './requests.ts';
import { Emitter } from './emitter.ts';
import { SealRelayError } from './errors.ts';
import { Inbox } from './inbox.ts';
import { OrderSession, type OrderContext } from './order.ts';
import { Outbox, type OutboxEntry, type OutboxOptions } from './outbox.ts';
import { SelfKeys } from './self-keys.ts';
import type { ClientStorage } from './storage/types.ts';
import type { Transport } from './transport/types.ts';

export interface DeviceIdentity {
  /** The device's keys (from the keystore). */
  readonly keys: DeviceKeys;
  /** Its certificate, issued by the tenant authority. */
  readonly certificate: Uint8Array;
}

export interface OpenOrderOptions {
  /**
   * Start reading after this sequence number instead of where this device left
   * off (0: the whole history the relay still holds). Moves the stored cursor.
   */
  readonly afterSeq?: number;
}

export interface ClientOptions {
  /** WebSocket URL of the relay, e.g. wss://relay.example.com/ */
  readonly url: string;
  /** HTTP base URL for large attachments; default derived from `url`. */
  readonly httpUrl?: string;
  readonly transport: Transport;
  readonly storage: ClientStorage;
  readonly device: DeviceIdentity;
  /** Tenant authority public keys whose rosters and certificates this device trusts. */
  readonly trustedAuthorities: readonly Uint8Array[];
  readonly rotation?: SenderKeyRotation;
  readonly outbox?: OutboxOptions;
  readonly backoff?: BackoffOptions;
  readonly heartbeatMs?: number;
  /** The relay's id (its `challenge.relayId`). Production apps must set it: see Connection's `relayId`. */
  readonly relayId?: string;
  /** From opening a socket to `welcome` (default AUTH_TIMEOUT_MS). */
  readonly handshakeTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** Cumulative acks are batched over this window. */
  readonly ackDelayMs?: number;
  /** HTTP for large attachments (default: global fetch; WeChat: wrap wx.request). */
  readonly http?: HttpClient;
  readonly clock?: Clock;
  readonly random?: () => number;
}

/** A problem outside any open order (a publish of an order not open in this process, an unsolicited relay error). */
export interface ClientWarning {
  readonly code: string;
  readonly message: string;
  readonly order?: string;
  readonly clientMsgId?: string;
}

export interface ClientEvents extends Record<string, unknown> {
  state: StateChange;
  /** A socket ended and another attempt is scheduled (code, reason, attempt, delayMs). */
  reconnecting: ConnectionEvents['reconnecting'];
  warning: ClientWarning;
  /** The relay durably stored a publish (including ones from before a restart). */
  acked: { readonly order: string; readonly clientMsgId: string; readonly seq: number; readonly duplicate: boolean };
}

export class SealRelayClient extends Emitter<ClientEvents> {
  readonly connection: Connection;
  private readonly sessions = new Map<string, OrderSession>();
  private readonly opening = new Map<string, Promise<OrderSession>>();
  private readonly kpInFlight = new Set<string>();
  private pumpTimer: unknown;
  private readonly clock: Clock;
  private readonly ctx: OrderContext;

  private constructor(
    private readonly opts: ClientOptions,
    readonly outbox: Outbox,
    private readonly inbox: Inbox,
  ) {
    super();
    this.clock = opts.clock ?? systemClock;
    const keys = opts.device.keys;
    this.connection = new Connection({
      url: opts.url,
      transport: opts.transport,
      auth: { deviceId: keys.deviceId, certificate: opts.device.certificate, sign: (t) => signChallenge(keys, t) },
      clock: this.clock,
      ...(opts.random ? { random: opts.random } : {}),
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
      ...(opts.relayId !== undefined ? { relayId: opts.relayId } : {}),
      ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
      ...(opts.handshakeTimeoutMs ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
    });
    this.ctx = {
      keys,
      trustedAuthorities: opts.trustedAuthorities,
      connection: this.connection,
      outbox,
      inbox,
      storage: opts.storage,
      selfKeys: new SelfKeys(opts.storage, keys),
      clock: this.clock,
      rotation: opts.rotation ?? DEFAULT_ROTATION,
      ackDelayMs: opts.ackDelayMs ?? 50,
      pump: () => this.pump(),
      forget: (order) => this.sessions.delete(order),
    };
    this.connection.on('state', (s) => this.emit('state', s));
    this.connection.on('reconnecting', (r) => this.emit('reconnecting', r));
    this.connection.on('welcome', () => this.onWelcome());
    this.connection.on('frame', (f) => this.onFrame(f));
  }

  /**
   * Create a client (loads the outbox left by an earlier process). Call connect() next.
   * @example
   * const client = await SealRelayClient.create({ url, transport: nodeTransport(), storage: new FileStorage(dir),
   *   device: { keys, certificate }, trustedAuthorities: [authorityPublicKey] });
   * client.connect();
   * const order = await client.openOrder('SO-1042');
   */
  static async create(opts: ClientOptions): Promise<SealRelayClient> {
    await cryptoReady();
    // libsodium's randomness rather than globalThis.crypto, which WeChat mini-programs lack.
    const randomId = () => Array.from(randomBytes(16), (b) => b.toString(16).padStart(2, '0')).join('');
    const outbox = await Outbox.open(opts.storage, { randomId, ...opts.outbox });
    return new SealRelayClient(opts, outbox, new Inbox(opts.storage));
  }

  get deviceId(): string {
    return this.opts.device.keys.deviceId;
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** The HTTP base URL of the relay (attachments over HTTP). */
  get httpUrl(): string {
    return this.opts.httpUrl ?? this.opts.url.replace(/^ws(s?):/, 'http$1:').replace(/\/$/, '');
  }

  connect(): void {
    this.connection.connect();
  }

  /** Drop the connection until connect() (e.g. the app went to the background); sessions stay open and resume. */
  disconnect(): void {
    this.clearPump();
    this.connection.disconnect();
  }

  /** Final: stop reconnecting, end every order session. Unsent messages stay in the outbox for the next process. */
  close(): Promise<void> {
    const flushed = [...this.sessions.values()].map((s) => s.close());
    this.clearPump();
    this.connection.close();
    // Resolves once every order's read position is durable (awaiting it is optional).
    return Promise.all(flushed).then(() => undefined);
  }

  /** Platform hints (see watchBrowserNetwork / watchWechatNetwork). */
  online(): void {
    this.connection.online();
  }
  offline(): void {
    this.connection.offline();
  }

  /**
   * Open an order: verify its roster chain, fetch this device's key packages, and
   * follow it from the last message handed to the application.
   * @example const order = await client.openOrder('SO-1042'); order.on('message', render);
   */
  openOrder(orderId: string, opts: OpenOrderOptions = {}): Promise<OrderSession> {
    const open = this.sessions.get(orderId);
    if (open) return Promise.resolve(open);
    let pending = this.opening.get(orderId);
    if (!pending) {
      pending = OrderSession.open(orderId, this.ctx, opts).then((s) => {
        this.sessions.set(orderId, s);
        if (this.connection.state === 'connected') s.resubscribe();
        return s;
      });
      pending.then(
        () => this.opening.delete(orderId),
        () => this.opening.delete(orderId),
      );
      this.opening.set(orderId, pending);
    }
    return pending;
  }

  /**
   * Hand an authority-signed roster to the relay: the first of an order, or the next epoch.
   * @example await client.putRoster('SO-1042', signRoster(authority, { orderId: 'SO-1042', epoch: 1, ... }));
   */
  async putRoster(orderId: string, roster: Uint8Array): Promise<{ epoch: number }> {
    const ok = await this.connection.request({ t: 'roster_put', rid: 0, order: orderId, roster: wire(roster) }, ['roster_ok']);
    return { epoch: ok.epoch };
  }

  /**
   * Encrypt and upload a file for `order`; put the returned reference in a message.
   * @example const photo = await client.uploadAttachment(id, jpeg, { mimeType: 'image/jpeg' }, (phase, done, total) => {});
   */
  uploadAttachment(order: string, data: Uint8Array, meta: AttachmentMeta, onProgress?: AttachmentProgress): Promise<AttachmentRef> {
    return uploadAttachment(this.attachmentDeps(), order, data, meta, onProgress);
  }

  /** Download, verify and decrypt an attachment referenced by a received message. */
  downloadAttachment(ref: AttachmentRef, onProgress?: AttachmentProgress): Promise<Uint8Array> {
    return downloadAttachment(this.attachmentDeps(), ref, onProgress);
  }

  private attachmentDeps(): AttachmentDeps {
    return {
      connection: this.connection,
      keys: this.opts.device.keys,
      certificate: this.opts.device.certificate,
      httpUrl: this.httpUrl,
      now: () => this.clock.now(),
      ...(this.opts.http ? { http: this.opts.http } : {}),
    };
  }

  /** Unacknowledged publishes (e.g. to show "sending…"). */
  pendingCount(order?: string): number {
    return this.outbox.pending(order).filter((e) => e.type === 'pub').length;
  }

  // ------------------------------------------------------------ wiring

  private onWelcome(): void {
    this.outbox.requeueAll();
    // kp_put requests still in flight are resent by the connection itself; do not double them.
    this.pump();
    for (const s of this.sessions.values()) s.resubscribe();
  }

  private onFrame(f: ServerFrame): void {
    switch (f.t) {
      case 'deliver':
        this.sessions.get(f.order)?.onDeliver(f.messages);
        return;
      case 'puback':
        this.guard(this.onPubAck(f), f.order);
        return;
      case 'roster':
        this.guard(this.sessions.get(f.order)?.onRosterPush(f.roster), f.order);
        return;
      case 'unsubscribed':
        this.guard(this.sessions.get(f.order)?.onUnsubscribed(f.code), f.order);
        return;
      case 'error':
        if (f.clientMsgId !== undefined) this.guard(this.onPublishError(f), f.order);
        else this.emit('warning', { code: f.code, message: f.message, ...(f.order ? { order: f.order } : {}) });
        return;
      default:
        return;
    }
  }

  /** Frame handlers touch storage; a failure there is reported, never an unhandled rejection. */
  private guard(work: Promise<void> | undefined, order?: string): void {
    work?.catch((e: unknown) => this.emit('warning', { code: 'STORAGE_FAILED', message: (e as Error).message, ...(order ? { order } : {}) }));
  }

  private async onPubAck(f: ServerFrameOf<'puback'>): Promise<void> {
    const entry = await this.outbox.ack(f.clientMsgId);
    if (entry) {
      this.sessions.get(f.order)?.onAcked(f.clientMsgId, f.seq);
      this.emit('acked', { order: f.order, clientMsgId: f.clientMsgId, seq: f.seq, duplicate: f.duplicate });
    }
    this.pump();
  }

  private async onPublishError(f: ServerFrameOf<'error'>): Promise<void> {
    const entry = this.outbox.get(f.clientMsgId!);
    if (!entry) return;
    const err = relayError(f);
    if (f.code !== 'EPOCH_STALE' && ERRORS[f.code].retry) {
      this.outbox.defer(entry.order, this.clock.now() + (f.retryAfterMs ?? 1000), entry.clientMsgId);
      this.pump();
      return;
    }
    await this.rejectEntry(entry, err);
  }

  /** Remove an entry the relay will never accept, so it does not block its order; tell whoever can act. */
  private async rejectEntry(entry: OutboxEntry, err: SealRelayError): Promise<void> {
    await this.outbox.fail(entry.clientMsgId);
    const session = this.sessions.get(entry.order);
    if (session) await session.onPublishRejected(entry, String(err.code), err.message);
    else this.emit('warning', { code: 'PUBLISH_FAILED', order: entry.order, clientMsgId: entry.clientMsgId, message: `${err.code}: ${err.message}` });
    this.pump();
  }

  /** Send what the outbox says is due and arm the retry timer for the rest. */
  private pump(): void {
    this.clearPump();
    if (this.connection.state !== 'connected') return;
    const now = this.clock.now();
    for (const e of this.outbox.due(now)) {
      if (e.type === 'pub') this.connection.send({ t: 'pub', order: e.order, clientMsgId: e.clientMsgId, envelope: wire(e.envelope) });
      else this.putKeyPackages(e);
    }
    const next = this.outbox.nextDueAt(now);
    if (next !== undefined) this.pumpTimer = this.clock.setTimeout(() => this.pump(), Math.max(10, next - now));
  }

  private putKeyPackages(e: Extract<OutboxEntry, { type: 'kp' }>): void {
    if (this.kpInFlight.has(e.clientMsgId)) return;
    this.kpInFlight.add(e.clientMsgId);
    this.connection
      .request({ t: 'kp_put', rid: 0, order: e.order, packages: e.packages.map(wire) }, ['kp_ok'])
      .then(
        async () => {
          await this.outbox.ack(e.clientMsgId);
        },
        async (err: unknown) => {
          const code = err instanceof SealRelayError ? String(err.code) : 'INTERNAL';
          const retry = !isErrorCode(code) || ERRORS[code].retry;
          if (!retry && err instanceof SealRelayError) await this.rejectEntry(e, err);
        },
      )
      .finally(() => {
        this.kpInFlight.delete(e.clientMsgId);
        this.pump();
      });
  }

  private clearPump(): void {
    if (this.pumpTimer !== undefined) this.clock.clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
  }
}
