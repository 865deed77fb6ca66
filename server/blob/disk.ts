/**
 * Blobs in a directory: survives restarts without Redis, for single-node
 * deployments with attachments too big to keep in memory.
 *
 * Layout: `<dir>/<id[0..1]>/<id>.blob` (the bytes) and `<id>.meta` (JSON: order,
 * expires, size). Each file is written to a temp name and renamed into place, data
 * before meta, so a crash leaves either a complete blob or one without meta, which
 * `get` ignores and the sweep removes. Ids are checked against the blob-id shape
 * before any path is built from them, so a peer cannot name a file outside `dir`.
 *
 * Quotas (per order, per uploading device; BlobQuota) are kept in memory (BlobLedger),
 * rebuilt from the meta files when the store opens (the uploader is in the meta since
 * quotas came; older blobs count for device ''). The reservation is made before the
 * first byte is written, so concurrent puts cannot both squeeze under a quota, and
 * undone if the write fails. One relay process per directory: a second one would
 * keep books of its own.
 *
 * @example const blobs = await DiskBlobStore.open({ dir: '/var/lib/sealrelay/blobs' });
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_BLOB_BYTES } from '../../protocol/limits.ts';
import type { BlobStore } from '../store/types.ts';
import { BlobLedger } from './ledger.ts';
import { BlobQuotaError, blobIdOf, checkTtl, isBlobId, verifyBlob, type BlobQuota } from './verify.ts';

/** Quotas (BlobQuota): none unless given; startRelay sets blobs.quotaPerOrderBytes / quotaPerDeviceBytes. */
export interface DiskBlobStoreOptions extends BlobQuota {
  dir: string;
  maxBlobBytes?: number;
  now?: () => number;
  /** How often expired blobs are deleted (default 10 min; 0 disables the timer, call sweep()). */
  sweepIntervalMs?: number;
}

/** A data or temp file without meta this old belongs to a put that died, not one in progress. */
const ORPHAN_AGE_MS = 60_000;

interface Meta {
  order: string;
  expires: number;
  size: number;
  /** The uploader, for its quota ('' in metas written before quotas). */
  device: string;
}

export class DiskBlobStore implements BlobStore {
  private readonly now: () => number;
  private readonly maxBlobBytes: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly ledger: BlobLedger;

  private constructor(private readonly dir: string, opts: DiskBlobStoreOptions) {
    this.now = opts.now ?? Date.now;
    this.ledger = new BlobLedger(opts);
    this.maxBlobBytes = Math.min(opts.maxBlobBytes ?? MAX_BLOB_BYTES, MAX_BLOB_BYTES);
    const every = opts.sweepIntervalMs ?? 10 * 60_000;
    if (every > 0) {
      this.timer = setInterval(() => void this.sweep().catch(() => undefined), every);
      this.timer.unref();
    }
  }

  /** Open (creating) `dir` and count the live blobs already in it against their quotas. */
  static async open(opts: DiskBlobStoreOptions): Promise<DiskBlobStore> {
    await mkdir(opts.dir, { recursive: true });
    const store = new DiskBlobStore(opts.dir, opts);
    await store.loadLedger();
    return store;
  }

  async put(order: string, hash: Uint8Array, data: Uint8Array, ttlMs: number, device = ''): Promise<string> {
    checkTtl(ttlMs);
    verifyBlob(hash, data, this.maxBlobBytes);
    const id = blobIdOf(order, hash);
    const meta: Meta = { order, expires: this.now() + ttlMs, size: data.byteLength, device };
    // Synchronously, before the first await: check and reserve as one step.
    if (!this.ledger.fits(id, meta)) this.ledger.expire(this.now()); // their files go at the next sweep
    if (!this.ledger.fits(id, meta)) throw new BlobQuotaError(this.ledger.maxPerOrderBytes, this.ledger.maxPerDeviceBytes);
    const previous = this.ledger.set(id, meta);
    const [dataPath, metaPath] = this.paths(id);
    try {
      await mkdir(join(this.dir, id.slice(0, 2)), { recursive: true });
      await atomicWrite(dataPath, data);
      await atomicWrite(metaPath, JSON.stringify(meta));
    } catch (err) {
      // Give the reservation back unless another put of this id replaced it meanwhile.
      if (this.ledger.entry(id) === meta) {
        if (previous) this.ledger.set(id, previous);
        else this.ledger.delete(id);
      }
      throw err;
    }
    return id;
  }

