/**
 * The durable store shared by several relay nodes: Redis standalone or Cluster via
 * node-redis. Key layout, the append script and failure semantics:
 * server/store/README.md.
 *
 * @example
 *   const store = await RedisStore.connect({ target: { url: process.env.REDIS_URL! } });
 *   const { seq } = await store.append({ order, device, clientMsgId, envelope, epoch, scope, at: Date.now() });
 */
import { randomBytes } from 'node:crypto';
import { DEDUP_WINDOW_MS } from '../../protocol/limits.ts';
import { DEFAULT_RETENTION } from './memory.ts';
import { loadScript, RedisConnection, unavailableOnError as guard, type RedisConnectionOptions, type RedisArg } from './redis-connection.ts';
import { decodeHint, decodeRosterHint } from './redis-hint.ts';
import { Listeners } from './listeners.ts';
import { nonceKey, orderKeys, orderOfChannel } from './redis-keys.ts';
import type {
  AppendInput,
  AppendListener,
  AppendResult,
  KeyPackageRecord,
  MessageStore,
  RetentionPolicy,
  RosterListener,
  RosterRecord,
  StoredMessage,
} from './types.ts';
import { EpochStaleError, KEY_PACKAGES_KEPT_PER_GROUP, StoreUnavailableError } from './types.ts';

const SCRIPTS = {
  append: loadScript('append', 'trim', 'hints'),
  oldest: loadScript('oldest', 'trim'),
  roster: loadScript('roster', 'hints'),
  cursor: loadScript('cursor'),
  keyPackages: loadScript('keypackages'),
};

export interface RedisStoreOptions extends RedisConnectionOptions {
  retention?: RetentionPolicy;
  /** How long (device, clientMsgId) → seq is remembered; tests shrink it to milliseconds. */
  dedupWindowMs?: number;
  /** Clock for age-based retention (the dedup window runs on Redis's own clock, PX). */
  now?: () => number;
  /** This relay node's id in hints; defaults to a random one. */
  nodeId?: string;
  /**
   * How long a node's watch of an order lasts in Redis without renewal (default 60 s;
   * renewed every third of it). A node that crashed stops being sent hints after it.
   */
  watchLeaseMs?: number;
}

export const DEFAULT_WATCH_LEASE_MS = 60_000;

/** Appends per script call, and envelope bytes per call (a batch must not hold Redis for long). */
export const APPEND_BATCH_MAX = 64;
export const APPEND_BATCH_BYTES = 1024 * 1024;

interface PendingAppend {
  readonly input: AppendInput;
  resolve(r: AppendResult): void;
  reject(err: unknown): void;
}

interface PendingCursor {
  readonly order: string;
  readonly device: string;
  seq: number;
  readonly done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(it);
  }
  return [...groups.values()];
}

/** The append script (exported for tests that look for it in Redis's script cache). */
export const APPEND_SCRIPT = SCRIPTS.append;

/** One XRANGE entry as node-redis returns it with Buffer blob strings. */
type RawEntry = [Buffer, Buffer[]];

export class RedisStore implements MessageStore {
  readonly kind = 'redis' as const;
  private readonly listeners = new Listeners<AppendListener>();
  private readonly rosterListeners = new Listeners<RosterListener>();
  /** order → number of watch() calls not yet matched by unwatch(). */
  private readonly watched = new Map<string, number>();
  private readonly retention: RetentionPolicy;
  private readonly dedupWindowMs: number;
  private readonly now: () => number;
  private readonly nodeId: string;
  private closed = false;
  /** Watched orders whose head announcement after a reconnect has not succeeded yet. */
  private readonly unannounced = new Set<string>();
  private announceTimer: NodeJS.Timeout | undefined;
  private announceAttempts = 0;
  private appendQueue: PendingAppend[] = [];
  /** Orders whose hint channel is subscribed and whose watch lease is held in Redis. */
  private readonly joined = new Set<string>();
  /** Per order: the tail of its chain of watch/unwatch reconciliations (they must not overlap). */
  private readonly watchOps = new Map<string, Promise<void>>();
  private readonly watchLeaseMs: number;
  private leaseTimer: NodeJS.Timeout | undefined;
  private readonly cursorQueue = new Map<string, PendingCursor>();
  private cursorScheduled = false;
  private appendScheduled = false;
  /** On a Cluster one script call's keys must share a slot: batches are per order. */
  private readonly clustered: boolean;

