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
import { blobIdOf, checkTtl, verifyBlob } from './verify.ts';

export interface MemoryBlobStoreOptions {
  /** Budget for all blob bytes held. Default 256 MiB: ten attachments at the 25 MiB cap, thousands of typical phone photos. */
  maxTotalBytes?: number;
  maxBlobBytes?: number;
  now?: () => number;
}

interface Entry {
  readonly order: string;
  readonly data: Uint8Array;
  readonly expires: number;
}

export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Entry>();
  private totalBytes = 0;
  private readonly maxTotalBytes: number;
  private readonly maxBlobBytes: number;
  private readonly now: () => number;

  constructor(opts: MemoryBlobStoreOptions = {}) {
    this.maxTotalBytes = opts.maxTotalBytes ?? 256 * 1024 * 1024;
    this.maxBlobBytes = Math.min(opts.maxBlobBytes ?? MAX_BLOB_BYTES, MAX_BLOB_BYTES);
    this.now = opts.now ?? Date.now;
  }

  /** Bytes currently held (including expired blobs not yet swept). */
  get bytes(): number {
    return this.totalBytes;
  }

  async put(order: string, hash: Uint8Array, data: Uint8Array, ttlMs: number): Promise<string> {
    checkTtl(ttlMs);
    verifyBlob(hash, data, this.maxBlobBytes);
    const id = blobIdOf(order, hash);
    this.remove(id); // a re-upload replaces (and refreshes the TTL of) the same blob
    if (this.totalBytes + data.byteLength > this.maxTotalBytes) this.sweep();
    if (this.totalBytes + data.byteLength > this.maxTotalBytes) {
      throw new StoreUnavailableError('blob put', new Error(`memory blob store full (${this.totalBytes} of ${this.maxTotalBytes} bytes)`));
    }
    // Copy: the caller's buffer may be a view into a frame that is reused.
    this.blobs.set(id, { order, data: new Uint8Array(data), expires: this.now() + ttlMs });
    this.totalBytes += data.byteLength;
    return id;
  }

  async get(blobId: string): Promise<{ order: string; data: Uint8Array } | undefined> {
    const e = this.blobs.get(blobId);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.remove(blobId);
      return undefined;
    }
    return { order: e.order, data: e.data };
  }

  /** Drop every expired blob; returns how many. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const [id, e] of this.blobs) {
      if (e.expires <= now) {
        this.remove(id);
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {
    this.blobs.clear();
    this.totalBytes = 0;
  }

  private remove(id: string): void {
    const e = this.blobs.get(id);
    if (!e) return;
    this.blobs.delete(id);
    this.totalBytes -= e.data.byteLength;
  }
}
