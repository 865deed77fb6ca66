/**
 * What every blob store checks before it keeps a byte, and how blob ids are made.
 *
 * The relay checks size and hash too (server/orders.ts); the stores check again
 * because they are the last line before bytes become durable and are also used
 * directly (tests, HTTP uploads), and an unverified blob would be served to every
 * member of the order.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from '../../protocol/errors.ts';
import { MAX_BLOB_BYTES } from '../../protocol/limits.ts';

/** The uploaded bytes do not hash to the declared SHA-256. */
export class BlobHashMismatchError extends ProtocolError {
  constructor(detail?: string) {
    super('BLOB_HASH_MISMATCH', detail);
    this.name = 'BlobHashMismatchError';
  }
}

/** The blob exceeds MAX_BLOB_BYTES (or the store's own smaller cap). */
export class BlobTooLargeError extends ProtocolError {
  constructor(size: number, max: number) {
    super('PAYLOAD_TOO_LARGE', `blob of ${size} bytes, at most ${max}`);
    this.name = 'BlobTooLargeError';
  }
}

/**
 * Bytes one order, and one uploading device, may hold in a blob store at once (live,
 * unexpired blobs). Without them one member, or one order's members, could fill the
 * store and make every other order's uploads fail. Every store counts a blob once
 * per id (a re-upload replaces it) and stops counting it when it expires.
 */
export interface BlobQuota {
  readonly maxPerOrderBytes?: number;
  readonly maxPerDeviceBytes?: number;
}

/** An upload would take its order or its device past the blob quota. */
export class BlobQuotaError extends ProtocolError {
  constructor(maxPerOrderBytes: number, maxPerDeviceBytes: number) {
    super('PAYLOAD_TOO_LARGE', `blob quota reached (${maxPerOrderBytes} bytes per order, ${maxPerDeviceBytes} per device); wait for older attachments to expire`);
    this.name = 'BlobQuotaError';
  }
}

/**
 * Size first (no hashing of 1 GiB on someone's behalf), then SHA-256.
 * @throws BlobTooLargeError, BlobHashMismatchError
 */
export function verifyBlob(hash: Uint8Array, data: Uint8Array, maxBytes = MAX_BLOB_BYTES): void {
  if (data.byteLength > maxBytes) throw new BlobTooLargeError(data.byteLength, maxBytes);
  if (hash.byteLength !== 32) throw new BlobHashMismatchError(`hash is ${hash.byteLength} bytes, SHA-256 is 32`);
  const actual = createHash('sha256').update(data).digest();
  if (!timingSafeEqual(actual, hash)) throw new BlobHashMismatchError();
}

/** TTLs are whole positive milliseconds; anything else is a caller bug. */
export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`blob ttlMs must be a positive integer, got ${ttlMs}`);
}

/**
 * Blob id: base64url(SHA-256("sealrelay/blob/v1" ‖ u32 len(order) ‖ order ‖ hash)).
 * Content-addressed within an order: re-uploading the same bytes to the same order
 * gives the same id (an idempotent retry), while the same bytes in another order
 * get another id, so no order can take over or expire another order's blob.
 * 43 characters of [A-Za-z0-9_-]: safe as a file name and a Redis key.
 */
export function blobIdOf(order: string, hash: Uint8Array): string {
  const o = Buffer.from(order, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(o.length);
  return createHash('sha256').update('sealrelay/blob/v1').update(len).update(o).update(hash).digest('base64url');
}

/** Ids come from peers: anything not shaped like blobIdOf's output is simply not found (and never reaches a path). */
export function isBlobId(id: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(id);
}