  private constructor(private readonly conn: RedisConnection, opts: RedisStoreOptions) {
    this.retention = opts.retention ?? DEFAULT_RETENTION;
    this.dedupWindowMs = opts.dedupWindowMs ?? DEDUP_WINDOW_MS;
    this.now = opts.now ?? Date.now;
    this.nodeId = opts.nodeId ?? randomBytes(6).toString('hex');
    this.clustered = 'cluster' in opts.target;
    this.watchLeaseMs = opts.watchLeaseMs ?? DEFAULT_WATCH_LEASE_MS;
    this.leaseTimer = setInterval(() => this.renewLeases(), Math.max(10, Math.floor(this.watchLeaseMs / 3)));
    this.leaseTimer.unref();
    // Hints published while our subscriber was away are lost: re-announce every watched head.
    conn.onResubscribed(() => {
      for (const order of this.watched.keys()) this.unannounced.add(order);
      this.announceAttempts = 0;
      this.announce();
    });
  }

  /** Connect to Redis; rejects with StoreUnavailableError if it cannot be reached. */
  static async connect(opts: RedisStoreOptions): Promise<RedisStore> {
    const conn = await guard('connect', () => RedisConnection.open(opts));
    return new RedisStore(conn, opts);
  }

  /**
   * Appends are batched: those made in one turn of the event loop go to Redis as one
   * script call (in call order; per order on a Cluster, where one call's keys must
   * share a slot). Each still resolves with its own result, and only once Redis
   * answered, i.e. once it is durable.
   */
  append(input: AppendInput): Promise<AppendResult> {
    // A copy of the envelope: the caller's may be a view into a large shared receive
    // buffer, which a message waiting on Redis would otherwise keep alive whole.
    const own: AppendInput = { ...input, envelope: Uint8Array.prototype.slice.call(input.envelope) };
    return new Promise<AppendResult>((resolve, reject) => {
      this.appendQueue.push({ input: own, resolve, reject });
      if (!this.appendScheduled) {
        this.appendScheduled = true;
        setImmediate(() => this.flushAppends());
      }
    });
  }

  private flushAppends(): void {
    this.appendScheduled = false;
    const queue = this.appendQueue;
    this.appendQueue = [];
    // Standalone: one run of batches over everything queued. Cluster: per order (one slot per call).
    for (const group of this.clustered ? groupBy(queue, (p) => p.input.order) : [queue]) {
      for (let i = 0; i < group.length;) {
        let bytes = 0;
        let j = i;
        while (j < group.length && j - i < APPEND_BATCH_MAX && (j === i || bytes + group[j]!.input.envelope.byteLength <= APPEND_BATCH_BYTES)) bytes += group[j++]!.input.envelope.byteLength;
        void this.appendBatch(group.slice(i, j));
        i = j;
      }
    }
  }

