/**
 * The outbox: every publish is written to storage BEFORE it is sent, and stays
 * there until the relay acknowledges it (`puback`, which the relay sends only
 * once the message is durable in its store). Unacknowledged entries are resent
 * with the same clientMsgId after every reconnect, on a retry timer, and after a
 * process restart; the relay de-duplicates on (device, clientMsgId), so the
 * receivers see each message once.
 *
 * Order: entries of one order are sent in the order they were added, at most
 * `window` unacknowledged at a time. The default window is 1 because the sender's
 * envelopes form a hash chain: if message k were rate-limited while k+1 was
 * accepted, the relay would sequence them out of chain order and every receiver
 * would (rightly) report a reorder. Different orders never wait for each other.
 *
 * Pure state over the ClientStorage interface: no sockets, no timers. The caller
 * asks `due(now)` what to send and calls `ack`/`fail` with the relay's answers.
 */
import { z } from 'zod';
import { base64ToBytes, bytesToBase64, getJson, setJson, type ClientStorage } from './storage/types.ts';

interface EntryBase {
  /** The idempotency key: `clientMsgId` of a `pub`; for key packages a local id only. */
  readonly clientMsgId: string;
  readonly order: string;
  /** Position among this device's entries; ascending = send order. */
  readonly position: number;
  readonly createdAt: number;
  /** Free-form, JSON-able note kept with the entry (e.g. kind and epoch, for diagnostics). */
  readonly meta?: Record<string, string | number>;
}

/** A sealed envelope to publish. */
export interface OutboxPublish extends EntryBase {
  readonly type: 'pub';
  readonly envelope: Uint8Array;
}

/**
 * Sender-key packages to store (`kp_put`). They share the order's queue so they
 * always reach the relay before the first envelope sealed with that key, even
 * when both were written while offline; the relay de-duplicates a repeated put.
 */
export interface OutboxKeyPackages extends EntryBase {
  readonly type: 'kp';
  readonly packages: readonly Uint8Array[];
}

export type OutboxEntry = OutboxPublish | OutboxKeyPackages;

export interface OutboxOptions {
  /** Unacknowledged publishes in flight per order (see the file comment before raising it). */
  readonly window?: number;
  /** Resend an unacknowledged publish after this long on the same connection. */
  readonly retryMs?: number;
  /** Source of clientMsgIds; must be unique per device across restarts. */
  readonly randomId?: () => string;
}

const Stored = z.object({
  type: z.enum(['pub', 'kp']).default('pub'),
  clientMsgId: z.string(),
  order: z.string(),
  position: z.number().int().nonnegative(),
  envelope: z.string().optional(),
  packages: z.array(z.string()).optional(),
  createdAt: z.number(),
  meta: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
});

function toRecord(e: OutboxEntry): unknown {
  const { type, clientMsgId, order, position, createdAt, meta } = e;
  const base = { type, clientMsgId, order, position, createdAt, ...(meta ? { meta } : {}) };
  return e.type === 'pub' ? { ...base, envelope: bytesToBase64(e.envelope) } : { ...base, packages: e.packages.map(bytesToBase64) };
}

function fromRecord(r: z.infer<typeof Stored>): OutboxEntry | undefined {
  const base = { clientMsgId: r.clientMsgId, order: r.order, position: r.position, createdAt: r.createdAt, ...(r.meta ? { meta: r.meta } : {}) };
  if (r.type === 'pub' && r.envelope !== undefined) return { ...base, type: 'pub', envelope: base64ToBytes(r.envelope) };
  if (r.type === 'kp' && r.packages !== undefined) return { ...base, type: 'kp', packages: r.packages.map(base64ToBytes) };
  return undefined;
}

const PREFIX = 'outbox/';
// Zero-padded so the storage's lexicographic order is the numeric order.
const keyOf = (e: { order: string; position: number }) => `${PREFIX}${e.order}/${String(e.position).padStart(16, '0')}`;

