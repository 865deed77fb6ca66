/**
 * An in-process target with fault injection (libsignal's FakeChat idea): the
 * runner's accounting is tested against known drops, duplicates and swaps without
 * any socket. Its "server pid" is this process.
 */
import { locationOnly, receiverReads, type Mix } from '../../loadtest/driver/mix.ts';
import type { Outgoing, PeerTarget, Publisher, Receiver, ReceiverSink, StartPlan, StartedServer } from '../../loadtest/driver/target.ts';

export interface Faults {
  /** Drop message `seq` (of every stream) of every order, for every receiver. */
  drop?: number;
  /** Deliver message `seq` twice. */
  duplicate?: number;
  /** Hold message `seq` back and deliver it after the next one. */
  swapAfter?: number;
  /** Delay every delivery by this many ms. */
  delayMs?: number;
  /** Also deliver every message to receivers whose role may not read it (a policy leak). */
  leak?: boolean;
  /** Hand attachment messages (classes with attachmentBytes) on this many ms late, as an upload would. */
  uploadMs?: number;
  /** An interrupted receiver is back (resumed, with what it missed) after this many ms… */
  reconnectMs?: number;
  /** …except receiver k of every order, which never comes back. */
  neverBack?: number;
  /** What the target says its receivers could not open. */
  openFailures?: Record<string, number>;
}

export class FakeTarget implements PeerTarget {
  readonly name = 'fake';
  readonly bodies = 'opaque' as const;
  /** Per order: its receivers' sinks, by receiver index. */
  private readonly sinks = new Map<number, ReceiverSink[]>();
  private mix: Mix = locationOnly();
  constructor(private readonly faults: Faults = {}) {}

  async start(plan: StartPlan): Promise<StartedServer> {
    this.mix = plan.mix;
    return { pid: process.pid };
  }

  async connectPublisher(order: number): Promise<Publisher> {
    const held = new Map<number, Outgoing>();
    const f = this.faults;
    // Fan-out as the relay does it: to the receivers whose role reads the class's scope.
    const emit = (m: Outgoing, intendedMs = m.intendedMs) => {
      const go = () => {
        (this.sinks.get(order) ?? []).forEach((s, r) => {
          if (f.leak || receiverReads(this.mix, r, m.cls)) s.message({ cls: m.cls, seq: m.seq, intendedMs });
        });
      };
      if (f.delayMs) setTimeout(go, f.delayMs);
      else go();
    };
    return {
      publish: (m) => {
        if (f.uploadMs && this.mix.classes[m.cls]?.attachmentBytes) {
          return new Promise<number>((resolve) =>
            setTimeout(() => {
              const at = performance.timeOrigin + performance.now();
              emit(m, at);
              resolve(at);
            }, f.uploadMs),
          );
        }
        if (m.seq === f.drop) return;
        if (m.seq === f.swapAfter) {
          held.set(m.cls, m);
          return;
        }
        emit(m);
        if (m.seq === f.duplicate) emit(m);
        const h = held.get(m.cls);
        if (h) {
          emit(h);
          held.delete(m.cls);
        }
      },
      close: async () => undefined,
    };
  }

  async connectReceiver(order: number, receiver: number, sink: ReceiverSink): Promise<Receiver> {
    // While "disconnected", messages wait and are handed on after the reconnect (a resumed session).
    let held: Parameters<ReceiverSink['message']>[0][] | undefined;
    const gate: ReceiverSink = {
      message: (m) => (held ? held.push(m) : sink.message(m)),
      disconnected: () => sink.disconnected(),
      reconnected: (i) => sink.reconnected(i),
    };
    const list = this.sinks.get(order) ?? [];
    list[receiver] = gate;
    this.sinks.set(order, list);
    const f = this.faults;
    return {
      interrupt: () => {
        if (held) return;
        held = [];
        sink.disconnected();
        if (f.neverBack === receiver) return;
        setTimeout(() => {
          sink.reconnected({ resumed: true });
          const missed = held ?? [];
          held = undefined;
          for (const m of missed) sink.message(m);
        }, f.reconnectMs ?? 20);
      },
      close: async () => undefined,
    };
  }

  openFailures(): Record<string, number> | undefined {
    return this.faults.openFailures;
  }

  async stop(): Promise<void> {
    this.sinks.clear();
  }
}
