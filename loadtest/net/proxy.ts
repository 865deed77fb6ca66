/**
 * A userspace TCP proxy with toxics, after toxiproxy: latency ± jitter, bandwidth,
 * stall, blackhole and reset, changeable at runtime.
 *
 * What it can and cannot model: the proxy's kernel acknowledges bytes as soon as
 * they arrive, so the sender's TCP sees the short hop to the proxy, not the
 * delayed path. Delay here is therefore application-visible latency, not a long
 * TCP round trip; packet loss on a long path must come from the network layer
 * (netns.ts) and is recovered faster there than on a real 400 ms path. README.md
 * has the details. Bytes are never dropped by the proxy: a TCP connection cannot
 * lose acknowledged bytes, so "blackhole" holds them instead.
 *
 * @example
 *   const proxy = await ToxicProxy.start({ upstream: { host: '127.0.0.1', port: 8080 } });
 *   proxy.setToxics({ down: { latencyMs: 100, jitterMs: 50 }, up: { latencyMs: 100, kbit: 330 } });
 *   // clients connect to proxy.port ...
 *   proxy.reset({ refuseMs: 12_000 }); // RST everyone, refuse reconnects for 12 s
 *   await proxy.close();
 */
import net from 'node:net';
import type { Direction } from './profiles.ts';

/** Toxics applied to one direction of every connection. */
export interface LaneToxics {
  /** Added one-way delay per chunk, ms. */
  latencyMs: number;
  /** Uniform ± spread around latencyMs. Order is kept: a late chunk holds back those behind it. */
  jitterMs: number;
  /** Rate limit in kbit/s (1000 bit); null = unlimited. */
  kbit: number | null;
}

export type ToxicsPatch = Partial<Record<Direction, Partial<LaneToxics>>>;

export interface ProxyStats {
  accepted: number;
  active: number;
  /** Connections ended by reset() or refused during a reset window. */
  resets: number;
  /** Bytes delivered server → client. */
  bytesDown: number;
  /** Bytes delivered client → server. */
  bytesUp: number;
}

export interface ProxyState {
  toxics: Record<Direction, LaneToxics>;
  stalledForMs: number;
  blackholedForMs: number;
  refusingForMs: number;
  stats: ProxyStats;
}

export interface ProxyOptions {
  upstream: { host: string; port: number };
  /** Where to listen; port 0 picks a free one. Default 127.0.0.1:0. */
  listen?: { host?: string; port?: number };
  toxics?: ToxicsPatch;
  /** Injected for reproducible jitter; default Math.random. */
  random?: () => number;
}

/**
 * Largest slice the bandwidth toxic serialises at once: one Ethernet-sized
 * segment, so a 64 KiB read does not arrive as one lump after 1.3 s at 400 kbit/s.
 */
const SLICE_BYTES = 1460;

/**
 * Bytes a lane may hold before it stops reading from its source. Bounds memory
 * and, more importantly, pushes back on the sender: without it a slow lane would
 * buffer everything and the sender would think the path is fast.
 */
const LANE_HIGH_WATER_BYTES = 256 * 1024;

const NO_TOXICS: LaneToxics = { latencyMs: 0, jitterMs: 0, kbit: null };

const now = (): number => performance.now();

interface Chunk {
  data: Buffer;
  deliverAt: number;
}

/** One direction of one connection: a FIFO of chunks with due times. */
class Lane {
  private readonly queue: Chunk[] = [];
  private queuedBytes = 0;
  private lastDeliverAt = 0;
  private linkFreeAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private srcEnded = false;
  private dstReady = false;
  private closed = false;

  constructor(
    private readonly proxy: ToxicProxy,
    private readonly dir: Direction,
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
  ) {
    src.on('data', (buf: Buffer) => this.onData(buf));
    src.on('end', () => {
      this.srcEnded = true;
      this.pump();
    });
    dst.on('drain', () => this.pump());
  }

