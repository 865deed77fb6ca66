/**
 * The embedded default store: one process, no set-up. "Durable" here means "in
 * this process's memory": a restart loses everything, which is why production
 * and multi-node deployments use the Redis store. Appends resolve on the next
 * microtask so callers cannot rely on synchronous completion (the Redis store
 * never completes synchronously either).
 */
import { DEDUP_WINDOW_MS } from '../../protocol/limits.ts';
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
import { EpochStaleError, KEY_PACKAGES_KEPT_PER_GROUP } from './types.ts';
import { Listeners } from './listeners.ts';

/** Sensible defaults: a week of history, 100k messages per order (an order lives days, not months). */
export const DEFAULT_RETENTION: RetentionPolicy = { maxAgeMs: 7 * 24 * 3600_000, maxLength: 100_000 };

export interface MemoryStoreOptions {
  retention?: RetentionPolicy;
  dedupWindowMs?: number;
  /** Injected clock for dedup expiry and age-based retention. */
  now?: () => number;
  /** Nonces remembered at most (rememberNonce refuses beyond it until some expire). */
  maxNonces?: number;
}

/**
 * Signed-HTTP nonces held at most: 10 s of 20k requests/s. Past it rememberNonce
 * answers false (the request is refused as if replayed) instead of evicting, so a
 * flood cannot push a real nonce out of memory and make its request replayable.
 */
export const MAX_MEMORY_NONCES = 200_000;

const EMPTY = new Uint8Array(0);
/** Arena chunks grow from 4 KiB to 256 KiB as an order's history grows; larger envelopes get their own copy. */
const MIN_CHUNK = 4 * 1024;
const MAX_CHUNK = 256 * 1024;

/**
 * Copy an envelope into the order's arena. The bytes a caller appends may be a view
 * into a buffer shared with other traffic (the transport copies incoming frames into
 * large slabs); keeping that view would pin the whole slab for as long as the message
 * is retained. The arena holds only this order's envelopes, back to back, so a
 * retained message pins little beyond its neighbours in history, and the store
 * holds one ArrayBuffer per chunk rather than one per message.
 */
function keep(log: OrderLog, envelope: Uint8Array): Uint8Array {
  const n = envelope.byteLength;
  if (n > MAX_CHUNK / 4) return Uint8Array.prototype.slice.call(envelope);
  if (log.chunkUsed + n > log.chunk.length) {
    log.chunk = new Uint8Array(Math.max(n, Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, 2 * log.chunk.length))));
    log.chunkUsed = 0;
  }
  const out = log.chunk.subarray(log.chunkUsed, log.chunkUsed + n);
  out.set(envelope);
  log.chunkUsed += n;
  return out;
}

interface OrderLog {
  /** messages[i] has seq = base + i; trimming advances base. */
  messages: StoredMessage[];
  base: number;
  head: number;
  rosters: RosterRecord[];
  keyPackages: Map<string, KeyPackageRecord[]>;
  cursors: Map<string, number>;
  /** device → clientMsgId → seq, for the dedup window; no composite key strings per append. */
  dedup: Map<string, Map<string, number>>;
  /** The order's envelope arena: envelopes are copied into its chunks (see keep()). */
  chunk: Uint8Array;
  chunkUsed: number;
  /** When each dedup entry expires, in append order (so in expiry order): parallel arrays from `head`. */
  dedupQueue: { expires: number[]; device: string[]; clientMsgId: string[]; head: number };
}

export class MemoryStore implements MessageStore {
  readonly kind = 'memory' as const;
  private readonly orders = new Map<string, OrderLog>();
  private readonly listeners = new Listeners<AppendListener>();
  private readonly rosterListeners = new Listeners<RosterListener>();
  /** nonce key → expiry (ms); insertion-ordered, and every entry has the same-ish TTL, so the oldest expire first. */
  private readonly nonces = new Map<string, number>();
  private readonly maxNonces: number;
  private readonly retention: RetentionPolicy;
  private readonly dedupWindowMs: number;
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(opts: MemoryStoreOptions = {}) {
    this.retention = opts.retention ?? DEFAULT_RETENTION;
    this.dedupWindowMs = opts.dedupWindowMs ?? DEDUP_WINDOW_MS;
    this.now = opts.now ?? Date.now;
    this.maxNonces = opts.maxNonces ?? MAX_MEMORY_NONCES;
  }

  private log(order: string): OrderLog {
    let log = this.orders.get(order);
    if (!log) {
      log = { messages: [], base: 1, head: 0, rosters: [], keyPackages: new Map(), cursors: new Map(), chunk: EMPTY, chunkUsed: 0, dedup: new Map(), dedupQueue: { expires: [], device: [], clientMsgId: [], head: 0 } };
      this.orders.set(order, log);
    }
    return log;
  }

  async append(input: AppendInput): Promise<AppendResult> {
    await Promise.resolve();
    const now = this.now();
    this.sweepDedup(now);
    const log = this.log(input.order);
    this.expireDedup(log, now);
    let byDevice = log.dedup.get(input.device);
    const prior = byDevice?.get(input.clientMsgId);
    if (prior !== undefined) return { seq: prior, duplicate: true };
    const current = log.rosters.at(-1)?.epoch ?? 0;
    if (current > 0 && current !== input.epoch) throw new EpochStaleError(input.epoch, current);
    const seq = ++log.head;
    const message: StoredMessage = {
      seq,
      envelope: keep(log, input.envelope),
      at: input.at,
      epoch: input.epoch,
      scope: input.scope,
      sender: input.device,
    };
    log.messages.push(message);
    if (!byDevice) log.dedup.set(input.device, (byDevice = new Map()));
    byDevice.set(input.clientMsgId, seq);
    const q = log.dedupQueue;
    q.expires.push(now + this.dedupWindowMs);
    q.device.push(input.device);
    q.clientMsgId.push(input.clientMsgId);
    this.trim(log, now);
    this.listeners.emit(input.order, message);
    return { seq, duplicate: false };
  }

