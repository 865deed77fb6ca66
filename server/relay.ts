/**
 * The relay proper: accepts sockets, runs one Session per socket, keeps the
 * per-device connection count, turns store append hints into fan-out and roster
 * changes into MEMBER_REMOVED / roster pushes. Transport-agnostic: the same
 * code runs on uWS and on the fake transport of the unit tests.
 */
import { encodeFrame } from '../protocol/codec.ts';
import { closeCodeOf } from '../protocol/errors.ts';
import { wire } from './bytes.ts';
import type { RelayContext } from './context.ts';
import type { VerifiedRoster } from './trust.ts';
import { Session, type SessionHost } from './session/session.ts';
import type { Connection, SocketHandler } from './transport.ts';

export class Relay implements SocketHandler, SessionHost {
  private readonly sessions = new Map<Connection, Session>();
  private readonly byDevice = new Map<string, Set<Session>>();
  private readonly unsubscribers: Array<() => void> = [];
  private shutting = false;

  /** SessionHost: shutting down (no new sockets, no new publishes; in-flight appends finish). */
  get closing(): boolean {
    return this.shutting;
  }

  constructor(readonly ctx: RelayContext) {
    this.unsubscribers.push(
      ctx.store.onAppend((order, message) => ctx.feeds.hint(order, message)),
      ctx.rosters.onChange((order, roster) => this.onRosterChange(order, roster)),
    );
  }

  // ---------------------------------------------------------------- SocketHandler

  open(conn: Connection): void {
    if (this.shutting) return conn.end(closeCodeOf('SERVER_RESTARTING'), 'SERVER_RESTARTING');
    const session = new Session(conn, this);
    this.sessions.set(conn, session);
    this.ctx.metrics.connections.inc();
    this.ctx.metrics.connectionsOpened.inc();
    session.log.info({ remote: conn.remoteAddress }, 'connected');
  }

  message(conn: Connection, bytes: Uint8Array, isBinary: boolean): void {
    const session = this.sessions.get(conn);
    if (!session) return;
    try {
      session.onMessage(bytes, isBinary);
    } catch (err) {
      // Never let one bad frame take the process down.
      session.log.error({ err }, 'unexpected failure handling a frame');
      session.fail(err);
    }
  }

  drain(conn: Connection): void {
    this.sessions.get(conn)?.onDrain();
  }

  close(conn: Connection, code: number): void {
    const session = this.sessions.get(conn);
    if (!session) return;
    this.sessions.delete(conn);
    this.ctx.metrics.connections.dec();
    session.onClose(code);
  }

  // ---------------------------------------------------------------- SessionHost

  admit(session: Session): boolean {
    let set = this.byDevice.get(session.device);
    if (!set) this.byDevice.set(session.device, (set = new Set()));
    if (set.size >= this.ctx.config.limits.maxConnectionsPerDevice) return false;
    set.add(session);
    return true;
  }

  forget(session: Session): void {
    const set = this.byDevice.get(session.device);
    if (!set) return;
    set.delete(session);
    if (set.size === 0) this.byDevice.delete(session.device);
  }

  // ---------------------------------------------------------------- rosters

  /** A new epoch: removed devices lose their subscription at once; the others get the roster. */
  private onRosterChange(order: string, roster: VerifiedRoster): void {
    const feed = this.ctx.feeds.get(order);
    if (!feed) return;
    const push = encodeFrame({ t: 'roster', order, roster: wire(roster.bytes) });
    for (const sub of [...feed.subscriptions]) {
      const session = sub.sink as Session;
      if (!roster.memberByDevice(session.device)) {
        session.send({ t: 'unsubscribed', order, code: 'MEMBER_REMOVED' });
        session.ended(order, 'MEMBER_REMOVED');
      } else {
        session.sendEncoded('roster', push, 0);
      }
    }
  }

  // ---------------------------------------------------------------- lifecycle

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** Outbound bytes buffered in user space: the memory a slow reader could pin. */
  bufferStats(): { totalBytes: number; maxBytes: number; pausedSubscriptions: number } {
    let totalBytes = 0;
    let maxBytes = 0;
    let pausedSubscriptions = 0;
    for (const [conn, session] of this.sessions) {
      const n = conn.bufferedAmount;
      totalBytes += n;
      if (n > maxBytes) maxBytes = n;
      for (const sub of session.subscriptions.values()) if (sub.state === 'paused') pausedSubscriptions++;
    }
    return { totalBytes, maxBytes, pausedSubscriptions };
  }

  /** Refuse new sockets from now on. */
  stopAccepting(): void {
    this.shutting = true;
  }

  /** Close every socket with SERVER_RESTARTING so clients resume elsewhere. */
  closeAll(): void {
    for (const session of [...this.sessions.values()]) session.closeWith('SERVER_RESTARTING', 'the relay is shutting down');
    for (const u of this.unsubscribers) u();
  }
}