  /** The destination socket is connected; start delivering. */
  markReady(): void {
    this.dstReady = true;
    this.pump();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onData(buf: Buffer): void {
    const t = this.proxy.toxicsFor(this.dir);
    const arrival = now();
    for (let off = 0; off < buf.length; off += t.kbit === null ? buf.length : SLICE_BYTES) {
      const data = t.kbit === null ? buf : buf.subarray(off, off + SLICE_BYTES);
      const jitter = t.jitterMs > 0 ? (this.proxy.random() * 2 - 1) * t.jitterMs : 0;
      let due = arrival + Math.max(0, t.latencyMs + jitter);
      if (t.kbit !== null) {
        // Serialisation on a link of kbit: the slice occupies the link for len*8/kbit ms.
        const start = Math.max(due, this.linkFreeAt);
        this.linkFreeAt = start + (data.length * 8) / t.kbit;
        due = this.linkFreeAt;
      }
      // FIFO: never before the chunk ahead of us, so byte order holds under jitter.
      due = Math.max(due, this.lastDeliverAt);
      this.lastDeliverAt = due;
      this.queue.push({ data, deliverAt: due });
      this.queuedBytes += data.length;
    }
    if (this.queuedBytes > LANE_HIGH_WATER_BYTES) this.src.pause();
    this.pump();
  }

  /** Deliver every chunk that is due, then sleep until the next one is. */
  pump(): void {
    if (this.closed || !this.dstReady) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const held = this.proxy.heldUntil();
    let t = now();
    while (this.queue.length > 0 && held <= t) {
      const head = this.queue[0]!;
      if (head.deliverAt > t) break;
      this.queue.shift();
      this.queuedBytes -= head.data.length;
      this.proxy.countDelivered(this.dir, head.data.length);
      if (!this.dst.write(head.data)) return; // 'drain' calls pump again
      t = now();
    }
    if (this.queuedBytes <= LANE_HIGH_WATER_BYTES / 2 && !this.proxy.isBlackholed()) this.src.resume();
    if (this.queue.length > 0) {
      const wakeAt = Math.max(this.queue[0]!.deliverAt, held);
      // A stall with no end (Infinity) waits for resume() to call pump().
      if (Number.isFinite(wakeAt)) this.timer = setTimeout(() => this.pump(), Math.max(0, wakeAt - t));
    } else if (this.srcEnded && !this.dst.writableEnded) {
      this.dst.end();
    }
  }
}

interface Connection {
  client: net.Socket;
  upstream: net.Socket;
  lanes: Lane[];
}

/** See the file comment. Create with `ToxicProxy.start()`. */
export class ToxicProxy {
  private readonly server: net.Server;
  private readonly conns = new Set<Connection>();
  private readonly toxics: Record<Direction, LaneToxics>;
  private stalledUntil = 0;
  private blackholedUntil = 0;
  private refusingUntil = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  private readonly stats: ProxyStats = { accepted: 0, active: 0, resets: 0, bytesDown: 0, bytesUp: 0 };
  /** Connections accepted during a blackhole, waiting for it to end. */
  private readonly parked: net.Socket[] = [];
  readonly random: () => number;

  private constructor(
    private readonly opts: ProxyOptions,
    server: net.Server,
  ) {
    this.server = server;
    this.random = opts.random ?? Math.random;
    this.toxics = { down: { ...NO_TOXICS }, up: { ...NO_TOXICS } };
    if (opts.toxics) this.setToxics(opts.toxics);
  }

