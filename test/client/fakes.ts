/**
 * Test doubles for the client's injected dependencies: a manual clock and a
 * transport whose sockets the test drives frame by frame.
 */
import { decodeClientFrame, encodeFrame, type ClientFrame, type ServerFrame } from '../../protocol/index.ts';
import type { Clock } from '../../client/clock.ts';
import type { Transport, TransportSink, TransportSocket } from '../../client/transport/types.ts';

export class ManualClock implements Clock {
  private t = 1_700_000_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private nextId = 1;

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Move time forward, firing due timers in time order (timers set by timers included). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
  get pendingTimers(): number {
    return this.timers.size;
  }
}

/** msgpackr decodes `bin` as Buffer in Node; make byte fields plain Uint8Array so toEqual compares content. */
export function plainBytes<T extends object>(frame: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(frame)) {
    if (v instanceof Uint8Array) out[k] = new Uint8Array(v);
    else if (Array.isArray(v)) out[k] = v.map((x) => (x instanceof Uint8Array ? new Uint8Array(x) : x && typeof x === 'object' ? plainBytes(x) : x));
    else out[k] = v;
  }
  return out as T;
}

export class FakeSocket implements TransportSocket {
  readonly sent: ClientFrame[] = [];
  closedWith: { code?: number; reason?: string } | undefined;
  constructor(
    readonly url: string,
    readonly sink: TransportSink,
  ) {}
  send(data: Uint8Array): void {
    this.sent.push(plainBytes(decodeClientFrame(data)));
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
  }
  /** The relay sends a frame to the client. */
  receive(frame: ServerFrame): void {
    this.sink.message(encodeFrame(frame));
  }
  last(): ClientFrame | undefined {
    return this.sent[this.sent.length - 1];
  }
  ofType<T extends ClientFrame['t']>(t: T): Extract<ClientFrame, { t: T }>[] {
    return this.sent.filter((f): f is Extract<ClientFrame, { t: T }> => f.t === t);
  }
}

export class FakeTransport implements Transport {
  readonly name = 'fake';
  readonly sockets: FakeSocket[] = [];
  open(url: string, sink: TransportSink): TransportSocket {
    const s = new FakeSocket(url, sink);
    this.sockets.push(s);
    return s;
  }
  get current(): FakeSocket {
    const s = this.sockets[this.sockets.length - 1];
    if (!s) throw new Error('no socket opened yet');
    return s;
  }
}

export const welcomeFrame = (over: Partial<Extract<ServerFrame, { t: 'welcome' }>> = {}): ServerFrame => ({
  t: 'welcome',
  deviceId: 'dev-1',
  connectionId: 'c1',
  ticket: new Uint8Array([1, 2, 3]),
  ticketExpiresAt: 0,
  serverTime: 0,
  resumed: false,
  limits: { maxFrameBytes: 262144, maxEnvelopeBytes: 98304, heartbeatMs: 15000 },
  ...over,
});

export const flush = () => new Promise<void>((r) => setTimeout(r, 0));