  private async appendBatch(batch: readonly PendingAppend[]): Promise<void> {
    const { maxLength, maxAgeMs } = this.retention;
    const keys: string[] = [];
    const args: RedisArg[] = [String(this.dedupWindowMs), String(maxLength), String(maxAgeMs), String(this.now()), this.nodeId];
    for (const { input } of batch) {
      const k = orderKeys(input.order);
      keys.push(k.seq, k.stream, k.dedup(input.device, input.clientMsgId), k.watchers, k.rosters, k.live);
      args.push(toBuffer(input.envelope), String(input.at), String(input.epoch), input.scope, input.device);
    }
    let reply: number[];
    try {
      reply = await guard('append', () => this.conn.eval<number[]>(SCRIPTS.append, keys, args));
    } catch (err) {
      // Nothing of this batch is acknowledged; a retry with the same clientMsgId is deduplicated.
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach(({ input, resolve, reject }, i) => {
      const seq = reply[3 * i]!;
      const status = reply[3 * i + 1];
      if (status === 2) return reject(new EpochStaleError(input.epoch, reply[3 * i + 2] ?? 0));
      // This message failed in the script (the others of the batch stand): not acknowledged, its retry is deduplicated.
      if (status === 3) return reject(new StoreUnavailableError('append', new Error('the append script failed for this message')));
      if (status === 0) {
        // Local listeners hear of our own appends at once; the script hints only the other nodes.
        this.listeners.emit(input.order, { seq, envelope: input.envelope, at: input.at, epoch: input.epoch, scope: input.scope, sender: input.device });
      }
      resolve({ seq, duplicate: status === 1 });
    });
  }

  async read(order: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    if (limit <= 0) return [];
    const k = orderKeys(order);
    const range = (after: number) =>
      guard('read', () => this.conn.call<RawEntry[]>(k.stream, ['XRANGE', k.stream, `${after + 1}-0`, '+', 'COUNT', String(limit)], true));
    let entries = await range(afterSeq);
    const first = entries[0];
    if (first && Number(first[1][1]) < this.now() - this.retention.maxAgeMs) {
      // The oldest entries are past their age and no append has trimmed them yet: trim, then read what is left.
      entries = await range(Math.max(afterSeq, (await this.oldest(order)) - 1));
    }
    return entries.map(toMessage);
  }

  async head(order: string): Promise<number> {
    const k = orderKeys(order);
    const v = await guard('head', () => this.conn.call<Buffer | null>(k.seq, ['GET', k.seq], true));
    return v ? Number(v.toString()) : 0;
  }

  async oldest(order: string): Promise<number> {
    const k = orderKeys(order);
    const { maxLength, maxAgeMs } = this.retention;
    return guard('oldest', () =>
      this.conn.eval<number>(SCRIPTS.oldest, [k.seq, k.stream], [String(maxLength), String(maxAgeMs), String(this.now())]),
    );
  }

  async putRoster(order: string, epoch: number, bytes: Uint8Array): Promise<boolean> {
    const k = orderKeys(order);
    const ok = await guard('putRoster', () =>
      this.conn.eval<number>(SCRIPTS.roster, [k.rosters, k.rosterSeq, k.seq, k.watchers, k.live], [String(epoch), toBuffer(bytes), this.nodeId, String(this.now())]),
    );
    // Local listeners at once; the SPUBLISH reaches the other nodes watching the order.
    if (ok === 1) this.rosterListeners.emit(order, epoch);
    return ok === 1;
  }

  async currentEpoch(order: string): Promise<number> {
    const k = orderKeys(order);
    return guard('currentEpoch', () => this.conn.call<number>(k.rosters, ['HLEN', k.rosters], true));
  }

  async rosters(order: string, fromEpoch: number): Promise<RosterRecord[]> {
    const k = orderKeys(order);
    const current = await guard('rosters', () => this.conn.call<number>(k.rosters, ['HLEN', k.rosters], true));
    const epochs: string[] = [];
    for (let e = Math.max(1, fromEpoch); e <= current; e++) epochs.push(String(e));
    if (epochs.length === 0) return [];
    const [bytes, seqs] = await guard('rosters', () =>
      Promise.all([
        this.conn.call<(Buffer | null)[]>(k.rosters, ['HMGET', k.rosters, ...epochs], true),
        this.conn.call<(Buffer | null)[]>(k.rosterSeq, ['HMGET', k.rosterSeq, ...epochs], true),
      ]),
    );
    return epochs.flatMap((e, i) => {
      const b = bytes[i];
      return b ? [{ epoch: Number(e), bytes: new Uint8Array(b), acceptedAtSeq: Number(seqs[i]?.toString() ?? 0) }] : [];
    });
  }

  async currentRoster(order: string): Promise<RosterRecord | undefined> {
    const k = orderKeys(order);
    const current = await guard('currentRoster', () => this.conn.call<number>(k.rosters, ['HLEN', k.rosters], true));
    if (current === 0) return undefined;
    return (await this.rosters(order, current))[0];
  }

  /**
   * One sorted set per recipient; member = 4-byte big-endian epoch ‖ bytes, score =
   * epoch. ZADD NX answers how many were new (a re-sent package is not new), and
   * ZRANGE BYSCORE returns one epoch's packages or, unfiltered, all in epoch order.
   */
  async putKeyPackages(order: string, packages: readonly KeyPackageRecord[], keep = KEY_PACKAGES_KEPT_PER_GROUP): Promise<number> {
    if (packages.length === 0) return 0;
    const k = orderKeys(order);
    const keys: string[] = [];
    const args: RedisArg[] = [String(keep)];
    for (const p of packages) {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(p.epoch);
      keys.push(k.keyPackages(p.recipient), k.keyPackageGroup(p.recipient, p.sender, p.epoch, p.scope));
      args.push(String(p.epoch), Buffer.concat([head, p.bytes]));
    }
    return guard('putKeyPackages', () => this.conn.eval<number>(SCRIPTS.keyPackages, keys, args));
  }

  async keyPackages(order: string, recipient: string, epoch?: number): Promise<Uint8Array[]> {
    const key = orderKeys(order).keyPackages(recipient);
    const [min, max] = epoch === undefined ? ['-inf', '+inf'] : [String(epoch), String(epoch)];
    const members = await guard('keyPackages', () => this.conn.call<Buffer[]>(key, ['ZRANGE', key, min, max, 'BYSCORE'], true));
    return members.map((m) => new Uint8Array(m.subarray(4)));
  }

  /**
   * Cursor updates are coalesced like appends: those of one event-loop turn go out as
   * one script call (per order on a Cluster), and two acks of one (order, device) in
   * that turn become one update to the larger seq. Acks arrive about as often as
   * publishes (every receiver acks every 100 ms or so); one command each was a
   * third of the relay's Redis traffic.
   */
  setCursor(order: string, device: string, seq: number): Promise<void> {
    const key = `${order}\0${device}`;
    let pending = this.cursorQueue.get(key);
    if (!pending) {
      let settle!: { resolve(): void; reject(err: unknown): void };
      const done = new Promise<void>((resolve, reject) => { settle = { resolve, reject }; });
      pending = { order, device, seq, done, ...settle };
      this.cursorQueue.set(key, pending);
      if (!this.cursorScheduled) {
        this.cursorScheduled = true;
        setImmediate(() => this.flushCursors());
      }
    } else if (seq > pending.seq) pending.seq = seq;
    return pending.done;
  }

  private flushCursors(): void {
    this.cursorScheduled = false;
    const updates = [...this.cursorQueue.values()];
    this.cursorQueue.clear();
    const groups = this.clustered ? groupBy(updates, (u) => u.order) : [updates];
    for (const group of groups) {
      for (let i = 0; i < group.length; i += APPEND_BATCH_MAX) {
        const batch = group.slice(i, i + APPEND_BATCH_MAX);
        const keys: string[] = [];
        const args: string[] = [];
        for (const u of batch) {
          const k = orderKeys(u.order);
          keys.push(k.cursors, k.seq);
          args.push(u.device, String(u.seq));
        }
        guard('setCursor', () => this.conn.eval(SCRIPTS.cursor, keys, args)).then(
          () => { for (const u of batch) u.resolve(); },
          (err: unknown) => { for (const u of batch) u.reject(err); },
        );
      }
    }
  }

  async cursor(order: string, device: string): Promise<number> {
    const k = orderKeys(order);
    const v = await guard('cursor', () => this.conn.call<Buffer | null>(k.cursors, ['HGET', k.cursors, device], true));
    return v ? Number(v.toString()) : 0;
  }

  onAppend(listener: AppendListener): () => void {
    return this.listeners.add(listener);
  }

  onRoster(listener: RosterListener): () => void {
    return this.rosterListeners.add(listener);
  }

  /** SET NX PX: one atomic command, shared by every node (a replay on another node is refused too). */
  async rememberNonce(key: string, ttlMs: number): Promise<boolean> {
    const nk = nonceKey(key);
    const ok = await guard('rememberNonce', () => this.conn.call<Buffer | string | null>(nk, ['SET', nk, '1', 'NX', 'PX', String(Math.max(1, Math.ceil(ttlMs)))]));
    return ok !== null;
  }

  /**
   * Reference-counted. While an order is watched this node's hint channel of it is
   * subscribed and the node holds a lease in the order's watchers set (appends on
   * other nodes then hint it). Every watch ends with a synthetic hint of the current
   * head, which covers appends made between the caller's replay read and joining.
   *
   * The Redis side follows the count through `reconcile`, one at a time per order:
   * an unwatch whose SUNSUBSCRIBE was still on its way when a watch subscribed again
   * left the node deaf to the order (node-redis saw the channel as subscribed and
   * sent nothing; the late SUNSUBSCRIBE then dropped it).
   */
  async watch(order: string): Promise<void> {
    this.watched.set(order, (this.watched.get(order) ?? 0) + 1);
    try {
      await this.reconcile(order);
    } catch (err) {
      this.release(order);
      void this.reconcile(order).catch(() => undefined);
      throw err;
    }
    // If Redis cannot be read right now, keep trying in the background rather than
    // leave appends made between the caller's replay and the subscription unannounced.
    if (!(await this.syntheticHint(order))) {
      this.unannounced.add(order);
      this.announce();
    }
  }

  async unwatch(order: string): Promise<void> {
    if (!this.release(order)) return;
    await this.reconcile(order);
  }

  /** Bring Redis in line with whether `order` is watched now; chained per order, never two at once. */
  private reconcile(order: string): Promise<void> {
    const run = async (): Promise<void> => {
      const want = this.watched.has(order) && !this.closed;
      const k = orderKeys(order);
      const channel = k.liveFor(this.nodeId);
      if (want && !this.joined.has(order)) {
        await guard('watch', () => this.conn.sSubscribe(channel, (msg) => this.onHint(channel, msg)));
        this.joined.add(order);
        await guard('watch', () => this.conn.call(k.watchers, ['ZADD', k.watchers, String(this.now() + this.watchLeaseMs), this.nodeId]));
      } else if (!want && this.joined.has(order)) {
        this.joined.delete(order);
        await guard('unwatch', async () => {
          await this.conn.sUnsubscribe(channel);
          await this.conn.call(k.watchers, ['ZREM', k.watchers, this.nodeId]);
        });
      }
    };
    const prev = this.watchOps.get(order) ?? Promise.resolve();
    const next = prev.then(run, run);
    this.watchOps.set(order, next);
    const forget = (): void => {
      if (this.watchOps.get(order) === next) this.watchOps.delete(order);
    };
    next.then(forget, forget);
    return next;
  }

  /** Renew this node's lease on every order it watches (a third of the lease period apart). */
  private renewLeases(): void {
    if (this.closed) return;
    const expires = String(this.now() + this.watchLeaseMs);
    for (const order of this.joined) {
      const k = orderKeys(order);
      this.conn.call(k.watchers, ['ZADD', k.watchers, expires, this.nodeId]).catch(() => undefined);
    }
  }

  /** Drop one watch reference; true when it was the last. */
  private release(order: string): boolean {
    const n = this.watched.get(order) ?? 0;
    if (n <= 1) this.watched.delete(order);
    else this.watched.set(order, n - 1);
    return n === 1;
  }

  async ping(): Promise<boolean> {
    try {
      await this.conn.call(undefined, ['PING'], true);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.announceTimer);
    clearInterval(this.leaseTimer);
    this.unannounced.clear();
    this.listeners.clear();
    this.rosterListeners.clear();
    this.watched.clear();
    this.joined.clear();
    await this.conn.close();
  }

  private onHint(channel: string, raw: Buffer): void {
    const order = orderOfChannel(channel);
    const roster = decodeRosterHint(raw);
    if (roster !== undefined) {
      // Never our own (the script skips the sender), but a hint is never trusted blindly.
      if (order !== undefined && roster.node !== this.nodeId && this.watched.has(order)) this.rosterListeners.emit(order, roster.epoch);
      return;
    }
    const hint = decodeHint(raw);
    // Anything malformed is just a lost hint; the next one (or the head) back-fills.
    if (!hint || order === undefined || hint.node === this.nodeId || !this.watched.has(order)) return;
    this.listeners.emit(order, hint.message);
  }

  /**
   * Announce the head of every order in `unannounced`, retrying with backoff until each
   * succeeded or is no longer watched. The subscriber connection can be back before the
   * command connection is (each reconnects on its own timer, and with the offline queue
   * disabled a command on a connection still down rejects at once), so one attempt at
   * resubscription is not enough: a hint lost in the outage would stay lost until the
   * order's next append.
   */
  private announce(): void {
    clearTimeout(this.announceTimer);
    this.announceTimer = undefined;
    if (this.closed) return;
    const orders = [...this.unannounced];
    void Promise.all(orders.map(async (order) => {
      if (!this.watched.has(order) || (await this.rejoin(order))) this.unannounced.delete(order);
    })).then(() => {
      if (this.closed || this.unannounced.size === 0 || this.announceTimer) return;
      const delay = Math.min(2000, 50 * 2 ** Math.min(this.announceAttempts++, 6));
      this.announceTimer = setTimeout(() => this.announce(), delay);
      this.announceTimer.unref();
    });
  }

  /**
   * Renew the lease in the order's watchers set (it may have run out while Redis was
   * away), then the roster epoch and the head: in that order, so no append or
   * roster change falls between. The epoch matters as much as the head: a roster hint
   * lost in the outage would otherwise leave a removed member's subscription on this
   * node until the order's next message (listeners ignore an epoch they already have).
   */
  private async rejoin(order: string): Promise<boolean> {
    const k = orderKeys(order);
    try {
      await this.conn.call(k.watchers, ['ZADD', k.watchers, String(this.now() + this.watchLeaseMs), this.nodeId]);
      const epoch = await this.currentEpoch(order);
      if (epoch > 0 && this.watched.has(order)) this.rosterListeners.emit(order, epoch);
    } catch {
      return false;
    }
    return this.syntheticHint(order);
  }

  /**
   * Emit the order's head message so listeners back-fill anything they missed. True
   * when that is done (or there is nothing to announce), false when Redis could not be read.
   */
  private async syntheticHint(order: string): Promise<boolean> {
    if (this.closed) return true;
    try {
      const head = await this.head(order);
      if (head === 0) return true;
      const [message] = await this.read(order, head - 1, 1);
      if (message && message.seq === head && this.watched.has(order)) this.listeners.emit(order, message);
      return true;
    } catch {
      return false;
    }
  }
}

function toMessage([id, f]: RawEntry): StoredMessage {
  // Fields in XADD order: a at, p epoch, s scope, f sender, e envelope.
  return {
    seq: Number.parseInt(id.toString('latin1'), 10),
    at: Number(f[1]!.toString('latin1')),
    epoch: Number(f[3]!.toString('latin1')),
    scope: f[5]!.toString('utf8'),
    sender: f[7]!.toString('utf8'),
    envelope: new Uint8Array(f[9]!),
  };
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
