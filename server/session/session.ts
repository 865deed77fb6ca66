/**
 * One WebSocket connection: the handshake state, its subscriptions, and the
 * frame dispatch. Decoding failures never throw out of here: every bad frame is
 * answered with an error frame (or a close) from protocol/errors.ts, counted in
 * metrics, and logged with the connection id.
 */
import { decodeClientFrame, encodeFrameTransient } from '../../protocol/codec.ts';
import { ERRORS, ProtocolError, closeCodeOf, type ErrorCode } from '../../protocol/errors.ts';
import type { ClientFrame, ServerFrame } from '../../protocol/frames.ts';
import type { RelayContext } from '../context.ts';
import type { Subscription } from '../delivery/subscription.ts';
import type { SubscriberSink } from '../delivery/types.ts';
import type { Logger } from '../log.ts';
import type { Connection, SendResult } from '../transport.ts';
import { onAuth, onConnect, welcomeFrame, type PendingChallenge } from './handshake.ts';
import { handleOrderFrame } from './order-frames.ts';

export type SessionState = 'new' | 'challenged' | 'ready' | 'closed';

/** What a session needs from the relay beyond the shared context. */
export interface SessionHost {
  readonly ctx: RelayContext;
  /** The relay is shutting down: it finishes in-flight appends and takes no new ones. */
  readonly closing: boolean;
  /** Count this authenticated connection against its device's cap; false when over it. */
  admit(session: Session): boolean;
  forget(session: Session): void;
}

/** Extra fields an error frame may carry. */
export type ErrorExtra = Partial<Pick<Extract<ServerFrame, { t: 'error' }>, 'rid' | 'order' | 'clientMsgId' | 'retryAfterMs' | 'oldestSeq' | 'detail'>>;

const PRE_AUTH_TYPES = new Set(['connect', 'auth', 'ping', 'pong']);
/** WebSocket close code of a connection lost without a close frame (RFC 6455 §7.4.1); uWS also uses it for its idle timeout. */
const CLOSE_ABNORMAL = 1006;
const UWS_TIMEOUT_TICK_MS = 4000;

