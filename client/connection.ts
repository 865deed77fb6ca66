/**
 * The connection state machine: one logical connection to the relay over a
 * succession of sockets.
 *
 *   disconnected ──connect()──▶ connecting ──welcome──▶ connected
 *        ▲                        ▲   │                    │
 *        │  relay says "do not    │   └─ socket ends ──────┤ (backoff, then a new socket)
 *        └── reconnect" ──────────┴────────────────────────┘
 *   any ──close()──▶ closed (final)
 *
 * Every transition carries `{code, reason}` (codes.ts). Behaviour copied from
 * centrifuge-js: full-jitter backoff, one reconnect in flight, callbacks of an
 * old socket dropped by generation id, the relay's close code decides whether to
 * reconnect. Requests are correlated by `rid`, survive reconnects (they are all
 * idempotent: reads, or puts the relay de-duplicates) and fail only on timeout.
 */
import {
  AUTH_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  PROTOCOL_VERSION,
  ProtocolError,
  challengeTranscript,
  closeCodeOf,
  decodeServerFrame,
  encodeFrame,
  errorOfCloseCode,
  shouldReconnect,
  type ClientFrame,
  type ServerFrame,
  type ServerFrameOf,
  type ServerFrameType,
} from '../protocol/index.ts';
import { wire } from './bytes.ts';
import { backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import { systemClock, type Clock } from './clock.ts';
import { reasonOf, type TransitionCode } from './codes.ts';
import { Emitter } from './emitter.ts';
import { SealRelayError } from './errors.ts';
import { PendingRequests, type RequestFrame } from './requests.ts';
import type { Transport, TransportSocket } from './transport/types.ts';

export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'closed';

export interface StateChange {
  readonly from: ConnectionState;
  readonly to: ConnectionState;
  readonly code: TransitionCode;
  readonly reason: string;
}

/** What the connection needs to prove the device's identity; crypto stays outside. */
export interface DeviceAuth {
  readonly deviceId: string;
  readonly certificate: Uint8Array;
  /** Ed25519 signature over the challenge transcript (protocol/handshake.ts). */
  sign(transcript: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface ConnectionOptions {
  readonly url: string;
  readonly transport: Transport;
  readonly auth: DeviceAuth;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly backoff?: BackoffOptions;
  /**
   * Ping interval; the relay's `welcome.limits.heartbeatMs` wins when it is shorter, but
   * never below MIN_RELAY_HEARTBEAT_MS (a relay must not make the client ping in a loop).
   */
  readonly heartbeatMs?: number;
  /**
   * The relay's id as it signs it into every `challenge`. When set, a challenge naming
   * another relay ends the connection with RELAY_ID_MISMATCH (no reconnect) and no `auth`
   * frame is sent: the signature would let that server log in elsewhere as this device
   * (a relayed login). Production apps must set it.
   */
  readonly relayId?: string;
  /** Time from opening a socket to `welcome`. */
  readonly handshakeTimeoutMs?: number;
  /** Default deadline of a request, across reconnects. */
  readonly requestTimeoutMs?: number;
}

type WelcomeFrame = ServerFrameOf<'welcome'>;

/** The shortest ping interval a relay's `welcome` can impose. */
export const MIN_RELAY_HEARTBEAT_MS = 1000;

export interface ConnectionEvents extends Record<string, unknown> {
  state: StateChange;
  /** Every successful (re)authentication: resubscribe and resend from here. */
  welcome: WelcomeFrame;
  /** A socket ended and another attempt is scheduled: why, and in how long. */
  reconnecting: { readonly code: TransitionCode; readonly reason: string; readonly attempt: number; readonly delayMs: number };
  /** Frames not consumed by the handshake or a pending request (deliver, puback, roster, errors…). */
  frame: ServerFrame;
}

export class Connection extends Emitter<ConnectionEvents> {
  private _state: ConnectionState = 'disconnected';
  private generation = 0;
  private socket: TransportSocket | undefined;
  private authenticated = false;
  private attempt = 0;
  private reconnectTimer: unknown;
  private handshakeTimer: unknown;
  private heartbeatTimer: unknown;
  private lastFrameAt = 0;
  private heartbeatMs: number;
  private ticket: Uint8Array | undefined;
  /** The relayId of the last challenge this connection answered. */
  private challengedBy: string | undefined;
  private isOffline = false;
  private readonly pending: PendingRequests;
  private readonly clock: Clock;
  private readonly random: () => number;

  constructor(private readonly opts: ConnectionOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.heartbeatMs = opts.heartbeatMs ?? HEARTBEAT_INTERVAL_MS;
    this.pending = new PendingRequests(this.clock);
  }

  get state(): ConnectionState {
    return this._state;
  }

  get deviceId(): string {
    return this.opts.auth.deviceId;
  }

  /**
   * The relay's id: the configured `relayId`, else the one the relay named in the last
   * challenge this connection signed (undefined before the first). Signed HTTP requests
   * bind to it (protocol/http-auth.ts).
   */
  get relayId(): string | undefined {
    return this.opts.relayId ?? this.challengedBy;
  }

  /** Start connecting (no-op unless disconnected). Reconnects by itself until close(). */
  connect(): void {
    if (this._state === 'closed') throw new SealRelayError('CLIENT_CLOSED');
    if (this._state !== 'disconnected') return;
    this.attempt = 0;
    this.transition('connecting', 'CONNECT_CALLED');
    this.openSocket();
  }

  /** Drop the socket and stay disconnected until connect(); pending requests fail. */
  disconnect(): void {
    if (this._state === 'closed' || this._state === 'disconnected') return;
    this.endSocket(1000, 'client disconnect');
    this.transition('disconnected', 'CLIENT_CLOSED');
    this.pending.rejectAll(new SealRelayError('CLIENT_CLOSED'));
  }

  /** Final: no reconnect, pending requests fail with CLIENT_CLOSED. */
  close(): void {
    if (this._state === 'closed') return;
    this.endSocket(1000, 'client closed');
    this.transition('closed', 'CLIENT_CLOSED');
    this.pending.rejectAll(new SealRelayError('CLIENT_CLOSED'));
  }

  /** Platform hint: the network went away. Stop trying until online(). */
  offline(): void {
    if (this.isOffline) return;
    this.isOffline = true;
    this.clearTimer('reconnectTimer');
    if (this._state === 'connecting' || this._state === 'connected') {
      this.endSocket(4000, 'offline');
      this.transition('connecting', 'NETWORK_OFFLINE');
    }
  }

  /** Platform hint: the network is back. Reconnect now rather than after the backoff. */
  online(): void {
    const wasOffline = this.isOffline;
    this.isOffline = false;
    if (this._state !== 'connecting' || this.socket) return;
    if (wasOffline || this.reconnectTimer !== undefined) {
      this.clearTimer('reconnectTimer');
      this.attempt = 0;
      this.openSocket();
    }
  }

  /** Send a frame now if connected; returns false (frame dropped) otherwise. */
  send(frame: ClientFrame): boolean {
    if (this._state !== 'connected' || !this.socket) return false;
    this.socket.send(encodeFrame(frame));
    return true;
  }

  /**
   * Send a request and await the frame that answers its `rid`. Sent now if
   * connected, else on the next welcome, and again after every reconnect until
   * answered; an `error` frame with the rid rejects with its code.
   * @example const f = await conn.request({ t: 'roster_get', rid: 0, order }, ['rosters']);
   */
  request<T extends ServerFrameType>(frame: RequestFrame, expect: readonly T[], timeoutMs?: number): Promise<ServerFrameOf<T>> {
    if (this._state === 'closed') return Promise.reject(new SealRelayError('CLIENT_CLOSED'));
    const { frame: withRid, answer } = this.pending.add(frame, expect, timeoutMs ?? this.opts.requestTimeoutMs ?? 30_000);
    this.send(withRid);
    return answer;
  }

  // ------------------------------------------------------------ socket lifecycle

  private openSocket(): void {
    this.clearTimer('reconnectTimer');
    if (this.isOffline || this._state !== 'connecting') return;
    const gen = ++this.generation;
    this.authenticated = false;
    const live = () => gen === this.generation;
    this.handshakeTimer = this.clock.setTimeout(() => {
      if (live()) this.socketEnded('HANDSHAKE_TIMEOUT');
    }, this.opts.handshakeTimeoutMs ?? AUTH_TIMEOUT_MS);
    try {
      this.socket = this.opts.transport.open(this.opts.url, {
        open: () => {
          if (!live()) return;
          this.lastFrameAt = this.clock.now();
          this.socket?.send(encodeFrame({ t: 'connect', v: PROTOCOL_VERSION, deviceId: this.opts.auth.deviceId, ...(this.ticket ? { ticket: wire(this.ticket) } : {}) }));
        },
        message: (data) => {
          if (live()) this.onBytes(data, gen);
        },
        close: (code) => {
          if (!live()) return;
          const relayCode = errorOfCloseCode(code);
          this.socketEnded(relayCode ?? 'TRANSPORT_CLOSED', code);
        },
        error: () => {
          if (live()) this.socketEnded('TRANSPORT_ERROR');
        },
      });
    } catch {
      this.socketEnded('TRANSPORT_ERROR');
    }
  }

  /** Close the current socket (if any) and make every later callback from it stale. */
  private endSocket(closeCode: number, reason: string): void {
    this.generation++;
    this.authenticated = false;
    this.clearTimer('handshakeTimer');
    this.clearTimer('heartbeatTimer');
    this.clearTimer('reconnectTimer');
    const s = this.socket;
    this.socket = undefined;
    try {
      s?.close(closeCode, reason);
    } catch {
      // Already closed: nothing to do.
    }
  }

  /** The current socket is gone; decide between reconnecting and giving up. */
  private socketEnded(code: TransitionCode, closeCode?: number): void {
    this.endSocket(4000, code);
    if (this._state === 'closed' || this._state === 'disconnected') return;
    if (closeCode !== undefined && !shouldReconnect(closeCode)) {
      this.transition('disconnected', code);
      this.pending.rejectAll(new SealRelayError(code, reasonOf(code)));
      return;
    }
    this.transition('connecting', code);
    this.scheduleReconnect(code);
  }

  private scheduleReconnect(code: TransitionCode): void {
    if (this.reconnectTimer !== undefined || this.isOffline || this.socket) return;
    const attempt = this.attempt++;
    const delay = backoff(attempt, this.opts.backoff ?? DEFAULT_BACKOFF, this.random);
    this.emit('reconnecting', { code, reason: reasonOf(code), attempt, delayMs: delay });
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openSocket();
    }, delay);
  }

  // ------------------------------------------------------------ frames

  private onBytes(data: Uint8Array, gen: number): void {
    this.lastFrameAt = this.clock.now();
    let frame: ServerFrame;
    try {
      frame = decodeServerFrame(data);
    } catch (e) {
      // A newer relay may add frame types: ignore those. Anything malformed means
      // we no longer trust the stream's state: start over on a fresh socket.
      if (e instanceof ProtocolError && e.code === 'UNKNOWN_FRAME_TYPE') return;
      this.socketEnded('PROTOCOL_VIOLATION');
      return;
    }
    if (!this.authenticated) {
      this.onHandshakeFrame(frame, gen);
      return;
    }
    switch (frame.t) {
      case 'ping':
        this.socket?.send(encodeFrame(frame.n === undefined ? { t: 'pong' } : { t: 'pong', n: frame.n }));
        return;
      case 'pong':
        return;
      default:
        if (this.pending.settle(frame)) return;
        this.emit('frame', frame);
    }
  }

  private onHandshakeFrame(frame: ServerFrame, gen: number): void {
    switch (frame.t) {
      case 'challenge': {
        if (this.opts.relayId !== undefined && frame.relayId !== this.opts.relayId) {
          // Never sign another relay's challenge: whoever forwarded it would log in as us there.
          this.socketEnded('RELAY_ID_MISMATCH', closeCodeOf('AUTH_FAILED'));
          return;
        }
        this.challengedBy = frame.relayId;
        const transcript = challengeTranscript(frame.relayId, frame.nonce, this.opts.auth.deviceId);
        void Promise.resolve()
          .then(() => this.opts.auth.sign(transcript))
          .then(
            (signature) => {
              if (gen === this.generation) this.socket?.send(encodeFrame({ t: 'auth', certificate: wire(this.opts.auth.certificate), signature: wire(signature) }));
            },
            () => {
              if (gen === this.generation) this.socketEnded('AUTH_FAILED', closeCodeOf('AUTH_FAILED'));
            },
          );
        return;
      }
      case 'welcome':
        this.onWelcome(frame);
        return;
      case 'error':
        // TICKET_INVALID: the relay follows with a fresh challenge; answer it, forget the ticket.
        if (frame.code === 'TICKET_INVALID') this.ticket = undefined;
        // Closing errors arrive again as the close code, which decides about reconnecting.
        return;
      case 'ping':
        this.socket?.send(encodeFrame({ t: 'pong', ...(frame.n === undefined ? {} : { n: frame.n }) }));
        return;
      default:
        return; // nothing else is meaningful before welcome
    }
  }

  private onWelcome(frame: WelcomeFrame): void {
    this.clearTimer('handshakeTimer');
    this.authenticated = true;
    this.attempt = 0;
    this.ticket = frame.ticket;
    const relayBeat = frame.limits.heartbeatMs;
    this.heartbeatMs = relayBeat > 0 ? Math.min(this.opts.heartbeatMs ?? HEARTBEAT_INTERVAL_MS, Math.max(MIN_RELAY_HEARTBEAT_MS, relayBeat)) : this.heartbeatMs;
    this.startHeartbeat();
    this.transition('connected', 'AUTHENTICATED');
    // Requests made while offline, or cut off by the last disconnect, go (again) now,
    // before listeners of `welcome` add new ones that would otherwise be sent twice.
    for (const f of this.pending.frames()) this.send(f);
    this.emit('welcome', frame);
  }

  // ------------------------------------------------------------ heartbeat

  private startHeartbeat(): void {
    this.clearTimer('heartbeatTimer');
    const gen = this.generation;
    const tick = () => {
      if (gen !== this.generation) return;
      // Any frame proves the link is alive; silence for two intervals means it is not.
      if (this.clock.now() - this.lastFrameAt >= 2 * this.heartbeatMs) {
        this.socketEnded('HEARTBEAT_TIMEOUT');
        return;
      }
      this.socket?.send(encodeFrame({ t: 'ping' }));
      this.heartbeatTimer = this.clock.setTimeout(tick, this.heartbeatMs);
    };
    this.heartbeatTimer = this.clock.setTimeout(tick, this.heartbeatMs);
  }

  // ------------------------------------------------------------ helpers

  private transition(to: ConnectionState, code: TransitionCode): void {
    const from = this._state;
    if (from === to) return;
    this._state = to;
    this.emit('state', { from, to, code, reason: reasonOf(code) });
  }

  private clearTimer(name: 'reconnectTimer' | 'handshakeTimer' | 'heartbeatTimer'): void {
    if (this[name] !== undefined) this.clock.clearTimeout(this[name]);
    this[name] = undefined;
  }
}