  /** Forget this order's dedup entries whose window has passed (the queue is in expiry order: O(expired)). */
  private expireDedup(log: OrderLog, now: number): void {
    const q = log.dedupQueue;
    while (q.head < q.expires.length && q.expires[q.head]! <= now) {
      const byDevice = log.dedup.get(q.device[q.head]!);
      byDevice?.delete(q.clientMsgId[q.head]!);
      if (byDevice?.size === 0) log.dedup.delete(q.device[q.head]!);
      q.head++;
    }
    // Compact once the expired prefix is most of the arrays.
    if (q.head > 1024 && q.head * 2 > q.expires.length) {
      q.expires.splice(0, q.head);
      q.device.splice(0, q.head);
      q.clientMsgId.splice(0, q.head);
      q.head = 0;
    }
  }

  private trim(log: OrderLog, now: number): void {
    let drop = Math.max(0, log.messages.length - this.retention.maxLength);
    const minAt = now - this.retention.maxAgeMs;
    while (drop < log.messages.length && log.messages[drop]!.at < minAt) drop++;
    if (drop > 0) {
      log.messages.splice(0, drop);
      log.base += drop;
    }
  }

  /** Orders without appends expire their dedup entries here: every order, at most once a minute. */
  private sweepDedup(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const log of this.orders.values()) this.expireDedup(log, now);
  }

  async read(order: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    const log = this.orders.get(order);
    if (!log) return [];
    this.trim(log, this.now());
    const start = Math.max(0, afterSeq + 1 - log.base);
    return log.messages.slice(start, start + Math.max(0, limit));
  }

  async head(order: string): Promise<number> {
    return this.orders.get(order)?.head ?? 0;
  }

  async oldest(order: string): Promise<number> {
    const log = this.orders.get(order);
    if (!log) return 1;
    this.trim(log, this.now());
    return log.messages.length > 0 ? log.base : log.head + 1;
  }

  async putRoster(order: string, epoch: number, bytes: Uint8Array): Promise<boolean> {
    const log = this.log(order);
    const current = log.rosters.at(-1)?.epoch ?? 0;
    if (epoch !== current + 1) return false;
    log.rosters.push({ epoch, bytes, acceptedAtSeq: log.head });
    this.rosterListeners.emit(order, epoch);
    return true;
  }

  async currentEpoch(order: string): Promise<number> {
    return this.orders.get(order)?.rosters.at(-1)?.epoch ?? 0;
  }

  async rosters(order: string, fromEpoch: number): Promise<RosterRecord[]> {
    return (this.orders.get(order)?.rosters ?? []).filter((r) => r.epoch >= fromEpoch);
  }

  async currentRoster(order: string): Promise<RosterRecord | undefined> {
    return this.orders.get(order)?.rosters.at(-1);
  }

  async putKeyPackages(order: string, packages: readonly KeyPackageRecord[], keep = KEY_PACKAGES_KEPT_PER_GROUP): Promise<number> {
    const log = this.log(order);
    let added = 0;
    for (const p of packages) {
      const list = log.keyPackages.get(p.recipient) ?? [];
      if (!list.some((q) => q.epoch === p.epoch && equalBytes(q.bytes, p.bytes))) {
        list.push(p);
        added++;
        // The list is in insertion order: drop the oldest of this group beyond `keep`.
        const group = list.filter((q) => q.epoch === p.epoch && q.sender === p.sender && q.scope === p.scope);
        for (const old of group.slice(0, Math.max(0, group.length - keep))) list.splice(list.indexOf(old), 1);
      }
      log.keyPackages.set(p.recipient, list);
    }
    return added;
  }

  async keyPackages(order: string, recipient: string, epoch?: number): Promise<Uint8Array[]> {
    const list = this.orders.get(order)?.keyPackages.get(recipient) ?? [];
    return list.filter((p) => epoch === undefined || p.epoch === epoch).map((p) => p.bytes);
  }

  async setCursor(order: string, device: string, seq: number): Promise<void> {
    const log = this.log(order);
    if (seq > (log.cursors.get(device) ?? 0)) log.cursors.set(device, Math.min(seq, log.head));
  }

  async cursor(order: string, device: string): Promise<number> {
    return this.orders.get(order)?.cursors.get(device) ?? 0;
  }

  onAppend(listener: AppendListener): () => void {
    return this.listeners.add(listener);
  }

  onRoster(listener: RosterListener): () => void {
    return this.rosterListeners.add(listener);
  }

  async rememberNonce(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const seen = this.nonces.get(key);
    if (seen !== undefined && seen > now) return false;
    if (seen !== undefined) this.nonces.delete(key);
    // Expired entries sit at the front (TTLs are one setting, so insertion order ≈ expiry order).
    for (const [k, expires] of this.nonces) {
      if (expires > now) break;
      this.nonces.delete(k);
    }
    if (this.nonces.size >= this.maxNonces) return false;
    this.nonces.set(key, now + ttlMs);
    return true;
  }

  /** One process: every append is already local, nothing to subscribe to. */
  async watch(_order: string): Promise<void> {}
  async unwatch(_order: string): Promise<void> {}

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.rosterListeners.clear();
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