  /** Listen and return the running proxy. */
  static async start(opts: ProxyOptions): Promise<ToxicProxy> {
    const server = net.createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true });
    const proxy = new ToxicProxy(opts, server);
    server.on('connection', (s) => proxy.onConnection(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.listen?.port ?? 0, opts.listen?.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get port(): number {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('proxy is not listening on TCP');
    return a.port;
  }

  get host(): string {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('proxy is not listening on TCP');
    return a.address;
  }

  /** Change toxics; affects bytes arriving from now on (queued bytes keep their due time). */
  setToxics(patch: ToxicsPatch): void {
    for (const dir of ['down', 'up'] as const) {
      const p = patch[dir];
      if (!p) continue;
      const next = { ...this.toxics[dir], ...p };
      if (next.latencyMs < 0 || next.jitterMs < 0 || (next.kbit !== null && !(next.kbit > 0))) {
        throw new Error(`invalid toxics for ${dir}: ${JSON.stringify(next)}`);
      }
      this.toxics[dir] = next;
    }
  }

  toxicsFor(dir: Direction): Readonly<LaneToxics> {
    return this.toxics[dir];
  }

  /** Stop forwarding for ms (Infinity: until resume()). Bytes are held, not lost. */
  stall(ms: number): void {
    this.stalledUntil = Math.max(this.stalledUntil, now() + ms);
    this.scheduleWake();
  }

  /**
   * Like a path that swallows everything for ms: nothing is forwarded, nothing is
   * read (so senders see their window close), and new connections are parked
   * unanswered. Because TCP cannot lose acknowledged bytes, they are held, not
   * dropped; a network-level blackhole (netns.ts) is the honest one.
   */
  blackhole(ms: number): void {
    const until = now() + ms;
    this.blackholedUntil = Math.max(this.blackholedUntil, until);
    this.stalledUntil = Math.max(this.stalledUntil, until);
    for (const c of this.conns) {
      c.client.pause();
      c.upstream.pause();
    }
    this.scheduleWake();
  }

  /** End any stall or blackhole now. */
  resume(): void {
    this.stalledUntil = 0;
    this.blackholedUntil = 0;
    this.wake();
  }

  /**
   * Reset connections with TCP RST. Each open connection is reset with the given
   * probability (default 1: all of them). With refuseMs, connections arriving in
   * the next refuseMs are reset on accept too, like a gateway that lost its state.
   */
  reset(opts: { probability?: number; refuseMs?: number } = {}): number {
    const probability = opts.probability ?? 1;
    let n = 0;
    for (const c of [...this.conns]) {
      if (this.random() < probability) {
        this.destroyConnection(c, true);
        n++;
      }
    }
    if (opts.refuseMs) this.refusingUntil = Math.max(this.refusingUntil, now() + opts.refuseMs);
    return n;
  }

  state(): ProxyState {
    const t = now();
    const left = (until: number): number => (until === Infinity ? -1 : Math.max(0, Math.round(until - t)));
    return {
      toxics: { down: { ...this.toxics.down }, up: { ...this.toxics.up } },
      stalledForMs: left(this.stalledUntil),
      blackholedForMs: left(this.blackholedUntil),
      refusingForMs: left(this.refusingUntil),
      stats: { ...this.stats, active: this.conns.size },
    };
  }

  /** Stop listening and reset every connection. */
  async close(): Promise<void> {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    for (const c of [...this.conns]) this.destroyConnection(c, false);
    for (const s of this.parked.splice(0)) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** @internal used by lanes */
  heldUntil(): number {
    return this.stalledUntil > now() ? this.stalledUntil : 0;
  }

  /** @internal used by lanes */
  isBlackholed(): boolean {
    return this.blackholedUntil > now();
  }

  /** @internal used by lanes */
  countDelivered(dir: Direction, bytes: number): void {
    if (dir === 'down') this.stats.bytesDown += bytes;
    else this.stats.bytesUp += bytes;
  }

  private onConnection(client: net.Socket): void {
    this.stats.accepted++;
    client.on('error', () => undefined);
    if (this.refusingUntil > now()) {
      this.stats.resets++;
      client.resetAndDestroy();
      return;
    }
    if (this.isBlackholed()) {
      this.parked.push(client);
      return;
    }
    this.open(client);
  }

  private open(client: net.Socket): void {
    // allowHalfOpen: a FIN from one side must not end the other direction, whose
    // bytes may still be sitting in a delayed lane.
    const upstream = net.connect({ host: this.opts.upstream.host, port: this.opts.upstream.port, noDelay: true, allowHalfOpen: true });
    const conn: Connection = { client, upstream, lanes: [] };
    const up = new Lane(this, 'up', client, upstream);
    const down = new Lane(this, 'down', upstream, client);
    conn.lanes.push(up, down);
    this.conns.add(conn);
    upstream.on('connect', () => up.markReady());
    down.markReady();
    // Any error on either side ends both; a clean close of both sides (FIN each
    // way, after the lanes drained) just forgets the connection.
    const fail = (): void => this.destroyConnection(conn, false);
    upstream.on('error', fail);
    client.on('error', fail);
    const closed = (): void => {
      if (client.destroyed && upstream.destroyed) this.destroyConnection(conn, false);
    };
    upstream.on('close', closed);
    client.on('close', closed);
    client.resume();
  }

  private destroyConnection(c: Connection, rst: boolean): void {
    if (!this.conns.delete(c)) return;
    for (const l of c.lanes) l.close();
    if (rst) {
      this.stats.resets++;
      c.client.resetAndDestroy();
      c.upstream.resetAndDestroy();
    } else {
      c.client.destroy();
      c.upstream.destroy();
    }
  }

  private scheduleWake(): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    const until = Math.max(this.stalledUntil, this.blackholedUntil);
    if (!Number.isFinite(until)) return;
    this.wakeTimer = setTimeout(() => this.wake(), Math.max(0, until - now()) + 1);
  }

  private wake(): void {
    this.wakeTimer = undefined;
    if (!this.isBlackholed()) {
      for (const s of this.parked.splice(0)) this.open(s);
      for (const c of this.conns) {
        c.client.resume();
        c.upstream.resume();
      }
    }
    for (const c of this.conns) for (const l of c.lanes) l.pump();
  }
}
