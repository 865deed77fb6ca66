/**
 * Blobs in process memory: the embedded default beside MemoryStore. Bounded in total
 * bytes so uploads cannot exhaust the heap; expired blobs are dropped lazily and
 * whenever room is needed. When live blobs fill the budget a put is refused
 * (STORE_UNAVAILABLE, retryable) rather than evicting blobs that recipients have
 * not fetched yet: a silent eviction would surface later as BLOB_NOT_FOUND.
 *
 * @example const blobs = new MemoryBlobStore({ maxTotalBytes: 256 * 1024 * 1024 });
 */
import { MAX_BLOB_BYTES } from '../../protocol/limits.ts';
import { StoreUnavailableError, type BlobStore } from '../store/types.ts';
import { BlobLedger } from './ledger.ts';
import { BlobQuotaError, blobIdOf, checkTtl, verifyBlob, type BlobQuota } from './verify.ts';

/** Quotas (BlobQuota) default to maxTotalBytes, i.e. none; startRelay sets blobs.quotaPerOrderBytes / quotaPerDeviceBytes (64 MiB each). */
export interface MemoryBlobStoreOptions extends BlobQuota {
  /** Budget for all blob bytes held. Default 256 MiB: ten attachments at the 25 MiB cap, thousands of typical phone photos. */
  maxTotalBytes?: number;
  maxBlobBytes?: number;
  now?: () => number;
}

export class MemoryBlobStore implements BlobStore {
  private readonly data = new Map<string, Uint8Array>();
  private readonly ledger: BlobLedger;
  private readonly maxTotalBytes: number;
  private readonly maxBlobBytes: number;
  private readonly now: () => number;

  constructor(opts: MemoryBlobStoreOptions = {}) {
    this.maxTotalBytes = opts.maxTotalBytes ?? 256 * 1024 * 1024;
    this.ledger = new BlobLedger({ maxPerOrderBytes: opts.maxPerOrderBytes ?? this.maxTotalBytes, maxPerDeviceBytes: opts.maxPerDeviceBytes ?? this.maxTotalBytes });
    this.maxBlobBytes = Math.min(opts.maxBlobBytes ?? MAX_BLOB_BYTES, MAX_BLOB_BYTES);
    this.now = opts.now ?? Date.now;
  }

  /** Bytes currently held (including expired blobs not yet swept). */
  get bytes(): number {
    return this.ledger.bytes;
  }

  async put(order: string, hash: Uint8Array, data: Uint8Array, ttlMs: number, device = ''): Promise<string> {
    checkTtl(ttlMs);
    verifyBlob(hash, data, this.maxBlobBytes);
    const id = blobIdOf(order, hash);
    // A re-upload replaces (and refreshes the TTL of) the same blob, so its bytes are not counted twice.
    const entry = { order, device, size: data.byteLength, expires: this.now() + ttlMs };
    const roomy = () => this.ledger.bytes - (this.ledger.entry(id)?.size ?? 0) + entry.size <= this.maxTotalBytes;
    if (!roomy()) this.sweep();
    if (!roomy()) {
      throw new StoreUnavailableError('blob put', new Error(`memory blob store full (${this.ledger.bytes} of ${this.maxTotalBytes} bytes)`));
    }
    // After the budget check, so a full store still answers the retryable STORE_UNAVAILABLE.
    if (!this.ledger.fits(id, entry)) this.sweep();
    if (!this.ledger.fits(id, entry)) throw new BlobQuotaError(this.ledger.maxPerOrderBytes, this.ledger.maxPerDeviceBytes);
    this.ledger.set(id, entry);
    // Copy: the caller's buffer may be a view into a frame that is reused.
    this.data.set(id, new Uint8Array(data));
    return id;
  }

  async get(blobId: string): Promise<{ order: string; data: Uint8Array } | undefined> {
    const e = this.ledger.entry(blobId);
    const data = this.data.get(blobId);
    if (!e || !data) return undefined;
    if (e.expires <= this.now()) {
      this.ledger.delete(blobId);
      this.data.delete(blobId);
      return undefined;
    }
    return { order: e.order, data };
  }

  /** Drop every expired blob; returns how many. */
  sweep(): number {
    const gone = this.ledger.expire(this.now());
    for (const id of gone) this.data.delete(id);
    return gone.length;
  }

  async close(): Promise<void> {
    this.data.clear();
    this.ledger.clear();
  }
}
