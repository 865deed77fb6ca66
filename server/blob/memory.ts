/**
 * Blobs in process memory: the embedded default beside MemoryStore. Bounded in total
 * bytes so uploads cannot exhaust the heap; expired blobs are dropped lazily and
 * whenever room is needed. When live blobs fill the budget a put is refused
 * (STORE_UNAVAILABLE, retryable) rather than evicting blobs that recipients have
 * not fetched yet: a silent eviction would surface later as BLOB_NOT_FOUND.
 *
 * @example const blobs = new MemoryBlobStore({ maxTotalBytes: 256 * 1024 * 1024 });
 */
import { ProtocolError } from '../../protocol/errors.ts';
import { MAX_BLOB_BYTES } from '../../protocol/limits.ts';
import { StoreUnavailableError, type BlobStore } from '../store/types.ts';
import { blobIdOf, checkTtl, verifyBlob } from './verify.ts';

export interface MemoryBlobStoreOptions {
  /** Budget for all blob bytes held. Default 256 MiB: ten attachments at the 25 MiB cap, thousands of typical phone photos. */
  maxTotalBytes?: number;
  maxBlobBytes?: number;
  /**
   * Bytes one order, and one uploading device, may hold. Without them one member
   * (or one order's members) could fill the whole budget and make every other
   * order's uploads fail. Default: maxTotalBytes (no quota); startRelay sets
   * blobs.memoryQuotaPerOrderBytes / memoryQuotaPerDeviceBytes (64 MiB each).
   */
  maxPerOrderBytes?: number;
  maxPerDeviceBytes?: number;
  now?: () => number;
}

interface Entry {
  readonly order: string;
  readonly device: string;
  readonly data: Uint8Array;
  readonly expires: number;
}

export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Entry>();
  private totalBytes = 0;
  private readonly maxTotalBytes: number;
  private readonly maxBlobBytes: number;
  private readonly maxPerOrderBytes: number;
  private readonly maxPerDeviceBytes: number;
  private readonly byOrder = new Map<string, number>();
  private readonly byDevice = new Map<string, number>();
  private readonly now: () => number;

  constructor(opts: MemoryBlobStoreOptions = {}) {
    this.maxTotalBytes = opts.maxTotalBytes ?? 256 * 1024 * 1024;
    this.maxPerOrderBytes = opts.maxPerOrderBytes ?? this.maxTotalBytes;
    this.maxPerDeviceBytes = opts.maxPerDeviceBytes ?? this.maxTotalBytes;
    this.maxBlobBytes = Math.min(opts.maxBlobBytes ?? MAX_BLOB_BYTES, MAX_BLOB_BYTES);
    this.now = opts.now ?? Date.now;
  }

  /** Bytes currently held (including expired blobs not yet swept). */
  get bytes(): number {
    return this.totalBytes;
  }

  async put(order: string, hash: Uint8Array, data: Uint8Array, ttlMs: number, device = ''): Promise<string> {
    checkTtl(ttlMs);
    verifyBlob(hash, data, this.maxBlobBytes);
    const id = blobIdOf(order, hash);
    this.remove(id); // a re-upload replaces (and refreshes the TTL of) the same blob
    if (this.totalBytes + data.byteLength > this.maxTotalBytes) this.sweep();
    if (this.totalBytes + data.byteLength > this.maxTotalBytes) {
      throw new StoreUnavailableError('blob put', new Error(`memory blob store full (${this.totalBytes} of ${this.maxTotalBytes} bytes)`));
    }
    // After the budget check, so a full store still answers the retryable STORE_UNAVAILABLE.
    const over = () =>
      (this.byOrder.get(order) ?? 0) + data.byteLength > this.maxPerOrderBytes || (this.byDevice.get(device) ?? 0) + data.byteLength > this.maxPerDeviceBytes;
    if (over()) this.sweep();
    if (over()) {
      throw new ProtocolError('PAYLOAD_TOO_LARGE', `blob quota reached (${this.maxPerOrderBytes} bytes per order, ${this.maxPerDeviceBytes} per device); wait for older attachments to expire`);
    }
    // Copy: the caller's buffer may be a view into a frame that is reused.
    this.blobs.set(id, { order, device, data: new Uint8Array(data), expires: this.now() + ttlMs });
    this.totalBytes += data.byteLength;
    this.byOrder.set(order, (this.byOrder.get(order) ?? 0) + data.byteLength);
    this.byDevice.set(device, (this.byDevice.get(device) ?? 0) + data.byteLength);
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
    this.byOrder.clear();
    this.byDevice.clear();
    this.totalBytes = 0;
  }

  private remove(id: string): void {
    const e = this.blobs.get(id);
    if (!e) return;
    this.blobs.delete(id);
    this.totalBytes -= e.data.byteLength;
    const shrink = (m: Map<string, number>, k: string) => {
      const left = (m.get(k) ?? 0) - e.data.byteLength;
      if (left > 0) m.set(k, left);
      else m.delete(k);
    };
    shrink(this.byOrder, e.order);
    shrink(this.byDevice, e.device);
  }
}
