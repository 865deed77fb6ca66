import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskBlobStore } from '../../server/blob/disk.ts';
import { MemoryBlobStore } from '../../server/blob/memory.ts';
import { blobIdOf } from '../../server/blob/verify.ts';
import { StoreUnavailableError } from '../../server/store/types.ts';
import { describeBlobContract, describeBlobQuotaContract, sha256 } from './blob-contract.ts';
import { manualClock, newOrder } from './store-contract.ts';

describeBlobContract('memory', async ({ now }) => {
  const blobs = new MemoryBlobStore({ now });
  return { blobs, cleanup: () => blobs.close() };
});

describeBlobContract('disk', async ({ now }) => {
  const dir = mkdtempSync(join(tmpdir(), 'sealrelay-blobs-'));
  const blobs = await DiskBlobStore.open({ dir, now, sweepIntervalMs: 0 });
  return { blobs, cleanup: async () => { await blobs.close(); rmSync(dir, { recursive: true, force: true }); } };
});

describeBlobQuotaContract('memory', async ({ now, maxPerOrderBytes, maxPerDeviceBytes }) => {
  const blobs = new MemoryBlobStore({ now, maxPerOrderBytes, maxPerDeviceBytes });
  return { blobs, cleanup: () => blobs.close() };
});

describeBlobQuotaContract('disk', async ({ now, maxPerOrderBytes, maxPerDeviceBytes }) => {
  const dir = mkdtempSync(join(tmpdir(), 'sealrelay-blobs-'));
  const blobs = await DiskBlobStore.open({ dir, now, sweepIntervalMs: 0, maxPerOrderBytes, maxPerDeviceBytes });
  return { blobs, cleanup: async () => { await blobs.close(); rmSync(dir, { recursive: true, force: true }); } };
});

describe('MemoryBlobStore', () => {
  it('refuses a put that would exceed its byte budget, and makes room by dropping expired blobs', async () => {
    const clock = manualClock();
    const blobs = new MemoryBlobStore({ maxTotalBytes: 100, now: clock.now });
    const blob = (b: number) => new Uint8Array(40).fill(b);
    await blobs.put(newOrder(), sha256(blob(1)), blob(1), 1000);
    await blobs.put(newOrder(), sha256(blob(2)), blob(2), 5000);
    await expect(blobs.put(newOrder(), sha256(blob(3)), blob(3), 1000)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(blobs.bytes).toBe(80);
    clock.advance(2000);
    await blobs.put(newOrder(), sha256(blob(3)), blob(3), 1000);
    expect(blobs.bytes).toBe(80);
  });

  it('holds per-order and per-device quotas, so one order or one device cannot fill the budget, and frees them on expiry', async () => {
    const clock = manualClock();
    const blobs = new MemoryBlobStore({ maxTotalBytes: 1000, maxPerOrderBytes: 100, maxPerDeviceBytes: 150, now: clock.now });
    const blob = (b: number) => new Uint8Array(40).fill(b);
    const [o1, o2, o3] = [newOrder(), newOrder(), newOrder()];
    await blobs.put(o1, sha256(blob(1)), blob(1), 1000, 'dev-a');
    await blobs.put(o1, sha256(blob(2)), blob(2), 1000, 'dev-b');
    await expect(blobs.put(o1, sha256(blob(3)), blob(3), 1000, 'dev-c')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    await blobs.put(o2, sha256(blob(4)), blob(4), 1000, 'dev-a');
    await blobs.put(o3, sha256(blob(5)), blob(5), 1000, 'dev-a');
    await expect(blobs.put(newOrder(), sha256(blob(6)), blob(6), 1000, 'dev-a')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    // Another device and another order still have room: the budget (1000) is far from full.
    await blobs.put(newOrder(), sha256(blob(7)), blob(7), 1000, 'dev-z');
    clock.advance(1001);
    await blobs.put(o1, sha256(blob(3)), blob(3), 1000, 'dev-a');
    expect(blobs.bytes).toBe(40);
  });

  it('does not count a re-upload twice', async () => {
    const blobs = new MemoryBlobStore({ maxTotalBytes: 100 });
    const order = newOrder();
    const data = new Uint8Array(60);
    for (let i = 0; i < 3; i++) await blobs.put(order, sha256(data), data, 1000);
    expect(blobs.bytes).toBe(60);
  });
});

describe('DiskBlobStore', () => {
  it('keeps its quotas across a restart (usage is rebuilt from the metas, pre-quota metas count for no device), and a refused upload leaves no file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealrelay-blobs-'));
    try {
      const clock = manualClock();
      const quota = { maxPerOrderBytes: 100, maxPerDeviceBytes: 1000 };
      const first = await DiskBlobStore.open({ dir, now: clock.now, sweepIntervalMs: 0, ...quota });
      const order = newOrder();
      const blob = (b: number) => new Uint8Array(40).fill(b);
      await first.put(order, sha256(blob(1)), blob(1), 1000, 'dev-a');
      const oldId = await first.put(order, sha256(blob(2)), blob(2), 60_000, 'dev-a');
      await first.close();
      // A meta written before quotas existed: no device field.
      const oldMeta = join(dir, oldId.slice(0, 2), `${oldId}.meta`);
      const { device: _device, ...pre } = JSON.parse(readFileSync(oldMeta, 'utf8')) as Record<string, unknown>;
      writeFileSync(oldMeta, JSON.stringify(pre));

      const second = await DiskBlobStore.open({ dir, now: clock.now, sweepIntervalMs: 0, ...quota });
      expect(second.bytes).toBe(80);
      const refusedId = blobIdOf(order, sha256(blob(3)));
      await expect(second.put(order, sha256(blob(3)), blob(3), 60_000, 'dev-b')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      expect(readdirSync(dir, { recursive: true }).map(String).some((f) => f.includes(refusedId))).toBe(false);
      // The first blob expires: its bytes are freed for the order, and its files swept.
      clock.advance(2000);
      await second.put(order, sha256(blob(3)), blob(3), 60_000, 'dev-b');
      expect(await second.sweep()).toBe(1);
      expect(second.bytes).toBe(80);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves blobs written before a restart, and its sweep deletes expired blobs and dead orphans but not live blobs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealrelay-blobs-'));
    try {
      const clock = manualClock();
      const first = await DiskBlobStore.open({ dir, now: clock.now, sweepIntervalMs: 0 });
      const short = new Uint8Array([1]);
      const long = new Uint8Array([2]);
      const order = newOrder();
      const shortId = await first.put(order, sha256(short), short, 1000);
      const longId = await first.put(order, sha256(long), long, 60_000);
      await first.close();

      const second = await DiskBlobStore.open({ dir, now: clock.now, sweepIntervalMs: 0 });
      expect(await second.get(shortId)).toEqual({ order, data: short });
      // A put that died between data and meta leaves an orphan: invisible, swept once old.
      const shard = join(dir, longId.slice(0, 2));
      writeFileSync(join(shard, `${'Z'.repeat(43)}.blob`), 'orphan');
      clock.advance(2000);
      expect(await second.sweep()).toBe(1);
      expect(await second.get(shortId)).toBeUndefined();
      expect(await second.get(longId)).toEqual({ order, data: long });
      const files = readdirSync(dir, { recursive: true }).map(String);
      expect(files.some((f) => f.includes(shortId))).toBe(false);
      expect(files.some((f) => f.includes('Z'.repeat(43)))).toBe(true); // young orphan: maybe a put in progress
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
