/**
 * The read position of one order, made durable and acknowledged after the
 * application got each message.
 *
 * Writes coalesce: while one is in flight, later hand-overs only raise the target,
 * so a burst costs a few storage writes (fsyncs, IndexedDB transactions) rather
 * than one per message; a crash can replay what was handed over since the last
 * finished write. Acks are cumulative and batched over `ackDelayMs`, one frame per
 * burst, sent only after the position they name is durable.
 */
import type { Clock } from './clock.ts';
import type { Inbox } from './inbox.ts';

export interface ReadCursorDeps {
  readonly inbox: Inbox;
  readonly order: string;
  readonly clock: Clock;
  readonly ackDelayMs: number;
  /** Send `ack{order, seq}`; returns false when now is not the time (not subscribed). */
  sendAck(seq: number): boolean;
  onError(e: Error): void;
}

export class ReadCursor {
  private target = 0;
  private writing: Promise<void> | undefined;
  private ackTimer: unknown;
  private stopped = false;

  constructor(private readonly d: ReadCursorDeps) {}

  /** Everything up to `seq` was handed to the application. */
  advance(seq: number): void {
    this.target = Math.max(this.target, seq);
    if (this.writing) return;
    this.writing = (async () => {
      try {
        while (this.d.inbox.committed(this.d.order) < this.target) {
          await this.d.inbox.commit(this.d.order, this.target);
          this.scheduleAck();
        }
      } catch (e) {
        this.d.onError(e as Error);
      } finally {
        this.writing = undefined;
      }
    })();
  }

  /** Resolves once every advance so far is durable. */
  flushed(): Promise<void> {
    return this.writing ?? Promise.resolve();
  }

  /** No more acks (the session ended); writes in flight still finish. */
  stop(): void {
    this.stopped = true;
    if (this.ackTimer !== undefined) this.d.clock.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private scheduleAck(): void {
    if (this.ackTimer !== undefined || this.stopped) return;
    this.ackTimer = this.d.clock.setTimeout(() => {
      this.ackTimer = undefined;
      this.d.sendAck(this.d.inbox.committed(this.d.order));
    }, this.d.ackDelayMs);
  }
}