export function randomClientMsgId(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export class Outbox {
  private readonly byId = new Map<string, OutboxEntry>();
  /** Entries per order, ascending by position. */
  private readonly byOrder = new Map<string, OutboxEntry[]>();
  /** When each entry was last handed out by due(); absent = never on this connection. */
  private readonly sentAt = new Map<string, number>();
  private readonly deferredUntil = new Map<string, number>();
  private nextPosition = 0;
  private readonly window: number;
  private readonly retryMs: number;
  private readonly randomId: () => string;

  private constructor(
    private readonly storage: ClientStorage,
    opts: OutboxOptions,
  ) {
    this.window = Math.max(1, opts.window ?? 1);
    this.retryMs = opts.retryMs ?? 10_000;
    this.randomId = opts.randomId ?? randomClientMsgId;
  }

  /** Load whatever a previous process left unacknowledged. */
  static async open(storage: ClientStorage, opts: OutboxOptions = {}): Promise<Outbox> {
    const box = new Outbox(storage, opts);
    for (const key of await storage.list(PREFIX)) {
      const parsed = Stored.safeParse(await getJson(storage, key));
      // A record we cannot read cannot be sent either; leave it for inspection rather than crash.
      const entry = parsed.success ? fromRecord(parsed.data) : undefined;
      if (!entry) continue;
      box.insert(entry);
      box.nextPosition = Math.max(box.nextPosition, entry.position + 1);
    }
    return box;
  }

  /** Store a sealed envelope for `order`. Resolves once it is durable; only then may it be sent. */
  async add(order: string, envelope: Uint8Array, now: number, meta?: Record<string, string | number>): Promise<OutboxPublish> {
    const entry: OutboxPublish = { type: 'pub', clientMsgId: this.randomId(), order, position: this.nextPosition++, envelope: envelope.slice(), createdAt: now, ...(meta ? { meta } : {}) };
    await this.persist(entry);
    return entry;
  }

  /** Store key packages to put before anything added after them in this order. */
  async addKeyPackages(order: string, packages: readonly Uint8Array[], now: number, meta?: Record<string, string | number>): Promise<OutboxKeyPackages> {
    const entry: OutboxKeyPackages = { type: 'kp', clientMsgId: this.randomId(), order, position: this.nextPosition++, packages: packages.map((p) => p.slice()), createdAt: now, ...(meta ? { meta } : {}) };
    await this.persist(entry);
    return entry;
  }

  private async persist(entry: OutboxEntry): Promise<void> {
    await setJson(this.storage, keyOf(entry), toRecord(entry));
    this.insert(entry);
  }

  /**
   * The entries to send now, in send order: per order, the first `window` entries
   * that were not sent on this connection yet or whose retry time has come. Each
   * returned entry is marked as sent at `now`.
   */
  due(now: number): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const [order, list] of this.byOrder) {
      if ((this.deferredUntil.get(order) ?? 0) > now) continue;
      for (const e of list.slice(0, this.window)) {
        const at = this.sentAt.get(e.clientMsgId);
        if (at === undefined || now - at >= this.retryMs) {
          this.sentAt.set(e.clientMsgId, now);
          out.push(e);
        }
      }
    }
    return out;
  }

  /** When due() will next have something (undefined: nothing pending). */
  nextDueAt(now: number): number | undefined {
    let next: number | undefined;
    for (const [order, list] of this.byOrder) {
      const deferred = this.deferredUntil.get(order) ?? 0;
      for (const e of list.slice(0, this.window)) {
        const at = this.sentAt.get(e.clientMsgId);
        const t = Math.max(deferred, at === undefined ? now : at + this.retryMs);
        next = next === undefined ? t : Math.min(next, t);
      }
    }
    return next;
  }

  /** A new connection: nothing in flight has reached the relay as far as we know, so all of it is due again. */
  requeueAll(): void {
    this.sentAt.clear();
  }

  /** The relay asked us to wait (RATE_LIMITED, STORE_UNAVAILABLE): hold this order's sends until `untilMs`. */
  defer(order: string, untilMs: number, clientMsgId?: string): void {
    this.deferredUntil.set(order, untilMs);
    if (clientMsgId) this.sentAt.delete(clientMsgId);
  }

  /** The relay acknowledged: remove the entry. Returns it, or undefined for an ack we already processed. */
  async ack(clientMsgId: string): Promise<OutboxEntry | undefined> {
    return this.remove(clientMsgId);
  }

  /** The relay refused the entry for good (e.g. ROLE_FORBIDDEN): remove it so it does not block its order. */
  async fail(clientMsgId: string): Promise<OutboxEntry | undefined> {
    return this.remove(clientMsgId);
  }

  /** Replace an entry's envelope in place (re-sealed for a newer epoch), keeping its id and position. */
  async replace(clientMsgId: string, envelope: Uint8Array): Promise<void> {
    const old = this.byId.get(clientMsgId);
    if (!old || old.type !== 'pub') return;
    const entry: OutboxPublish = { ...old, envelope: envelope.slice() };
    await setJson(this.storage, keyOf(entry), toRecord(entry));
    this.byId.set(clientMsgId, entry);
    const list = this.byOrder.get(entry.order)!;
    list[list.findIndex((e) => e.clientMsgId === clientMsgId)] = entry;
    this.sentAt.delete(clientMsgId);
  }

  get(clientMsgId: string): OutboxEntry | undefined {
    return this.byId.get(clientMsgId);
  }

  /** Unacknowledged entries, in send order (of one order, or all). */
  pending(order?: string): OutboxEntry[] {
    if (order !== undefined) return [...(this.byOrder.get(order) ?? [])];
    return [...this.byId.values()].sort((a, b) => a.position - b.position);
  }

  get size(): number {
    return this.byId.size;
  }

  private insert(e: OutboxEntry): void {
    this.byId.set(e.clientMsgId, e);
    let list = this.byOrder.get(e.order);
    if (!list) this.byOrder.set(e.order, (list = []));
    // add() appends ascending positions; only open() may insert out of order.
    if (list.length > 0 && list[list.length - 1]!.position > e.position) {
      list.push(e);
      list.sort((a, b) => a.position - b.position);
    } else list.push(e);
  }

  private async remove(clientMsgId: string): Promise<OutboxEntry | undefined> {
    const e = this.byId.get(clientMsgId);
    if (!e) return undefined;
    // Forget it in memory first so a concurrent due() cannot resend an acked entry.
    this.byId.delete(clientMsgId);
    this.sentAt.delete(clientMsgId);
    const list = this.byOrder.get(e.order) ?? [];
    const i = list.indexOf(e);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) {
      this.byOrder.delete(e.order);
      this.deferredUntil.delete(e.order);
    }
    await this.storage.delete(keyOf(e));
    return e;
  }
}
