/**
 * The BlobStore contract, and its quota part, run for the memory, disk and Redis blob stores. Expiry is
 * driven by an injected clock where the store has one and by a real wait where
 * Redis keeps time itself (PX), so each test advances the clock and also waits.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_BLOB_BYTES } from '../../protocol/limits.ts';
import { BlobHashMismatchError, BlobTooLargeError, blobIdOf } from '../../server/blob/verify.ts';
import type { BlobStore } from '../../server/store/types.ts';
import { awkwardBytes, manualClock, newOrder } from './store-contract.ts';

export type MakeBlobStore = (opts: { now: () => number }) => Promise<{ blobs: BlobStore; cleanup: () => Promise<void> }>;

export const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

export function describeBlobContract(name: string, make: MakeBlobStore): void {
  describe(`BlobStore contract: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => { await Promise.allSettled(cleanups.splice(0).map((c) => c())); });
    const clock = manualClock();
    async function open(): Promise<BlobStore> {
      const { blobs, cleanup } = await make({ now: clock.now });
      cleanups.push(cleanup);
      return blobs;
    }

    it('returns the uploaded bytes exactly, with the order they belong to', async () => {
      const blobs = await open();
      const order = newOrder();
      const data = awkwardBytes();
      const id = await blobs.put(order, sha256(data), data, 60_000);
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(await blobs.get(id)).toEqual({ order, data });
    });

    it('gives a re-upload to the same order the same id, and the same bytes in another order another id', async () => {
      const blobs = await open();
      const data = new Uint8Array([1, 2, 3]);
      const [a, b] = [newOrder(), newOrder()];
      const id = await blobs.put(a, sha256(data), data, 60_000);
      expect(await blobs.put(a, sha256(data), data, 60_000)).toBe(id);
      const other = await blobs.put(b, sha256(data), data, 60_000);
      expect(other).not.toBe(id);
      expect((await blobs.get(id))?.order).toBe(a);
      expect((await blobs.get(other))?.order).toBe(b);
    });

    it('refuses bytes that do not match the declared SHA-256, and keeps nothing', async () => {
      const blobs = await open();
      const order = newOrder();
      const data = new Uint8Array([1, 2, 3]);
      const wrong = sha256(new Uint8Array([1, 2, 4]));
      const err = await blobs.put(order, wrong, data, 60_000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BlobHashMismatchError);
      expect(err).toMatchObject({ code: 'BLOB_HASH_MISMATCH' });
      await expect(blobs.put(order, wrong.subarray(0, 31), data, 60_000)).rejects.toMatchObject({ code: 'BLOB_HASH_MISMATCH' });
      // The id it would have had (from the right hash) does not exist either.
      const id = await blobs.put(newOrder(), sha256(data), data, 60_000);
      expect(await blobs.get(id.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')))).toBeUndefined();
    });

    it('accepts a blob of exactly MAX_BLOB_BYTES and refuses one byte more before hashing it', async () => {
      const blobs = await open();
      const order = newOrder();
      const max = new Uint8Array(MAX_BLOB_BYTES).fill(7);
      const id = await blobs.put(order, sha256(max), max, 60_000);
      expect((await blobs.get(id))?.data.byteLength).toBe(MAX_BLOB_BYTES);
      const over = new Uint8Array(MAX_BLOB_BYTES + 1);
      // A zero hash: were the size not checked first this would be a hash mismatch.
      await expect(blobs.put(order, new Uint8Array(32), over, 60_000)).rejects.toBeInstanceOf(BlobTooLargeError);
      await expect(blobs.put(order, new Uint8Array(32), over, 60_000)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    });

    it('forgets a blob once its TTL has passed', async () => {
      const blobs = await open();
      const data = new Uint8Array([9, 9]);
      const id = await blobs.put(newOrder(), sha256(data), data, 50);
      expect(await blobs.get(id)).toBeDefined();
      clock.advance(100);
      await new Promise((r) => setTimeout(r, 100));
      expect(await blobs.get(id)).toBeUndefined();
    });

    it('answers unknown and malformed ids (path-like, empty, huge) with undefined', async () => {
      const blobs = await open();
      for (const id of ['A'.repeat(43), '../../../../etc/passwd', '', 'x'.repeat(10_000), `..%2F${'a'.repeat(38)}`]) {
        expect(await blobs.get(id)).toBeUndefined();
      }
    });
  });
}

export type MakeQuotaBlobStore = (opts: { now: () => number; maxPerOrderBytes: number; maxPerDeviceBytes: number }) => Promise<{ blobs: BlobStore; cleanup: () => Promise<void> }>;

/**
 * Per-order and per-device quotas, the same in every store: counted per blob id, over
 * live blobs only, refused with PAYLOAD_TOO_LARGE and the quota sentence, atomically.
 */