export class Session implements SubscriberSink {
  state: SessionState = 'new';
  device = '';
  readonly subscriptions = new Map<string, Subscription>();
  /** Orders with a `sub` in progress (between the request and `subscribed`). */
  readonly subscribing = new Set<string>();
  /** Publishes are validated in arrival order (per-sender hash chains must not be reordered); appends then pipeline. */
  pubQueue: Promise<void> = Promise.resolve();
  /** Publishes accepted from this socket and not yet answered (queued, validating or appending). */
  pubInFlight = 0;
  /** Publishes waiting in pubQueue for validation; while any do, later ones queue behind them. */
  pubValidating = 0;
  readonly log: Logger;
  private pending: PendingChallenge | undefined;
  private badFrames = 0;
  private authTimer: NodeJS.Timeout | undefined;
  /** When the client last sent a frame: tells an idle-timeout close from other abnormal closes. */
  private lastInbound: number;
  private slowTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly conn: Connection,
    private readonly host: SessionHost,
  ) {
    this.log = host.ctx.log.child({ conn: conn.id });
    this.lastInbound = host.ctx.now();
    this.authTimer = setTimeout(() => this.closeWith('AUTH_TIMEOUT', 'no welcome within the auth timeout'), host.ctx.config.limits.authTimeoutMs);
    this.authTimer.unref?.();
  }

  get ctx(): RelayContext {
    return this.host.ctx;
  }

  get shuttingDown(): boolean {
    return this.host.closing;
  }

  get bufferedAmount(): number {
    return this.conn.bufferedAmount;
  }

  // ---------------------------------------------------------------- inbound

  onMessage(bytes: Uint8Array, isBinary: boolean): void {
    if (this.state === 'closed') return;
    this.lastInbound = this.ctx.now();
    let frame: ClientFrame;
    try {
      if (!isBinary) throw new ProtocolError('BAD_FRAME', 'frames are binary MessagePack, not text');
      frame = decodeClientFrame(bytes);
    } catch (err) {
      this.ctx.metrics.frameIn('unknown');
      const pe = err instanceof ProtocolError ? err : new ProtocolError('BAD_FRAME');
      return this.rejectBadFrame(pe.code, pe.detail ?? '');
    }
    this.ctx.metrics.frameIn(frame.t);
    // Type, size and ids only: payloads never reach the log (server/log.ts redacts them anyway).
    if (this.ctx.config.logFrames) this.log.debug({ dir: 'in', type: frame.t, bytes: bytes.byteLength, ...requestIds(frame) }, 'frame');
    if (this.state !== 'ready' && !PRE_AUTH_TYPES.has(frame.t)) return this.rejectBadFrame('NOT_AUTHENTICATED', frame.t);
    this.badFrames = 0;
    if (this.state === 'ready') {
      const take = this.ctx.frameLimiter.take(this.device, this.ctx.now());
      if (!take.ok) return this.sendError('RATE_LIMITED', { retryAfterMs: take.retryAfterMs, ...requestIds(frame) });
    }
    try {
      this.dispatch(frame);
    } catch (err) {
      this.fail(err, requestIds(frame));
    }
  }

  private rejectBadFrame(code: ErrorCode, detail: string): void {
    this.sendError(code, { detail: detail.slice(0, 200) });
    if (this.state !== 'closed' && ++this.badFrames >= this.ctx.config.limits.maxBadFramesInARow) {
      this.closeWith('BAD_FRAME', `${this.badFrames} bad frames in a row`);
    }
  }

  private dispatch(frame: ClientFrame): void {
    switch (frame.t) {
      case 'connect':
        return this.onConnectFrame(frame);
      case 'auth':
        return this.onAuthFrame(frame);
      case 'ping':
        this.send({ t: 'pong', n: frame.n });
        return;
      case 'pong':
        return;
      default:
        return handleOrderFrame(this, frame);
    }
  }

  private onConnectFrame(frame: Extract<ClientFrame, { t: 'connect' }>): void {
    if (this.state === 'ready') return this.sendError('ALREADY_AUTHENTICATED');
    const out = onConnect(this.ctx, frame);
    if (out.kind === 'refuse') return this.closeWith(out.code, out.detail);
    if (out.kind === 'resumed') {
      // Same expiry as the presented ticket: a device re-proves its key at least every ticketTtlMs.
      const ticket = this.ctx.tickets.issue(out.subject, this.ctx.now(), out.expiresAt);
      return this.becomeReady(out.subject.deviceId, ticket, true);
    }
    if (out.ticketError) this.sendError('TICKET_INVALID', { detail: out.ticketError });
    this.pending = out.pending;
    this.state = 'challenged';
    this.send(out.frame);
  }

  private onAuthFrame(frame: Extract<ClientFrame, { t: 'auth' }>): void {
    if (this.state === 'ready') return this.sendError('ALREADY_AUTHENTICATED');
    if (!this.pending) return this.rejectBadFrame('NOT_AUTHENTICATED', 'send `connect` and wait for `challenge` before `auth`');
    const out = onAuth(this.ctx, this.pending, frame);
    if (out.kind === 'refuse') return this.closeWith(out.code, out.detail);
    const ticket = this.ctx.tickets.issue(out.subject, this.ctx.now());
    this.becomeReady(out.subject.deviceId, ticket, false);
  }

  private becomeReady(deviceId: string, ticket: { ticket: Uint8Array; expiresAt: number }, resumed: boolean): void {
    this.device = deviceId;
    if (!this.host.admit(this)) {
      this.device = '';
      return this.closeWith('TOO_MANY_CONNECTIONS', `device already has ${this.ctx.config.limits.maxConnectionsPerDevice} connections`);
    }
    clearTimeout(this.authTimer);
    this.pending = undefined;
    this.state = 'ready';
    this.ctx.metrics.authenticated.inc();
    this.ctx.metrics.auths.labels(resumed ? 'ticket' : 'signature').inc();
    this.log.info({ device: deviceId, resumed }, 'authenticated');
    this.send(welcomeFrame(this.ctx, deviceId, this.conn.id, ticket, resumed));
  }

  // ---------------------------------------------------------------- outbound (SubscriberSink)

  send(frame: ServerFrame): SendResult {
    // Transient: Connection.send copies before it returns.
    return this.sendEncoded(frame.t, encodeFrameTransient(frame), 0);
  }

  sendFrame(frame: ServerFrame): SendResult {
    return this.send(frame);
  }

  sendEncoded(type: ServerFrame['t'], bytes: Uint8Array, messages: number): SendResult {
    if (this.state === 'closed') return 'dropped';
    const result = this.conn.send(bytes);
    if (result === 'dropped') {
      this.overflow();
      return result;
    }
    this.ctx.metrics.frameOut(type);
    if (this.ctx.config.logFrames) this.log.debug({ dir: 'out', type, bytes: bytes.byteLength, messages }, 'frame');
    return result;
  }

  /** Send an error frame with the table's sentence; close if the table says so. */
  sendError(code: ErrorCode, extra: ErrorExtra = {}): void {
    this.refuseWithoutClosing(code, extra);
    if (ERRORS[code].close) this.end(code);
  }

  /** The error frame of `code` (counted and logged like any), without the close the table may ask for. */
  refuseWithoutClosing(code: ErrorCode, extra: ErrorExtra = {}): void {
    this.ctx.metrics.error(code);
    this.log.info({ code, ...extra }, 'error');
    if (this.state !== 'closed') this.send({ t: 'error', code, message: ERRORS[code].message, ...extra });
  }

  /** Send the error frame (so the client learns why) and close with its code. */
  closeWith(code: ErrorCode, detail: string): void {
    if (this.state === 'closed') return;
    this.ctx.metrics.error(code);
    this.log.info({ code, detail }, 'closing');
    this.send({ t: 'error', code, message: ERRORS[code].message, detail: detail.slice(0, 200) });
    this.end(code);
  }

  private end(code: ErrorCode): void {
    if (this.state === 'closed') return;
    this.conn.end(closeCodeOf(code), code);
  }

  /** Report an exception from a handler as the matching error frame. */
  fail(err: unknown, extra: ErrorExtra = {}): void {
    if (err instanceof ProtocolError) {
      const withOldest = (err as ProtocolError & { oldestSeq?: number }).oldestSeq;
      return this.sendError(err.code, { ...extra, detail: err.detail?.slice(0, 200), ...(withOldest !== undefined ? { oldestSeq: withOldest } : {}) });
    }
    this.log.error({ err }, 'handler failed');
    this.sendError('INTERNAL', extra);
  }

  paused(): void {
    if (this.slowTimer) return;
    this.slowTimer = setTimeout(() => this.checkSlowConsumer(), this.ctx.config.backpressure.slowConsumerMs);
    this.slowTimer.unref?.();
  }

  private checkSlowConsumer(): void {
    this.slowTimer = undefined;
    const stillPaused = [...this.subscriptions.values()].some((s) => s.state === 'paused');
    if (!stillPaused || this.state === 'closed') return;
    if (this.conn.bufferedAmount > this.ctx.config.backpressure.pauseBytes / 2) {
      return this.closeWith('SLOW_CONSUMER', `paused for ${this.ctx.config.backpressure.slowConsumerMs} ms`);
    }
    this.onDrain();
  }

  overflow(): void {
    if (this.state === 'closed') return;
    this.ctx.metrics.error('SLOW_CONSUMER');
    this.log.info({ code: 'SLOW_CONSUMER', buffered: this.conn.bufferedAmount }, 'closing');
    this.end('SLOW_CONSUMER');
  }

  ended(order: string, code: ErrorCode): void {
    const sub = this.subscriptions.get(order);
    if (!sub) return;
    this.subscriptions.delete(order);
    this.ctx.feeds.remove(sub);
    this.ctx.metrics.subscriptions.dec();
    this.ctx.metrics.error(code);
    this.log.info({ order, code }, 'subscription ended');
  }

  onDrain(): void {
    for (const sub of this.subscriptions.values()) sub.drained();
  }

  /** The socket is gone: release everything it held. */
  onClose(code: number): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    // uWS closes an idle socket itself, with 1006 like any abnormal close. If the client
    // sent nothing for (about) the whole idle window, that is what happened: count it.
    // uWS checks timeouts on a 4-second tick, so it may close up to 4 s early
    // (measured: 7.96 s for idleTimeout 8).
    const idleMs = this.ctx.config.limits.idleTimeoutS * 1000;
    if (code === CLOSE_ABNORMAL && idleMs > 0 && this.ctx.now() - this.lastInbound >= idleMs - UWS_TIMEOUT_TICK_MS) {
      this.ctx.metrics.error('IDLE_TIMEOUT');
      this.log.info({ code: 'IDLE_TIMEOUT' }, 'idle timeout');
    }
    this.state = 'closed';
    clearTimeout(this.authTimer);
    clearTimeout(this.slowTimer);
    for (const sub of this.subscriptions.values()) {
      this.ctx.feeds.remove(sub);
      this.ctx.metrics.subscriptions.dec();
    }
    this.subscriptions.clear();
    if (wasReady) {
      this.ctx.metrics.authenticated.dec();
      this.host.forget(this);
    }
    this.log.info({ code, device: this.device || undefined }, 'closed');
  }
}

function requestIds(frame: ClientFrame): ErrorExtra {
  const f = frame as { rid?: number; order?: string; clientMsgId?: string };
  const out: ErrorExtra = {};
  if (f.rid !== undefined) out.rid = f.rid;
  if (f.order !== undefined) out.order = f.order;
  if (f.clientMsgId !== undefined) out.clientMsgId = f.clientMsgId;
  return out;
}
