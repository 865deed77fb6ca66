/**
 * An in-process target with fault injection (libsignal's FakeChat idea): the
 * runner's accounting is tested against known drops, duplicates and swaps without
 * any socket. Its "server pid" is this process.
 */
import type { PeerTarget, Publisher, Receiver, ReceiverSink, StartedServer } from '../../loadtest/driver/target.ts';

export interface Faults {
  /** Drop message `seq` of every order, for every receiver. */
  drop?: number;
  /** Deliver message `seq` twice. */
  duplicate?: number;
  /** Hold message `seq` back and deliver it after the next one. */
  swapAfter?: number;
  /** Delay every delivery by this many ms. */
  delayMs?: number;
}

export class FakeTarget implements PeerTarget {
  readonly name = 'fake';
  readonly bodies = 'opaque' as const;
  private readonly sinks = new Map<number, ReceiverSink[]>();
  constructor(private readonly faults: Faults = {}) {}

  async start(): Promise<StartedServer> {
    return { pid: process.pid };
  }

  async connectPublisher(order: number): Promise<Publisher> {
    let held: { seq: number; intendedMs: number } | undefined;
    const f = this.faults;
    const emit = (seq: number, intendedMs: number) => {
      const go = () => {
        for (const s of this.sinks.get(order) ?? []) s.message({ seq, intendedMs });
      };
      if (f.delayMs) setTimeout(go, f.delayMs);
      else go();
    };
    return {
      publish: (seq, intendedMs) => {
        if (seq === f.drop) return;
        if (seq === f.swapAfter) {
          held = { seq, intendedMs };
          return;
        }
        emit(seq, intendedMs);
        if (seq === f.duplicate) emit(seq, intendedMs);
        if (held) {
          emit(held.seq, held.intendedMs);
          held = undefined;
        }
      },
      close: async () => undefined,
    };
  }

  async connectReceiver(order: number, _party: number, sink: ReceiverSink): Promise<Receiver> {
    const list = this.sinks.get(order) ?? [];
    list.push(sink);
    this.sinks.set(order, list);
    return { close: async () => undefined };
  }

  async stop(): Promise<void> {
    this.sinks.clear();
  }
}