export function describeBlobQuotaContract(name: string, make: MakeQuotaBlobStore): void {
  describe(`BlobStore quotas: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => { await Promise.allSettled(cleanups.splice(0).map((c) => c())); });
    const clock = manualClock();
    async function open(maxPerOrderBytes: number, maxPerDeviceBytes: number): Promise<BlobStore> {
      const { blobs, cleanup } = await make({ now: clock.now, maxPerOrderBytes, maxPerDeviceBytes });
      cleanups.push(cleanup);
      return blobs;
    }
    let fill = 0;
    /** 40 distinct bytes. */
    const blob = () => new Uint8Array(40).fill(++fill % 256);
    // Device names are per test: a shared Redis keeps a device's books from one test to the next.
    let run = '';
    beforeEach(() => { run = newOrder('run'); });
    const put = (blobs: BlobStore, order: string, data: Uint8Array, device: string, ttlMs = 60_000) => blobs.put(order, sha256(data), data, ttlMs, `${device}-${run}`);

    it('refuses an upload that would take its order past the quota with PAYLOAD_TOO_LARGE, and keeps nothing of it', async () => {
      const blobs = await open(100, 1000);
      const order = newOrder();
      await put(blobs, order, blob(), 'dev-a');
      await put(blobs, order, blob(), 'dev-b');
      const refused = blob();
      const err = await put(blobs, order, refused, 'dev-c').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/blob quota reached \(100 bytes per order, 1000 per device\); wait for older attachments to expire/) });
      expect(await blobs.get(blobIdOf(order, sha256(refused)))).toBeUndefined();
      // Another order is not held back by this one.
      await put(blobs, newOrder(), blob(), 'dev-c');
    });

    it('refuses an upload that would take its device past the quota, in any order; other devices still upload', async () => {
      const blobs = await open(1000, 100);
      await put(blobs, newOrder(), blob(), 'dev-a');
      await put(blobs, newOrder(), blob(), 'dev-a');
      await expect(put(blobs, newOrder(), blob(), 'dev-a')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      await put(blobs, newOrder(), blob(), 'dev-b');
    });

    it('holds no bytes for a refused upload: a device refusal gives back what was counted for the order', async () => {
      const blobs = await open(100, 100);
      const order = newOrder();
      await put(blobs, order, blob(), 'dev-a');
      await put(blobs, newOrder(), blob(), 'dev-a');
      await expect(put(blobs, order, blob(), 'dev-a')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      // The order holds 40 bytes, not 80: one more 40-byte blob fits, a second does not.
      await put(blobs, order, blob(), 'dev-b');
      await expect(put(blobs, order, blob(), 'dev-b')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    });

    it('counts a re-upload of the same blob once', async () => {
      const blobs = await open(100, 100);
      const order = newOrder();
      const data = new Uint8Array(60).fill(1);
      for (let i = 0; i < 3; i++) await put(blobs, order, data, 'dev-a');
      // 60 + 40 fits; 180 + 40 would not.
      await put(blobs, order, blob(), 'dev-a');
      await expect(put(blobs, order, blob(), 'dev-a')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    });

    it('keeps the stored blob when a re-upload of it is refused', async () => {
      const blobs = await open(1000, 100);
      const order = newOrder();
      const data = blob();
      const id = await put(blobs, order, data, 'dev-a');
      await put(blobs, newOrder(), blob(), 'dev-b');
      await put(blobs, newOrder(), blob(), 'dev-b');
      await expect(put(blobs, order, data, 'dev-b')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      expect(await blobs.get(id)).toEqual({ order, data });
    });

    it('lets concurrent uploads past a quota only as far as it allows', async () => {
      const blobs = await open(100, 1000);
      const order = newOrder();
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => put(blobs, order, blob(), `dev-${i}`)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    });

    it('frees the usage of blobs once they expire', async () => {
      const blobs = await open(100, 100);
      const order = newOrder();
      await put(blobs, order, blob(), 'dev-a', 150);
      await put(blobs, order, blob(), 'dev-a', 150);
      await expect(put(blobs, order, blob(), 'dev-a')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      clock.advance(200);
      await new Promise((r) => setTimeout(r, 200));
      await put(blobs, order, blob(), 'dev-a');
      await put(blobs, order, blob(), 'dev-a');
    });
  });
}
