/**
 * One load device's connection to the relay, kept up the way DESIGN §4 asks of a
 * client: reconnect with full-jitter backoff, resume with the last ticket, drop
 * callbacks of an older socket by generation. The party (sealrelay-clients.ts)
 * puts an outbox and an inbox on top.
 */
import type { ServerFrame } from '../../protocol/frames.ts';
import type { LoadDevice } from './fixtures.ts';
import { connectDevice, type RelayConnection } from './relay-connection.ts';

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
export abstract class Reconnecting {
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

