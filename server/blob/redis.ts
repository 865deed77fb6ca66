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
 * Quotas (per order, per uploading device; BlobQuota) are kept in Redis too, so every
 * node sees the same usage: per subject a sorted set blobId → expiry and a hash
 * blobId → size with a running total, under one hash tag (`bq:{o:<order>}:…`,
 * `bq:{d:<device>}:…`), changed only by quota.lua, which reserves atomically and drops
 * entries past their expiry first, so usage drains as the blobs expire. The order's
 * and the device's books live in different slots, so a put reserves on the order,
 * then on the device, then SETs the blob, and undoes the reservations made if a later
 * step refuses or fails: nothing is stored over quota and a refusal holds no bytes.
 * Between the steps another upload may see the first reservation and be refused
 * although the first will be undone: quotas err on the side of refusing. A re-upload
 * of the same bytes by another device keeps counting for the first device until the
 * first upload's expiry (the blob does not record its uploader).
 *
 * @example const blobs = await RedisBlobStore.connect({ target: { url: process.env.REDIS_URL! } });
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MAX_BLOB_BYTES } from '../../protocol/limits.ts';
import { RedisConnection, unavailableOnError as guard, type LuaScript, type RedisConnectionOptions } from '../store/redis-connection.ts';
import { escapeTag } from '../store/redis-keys.ts';
import type { BlobStore } from '../store/types.ts';
import { BlobQuotaError, blobIdOf, checkTtl, isBlobId, verifyBlob, type BlobQuota } from './verify.ts';

/** Quotas (BlobQuota): none unless given; startRelay sets blobs.quotaPerOrderBytes / quotaPerDeviceBytes. */
export interface RedisBlobStoreOptions extends RedisConnectionOptions, BlobQuota {
  maxBlobBytes?: number;
}

const QUOTA_SOURCE = readFileSync(new URL('./quota.lua', import.meta.url), 'utf8');
const QUOTA: LuaScript = { source: QUOTA_SOURCE, sha1: createHash('sha1').update(QUOTA_SOURCE).digest('hex') };

/** The two keys of one quota subject's books (same hash tag: one slot). */
function quotaKeys(kind: 'o' | 'd', subject: string): [string, string] {
  const tag = `bq:{${kind}:${escapeTag(subject)}}`;
  return [`${tag}:exp`, `${tag}:size`];
}

interface Reservation {
  readonly keys: [string, string];
  readonly prevExpires: number;
  readonly prevSize: number;
}

export class RedisBlobStore implements BlobStore {
  private readonly maxBlobBytes: number;
  private readonly maxPerOrderBytes: number;
  private readonly maxPerDeviceBytes: number;

  private constructor(private readonly conn: RedisConnection, opts: RedisBlobStoreOptions) {
    this.maxBlobBytes = Math.min(opts.maxBlobBytes ?? MAX_BLOB_BYTES, MAX_BLOB_BYTES);
    this.maxPerOrderBytes = opts.maxPerOrderBytes ?? Infinity;
    this.maxPerDeviceBytes = opts.maxPerDeviceBytes ?? Infinity;
  }

  static async connect(opts: RedisBlobStoreOptions): Promise<RedisBlobStore> {
    const conn = await guard('connect', () => RedisConnection.open(opts));
    return new RedisBlobStore(conn, opts);
  }

  async put(order: string, hash: Uint8Array, data: Uint8Array, ttlMs: number, device = ''): Promise<string> {
    checkTtl(ttlMs);
    verifyBlob(hash, data, this.maxBlobBytes);
    const id = blobIdOf(order, hash);
    const o = Buffer.from(order, 'utf8');
    const head = Buffer.alloc(2);
    head.writeUInt16BE(o.length);
    const value = Buffer.concat([head, o, data]);
    const held: Reservation[] = [];
    try {
      for (const [kind, subject, limit] of [['o', order, this.maxPerOrderBytes], ['d', device, this.maxPerDeviceBytes]] as const) {
        if (limit === Infinity) continue;
        const r = await this.reserve(quotaKeys(kind, subject), id, data.byteLength, ttlMs, limit);
        if (!r) throw new BlobQuotaError(this.maxPerOrderBytes, this.maxPerDeviceBytes);
        held.push(r);
      }
      await guard('blob put', () => this.conn.call(key(id), ['SET', key(id), value, 'PX', String(ttlMs)]));
    } catch (err) {
      // Best effort: a reservation that cannot be undone drains when its entry expires.
      await Promise.allSettled(held.map((r) => this.restore(r, id)));
      throw err;
    }
    return id;
  }

  /** Count `size` bytes of blob `id` for one subject; undefined if that would pass `limit`. */
  private async reserve(keys: [string, string], id: string, size: number, ttlMs: number, limit: number): Promise<Reservation | undefined> {
    const r = await guard('blob quota', () => this.conn.eval<number[]>(QUOTA, keys, ['reserve', id, String(size), String(ttlMs), String(limit)]));
    if (r[0] !== 1) return undefined;
    return { keys, prevExpires: Number(r[1]), prevSize: Number(r[2]) };
  }

  private async restore(r: Reservation, id: string): Promise<void> {
    await guard('blob quota', () => this.conn.eval(QUOTA, r.keys, ['restore', id, String(r.prevExpires), String(r.prevSize)]));
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
