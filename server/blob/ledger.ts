/**
 * The quota bookkeeping of the in-process blob stores (memory, disk): each live blob's
 * order, uploader, size and expiry, and the bytes held per order and per device. Pure:
 * no I/O, time is an argument. RedisBlobStore keeps the same books in Redis (quota.lua).
 *
 * @example
 *   const ledger = new BlobLedger({ maxPerOrderBytes: 64 << 20, maxPerDeviceBytes: 64 << 20 });
 *   if (!ledger.fits(id, entry)) ledger.expire(now);
 *   if (!ledger.fits(id, entry)) throw new BlobQuotaError(ledger.maxPerOrderBytes, ledger.maxPerDeviceBytes);
 *   ledger.set(id, entry);
 */
import type { BlobQuota } from './verify.ts';

export interface LedgerEntry {
  readonly order: string;
  /** The uploading device ('' when the caller did not say). */
  readonly device: string;
  readonly size: number;
  /** ms since the epoch, on the store's clock. */
  readonly expires: number;
}

export class BlobLedger {
  readonly maxPerOrderBytes: number;
  readonly maxPerDeviceBytes: number;
  private readonly entries = new Map<string, LedgerEntry>();
  private readonly byOrder = new Map<string, number>();
  private readonly byDevice = new Map<string, number>();
  private total = 0;

  /** No quota given: that limit is off (Infinity). */
  constructor(quota: BlobQuota = {}) {
    this.maxPerOrderBytes = quota.maxPerOrderBytes ?? Infinity;
    this.maxPerDeviceBytes = quota.maxPerDeviceBytes ?? Infinity;
  }

  /** Bytes of every entry, expired ones not yet dropped included. */
  get bytes(): number {
    return this.total;
  }

  entry(id: string): LedgerEntry | undefined {
    return this.entries.get(id);
  }

  /**
   * Whether storing `e` as `id` keeps its order and its device within their quotas.
   * An entry already held for `id` is not counted (a re-upload replaces it).
   */
  fits(id: string, e: LedgerEntry): boolean {
    const prev = this.entries.get(id);
    const order = (this.byOrder.get(e.order) ?? 0) - (prev?.order === e.order ? prev.size : 0) + e.size;
    const device = (this.byDevice.get(e.device) ?? 0) - (prev?.device === e.device ? prev.size : 0) + e.size;
    return order <= this.maxPerOrderBytes && device <= this.maxPerDeviceBytes;
  }

  /** Hold `e` as `id`, replacing (and returning) any earlier entry of that id. */
  set(id: string, e: LedgerEntry): LedgerEntry | undefined {
    const prev = this.delete(id);
    this.entries.set(id, e);
    this.total += e.size;
    add(this.byOrder, e.order, e.size);
    add(this.byDevice, e.device, e.size);
    return prev;
  }

  /** Forget `id`; returns its entry if there was one. */
  delete(id: string): LedgerEntry | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    this.entries.delete(id);
    this.total -= e.size;
    add(this.byOrder, e.order, -e.size);
    add(this.byDevice, e.device, -e.size);
    return e;
  }

  /** Forget every entry expired at `now`; returns their ids. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const [id, e] of this.entries) {
      if (e.expires <= now) {
        this.delete(id);
        gone.push(id);
      }
    }
    return gone;
  }

  clear(): void {
    this.entries.clear();
    this.byOrder.clear();
    this.byDevice.clear();
    this.total = 0;
  }
}

function add(m: Map<string, number>, k: string, n: number): void {
  const v = (m.get(k) ?? 0) + n;
  if (v > 0) m.set(k, v);
  else m.delete(k);
}
