/**
 * Blobs in Redis, for multi-node deployments: any relay node can serve any blob.
 * One key per blob, `b:<id>` (no hash tag: blobs spread over the cluster), written
 * with one `SET … PX ttl` so a blob and its expiry appear together. The value is
 * `u16 len(order) ‖ order ‖ data`, raw bytes (RESP blob strings are binary-safe;
 * replies come back as Buffers, see server/store/redis-connection.ts).
 *
 * Redis holds these bytes in memory: size `maxmemory` for the expected attachment
 * volume (blobs × TTL), or use DiskBlobStore on a single node.
 *
 * @example const blobs = await RedisBlobStore.connect({ target: { url: process.env.REDIS_URL! } });
 */
import { MAX_BLOB_BYTES } from '../../protocol/limits.ts';
import { RedisConnection, unavailableOnError as guard, type RedisConnectionOptions } from '../store/redis-connection.ts';
import type { BlobStore } from '../store/types.ts';
import { blobIdOf, checkTtl, isBlobId, verifyBlob } from './verify.ts';

export interface RedisBlobStoreOptions extends RedisConnectionOptions {
  maxBlobBytes?: number;
}

export class RedisBlobStore implements BlobStore {
  private readonly maxBlobBytes: number;

  private constructor(private readonly conn: RedisConnection, opts: RedisBlobStoreOptions) {
    this.maxBlobBytes = Math.min(opts.maxBlobBytes ?? MAX_BLOB_BYTES, MAX_BLOB_BYTES);
  }

  static async connect(opts: RedisBlobStoreOptions): Promise<RedisBlobStore> {
    const conn = await guard('connect', () => RedisConnection.open(opts));
    return new RedisBlobStore(conn, opts);
  }

  async put(order: string, hash: Uint8Array, data: Uint8Array, ttlMs: number): Promise<string> {
    checkTtl(ttlMs);
    verifyBlob(hash, data, this.maxBlobBytes);
    const id = blobIdOf(order, hash);
    const o = Buffer.from(order, 'utf8');
    const head = Buffer.alloc(2);
    head.writeUInt16BE(o.length);
    const value = Buffer.concat([head, o, data]);
    await guard('blob put', () => this.conn.call(key(id), ['SET', key(id), value, 'PX', String(ttlMs)]));
    return id;
  }

  async get(blobId: string): Promise<{ order: string; data: Uint8Array } | undefined> {
    if (!isBlobId(blobId)) return undefined;
    const v = await guard('blob get', () => this.conn.call<Buffer | null>(key(blobId), ['GET', key(blobId)], true));
    if (!v || v.length < 2) return undefined;
    const n = v.readUInt16BE(0);
    return { order: v.toString('utf8', 2, 2 + n), data: new Uint8Array(v.buffer, v.byteOffset + 2 + n, v.length - 2 - n) };
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}

function key(id: string): string {
  return `b:${id}`;
}
