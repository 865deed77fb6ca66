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
  RosterRecord,
  StoredMessage,
} from './types.ts';

/** Sensible defaults: a week of history, 100k messages per order (an order lives days, not months). */
export const DEFAULT_RETENTION: RetentionPolicy = { maxAgeMs: 7 * 24 * 3600_000, maxLength: 100_000 };

export interface MemoryStoreOptions {
  retention?: RetentionPolicy;
  dedupWindowMs?: number;
  /** Injected clock for dedup expiry and age-based retention. */
  now?: () => number;
}

interface OrderLog {
  /** messages[i] has seq = base + i; trimming advances base. */
  messages: StoredMessage[];
  base: number;
  head: number;
  rosters: RosterRecord[];
  keyPackages: Map<string, KeyPackageRecord[]>;
  cursors: Map<string, number>;
}

export class MemoryStore implements MessageStore {
  readonly kind = 'memory' as const;
  private readonly orders = new Map<string, OrderLog>();
  /** key: order \0 device \0 clientMsgId → { seq, expires } */
  private readonly dedup = new Map<string, { seq: number; expires: number }>();
  private readonly listeners = new Set<AppendListener>();
  private readonly retention: RetentionPolicy;
  private readonly dedupWindowMs: number;
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(opts: MemoryStoreOptions = {}) {
    this.retention = opts.retention ?? DEFAULT_RETENTION;
    this.dedupWindowMs = opts.dedupWindowMs ?? DEDUP_WINDOW_MS;
    this.now = opts.now ?? Date.now;
  }

  private log(order: string): OrderLog {
    let log = this.orders.get(order);
    if (!log) {
      log = { messages: [], base: 1, head: 0, rosters: [], keyPackages: new Map(), cursors: new Map() };
      this.orders.set(order, log);
    }
    return log;
  }

  async append(input: AppendInput): Promise<AppendResult> {
    await Promise.resolve();
    const now = this.now();
    this.sweepDedup(now);
    const key = `${input.order}\0${input.device}\0${input.clientMsgId}`;
    const seen = this.dedup.get(key);
    if (seen && seen.expires > now) return { seq: seen.seq, duplicate: true };
    const log = this.log(input.order);
    const seq = ++log.head;
    const message: StoredMessage = {
      seq,
      envelope: input.envelope,
      at: input.at,
      epoch: input.epoch,
      scope: input.scope,
      sender: input.device,
    };
    log.messages.push(message);
    this.dedup.set(key, { seq, expires: now + this.dedupWindowMs });
    this.trim(log, now);
    for (const l of this.listeners) l(input.order, message);
    return { seq, duplicate: false };
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

  /** Dedup entries expire lazily; sweep at most once a minute so append stays O(1) amortised. */
  private sweepDedup(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [k, v] of this.dedup) if (v.expires <= now) this.dedup.delete(k);
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
    return true;
  }

  async rosters(order: string, fromEpoch: number): Promise<RosterRecord[]> {
    return (this.orders.get(order)?.rosters ?? []).filter((r) => r.epoch >= fromEpoch);
  }

  async currentRoster(order: string): Promise<RosterRecord | undefined> {
    return this.orders.get(order)?.rosters.at(-1);
  }

  async putKeyPackages(order: string, packages: readonly KeyPackageRecord[]): Promise<number> {
    const log = this.log(order);
    let added = 0;
    for (const p of packages) {
      const list = log.keyPackages.get(p.recipient) ?? [];
      if (!list.some((q) => q.epoch === p.epoch && equalBytes(q.bytes, p.bytes))) {
        list.push(p);
        added++;
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
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One process: every append is already local, nothing to subscribe to. */
  async watch(_order: string): Promise<void> {}
  async unwatch(_order: string): Promise<void> {}

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