  async get(blobId: string): Promise<{ order: string; data: Uint8Array } | undefined> {
    if (!isBlobId(blobId)) return undefined;
    const [dataPath, metaPath] = this.paths(blobId);
    const meta = await readMeta(metaPath);
    if (!meta) return undefined;
    if (meta.expires <= this.now()) {
      await this.removeExpired(blobId);
      return undefined;
    }
    const data = await readFile(dataPath).catch(() => undefined);
    // A size mismatch means the data file was replaced under us or damaged: not ours to serve.
    if (!data || data.byteLength !== meta.size) return undefined;
    return { order: meta.order, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }

  /** Delete expired blobs and orphans (data without meta, older than a minute); returns how many blobs went. */
  async sweep(): Promise<number> {
    let removed = 0;
    const now = this.now();
    for (const shard of await readdir(this.dir).catch(() => [] as string[])) {
      const files = await readdir(join(this.dir, shard)).catch(() => [] as string[]);
      const metas = new Set(files.filter((f) => f.endsWith('.meta')).map((f) => f.slice(0, -5)));
      for (const id of metas) {
        const meta = await readMeta(join(this.dir, shard, `${id}.meta`));
        if ((!meta || meta.expires <= now) && (await this.removeExpired(id))) removed++;
      }
      for (const f of files) {
        const orphan = (f.endsWith('.blob') && !metas.has(f.slice(0, -5))) || f.endsWith('.tmp');
        // Only old orphans: a put in progress has its data in place before its meta.
        if (orphan && (await ageMs(join(this.dir, shard, f))) > ORPHAN_AGE_MS) await rm(join(this.dir, shard, f), { force: true });
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Bytes of the blobs counted against quotas (expired ones not yet swept included). */
  get bytes(): number {
    return this.ledger.bytes;
  }

  private async loadLedger(): Promise<void> {
    const now = this.now();
    for (const shard of await readdir(this.dir).catch(() => [] as string[])) {
      for (const f of await readdir(join(this.dir, shard)).catch(() => [] as string[])) {
        if (!f.endsWith('.meta')) continue;
        const meta = await readMeta(join(this.dir, shard, f));
        // Expired ones are not counted: the sweep deletes them.
        if (meta && meta.expires > now) this.ledger.set(f.slice(0, -5), meta);
      }
    }
  }

  /**
   * Delete an expired blob's files and stop counting it; false (nothing deleted) when
   * this process holds a live entry for the id: a re-upload is writing fresh files,
   * whose meta is not in place yet.
   */
  private async removeExpired(id: string): Promise<boolean> {
    const live = this.ledger.entry(id);
    if (live && live.expires > this.now()) return false;
    this.ledger.delete(id);
    await this.remove(id);
    return true;
  }

  private paths(id: string): [string, string] {
    const base = join(this.dir, id.slice(0, 2), id);
    return [`${base}.blob`, `${base}.meta`];
  }

  private async remove(id: string): Promise<void> {
    const [dataPath, metaPath] = this.paths(id);
    // Meta first: without it the blob is invisible even if deleting the data fails.
    await rm(metaPath, { force: true });
    await rm(dataPath, { force: true });
  }
}

async function atomicWrite(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function ageMs(path: string): Promise<number> {
  const s = await stat(path).catch(() => undefined);
  return s ? Date.now() - s.mtimeMs : 0;
}

async function readMeta(path: string): Promise<Meta | undefined> {
  try {
    const m = JSON.parse(await readFile(path, 'utf8')) as Partial<Meta>;
    if (typeof m.order !== 'string' || typeof m.expires !== 'number' || typeof m.size !== 'number') return undefined;
    return { order: m.order, expires: m.expires, size: m.size, device: typeof m.device === 'string' ? m.device : '' };
  } catch {
    return undefined;
  }
}
