import { describe, expect, it } from 'vitest';
import { Inbox } from '../../client/inbox.ts';
import { ReadCursor } from '../../client/read-cursor.ts';
import { ManualClock } from './fakes.ts';
import { MemoryStorage } from '../../client/storage/memory.ts';
import type { DeliveredMessage } from '../../protocol/index.ts';

const m = (seq: number, prev: number): DeliveredMessage => ({ seq, prev, envelope: new Uint8Array([seq]), at: 0 });
const seqs = (ms: readonly DeliveredMessage[]) => ms.map((x) => x.seq);

async function fresh(opts = {}) {
  const storage = new MemoryStorage();
  const inbox = new Inbox(storage, opts);
  await inbox.open('o');
  return { storage, inbox };
}

describe('inbox ordering', () => {
  it('releases consecutive messages at once, in order', async () => {
    const { inbox } = await fresh();
    expect(seqs(inbox.offer('o', [m(1, 0), m(2, 1), m(3, 2)], 0).release)).toEqual([1, 2, 3]);
  });

  it('treats holes the reader may not see (prev links across them) as no gap', async () => {
    const { inbox } = await fresh();
    const r = inbox.offer('o', [m(2, 0), m(5, 2), m(9, 5)], 0);
    expect(seqs(r.release)).toEqual([2, 5, 9]);
    expect(r.backfillFrom).toBeUndefined();
  });

  it('drops duplicates, whether already released or already buffered', async () => {
    const { inbox } = await fresh();
    inbox.offer('o', [m(1, 0), m(2, 1)], 0);
    const r = inbox.offer('o', [m(1, 0), m(2, 1), m(4, 3), m(4, 3)], 0);
    expect(r.release).toEqual([]);
    expect(r.duplicates).toBe(3);
  });

  it('on a gap, holds later messages and asks for a back-fill from the last released', async () => {
    const { inbox } = await fresh();
    inbox.offer('o', [m(1, 0)], 0);
    const r = inbox.offer('o', [m(3, 2), m(4, 3)], 0);
    expect(r.release).toEqual([]);
    expect(r.backfillFrom).toBe(1);
    // The back-fill replays 2.. and overlaps what is buffered: each goes out once.
    const after = inbox.offer('o', [m(2, 1), m(3, 2), m(4, 3)], 10);
    expect(seqs(after.release)).toEqual([2, 3, 4]);
    expect(after.duplicates).toBe(2);
  });

  it('does not repeat a back-fill request until the retry time, then asks again', async () => {
    const { inbox } = await fresh({ backfillRetryMs: 1000 });
    inbox.offer('o', [m(5, 4)], 0);
    expect(inbox.offer('o', [m(6, 5)], 500).backfillFrom).toBeUndefined();
    expect(inbox.backfillDue('o', 999)).toBeUndefined();
    expect(inbox.backfillDue('o', 1000)).toBe(0);
  });

  it('puts a reordered batch back in sequence order', async () => {
    const { inbox } = await fresh();
    const r = inbox.offer('o', [m(3, 2), m(1, 0), m(2, 1)], 0);
    expect(seqs(r.release)).toEqual([1, 2, 3]);
  });

  it('hands every message out exactly once under random duplication and reordering', async () => {
    const { inbox } = await fresh();
    const all = Array.from({ length: 300 }, (_, i) => m(i + 1, i));
    let seed = 7;
    const rand = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const out: number[] = [];
    let cursor = 0;
    while (out.length < all.length) {
      // Each round: some window ahead of the cursor, shuffled, with repeats and losses.
      const batch = all.slice(Math.max(0, cursor - 5), cursor + 20).filter(() => rand() > 0.3);
      batch.sort(() => rand() - 0.5);
      const r = inbox.offer('o', [...batch, ...batch.slice(0, 3)], 0);
      out.push(...seqs(r.release));
      cursor = inbox.resumeAfter('o');
    }
    expect(out).toEqual(all.map((x) => x.seq));
  });

  it('bounds the buffer and still recovers everything through the back-fill', async () => {
    const { inbox } = await fresh({ maxBuffered: 4 });
    inbox.offer('o', [m(3, 2), m(4, 3), m(5, 4), m(6, 5), m(7, 6), m(8, 7)], 0);
    const r = inbox.offer('o', [m(1, 0), m(2, 1)], 0);
    expect(seqs(r.release)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.backfillFrom).toBeUndefined();
    expect(seqs(inbox.offer('o', [m(7, 6), m(8, 7)], 0).release)).toEqual([7, 8]);
  });

  it('resumes after a restart from the committed sequence, not the released one', async () => {
    const { storage, inbox } = await fresh();
    inbox.offer('o', [m(1, 0), m(2, 1), m(3, 2)], 0);
    await inbox.commit('o', 2);
    const restarted = new Inbox(storage);
    expect(await restarted.open('o')).toBe(2);
    expect(seqs(restarted.offer('o', [m(3, 2)], 0).release)).toEqual([3]);
  });

  it('skips what retention trimmed and moves the durable cursor past it', async () => {
    const { storage, inbox } = await fresh();
    inbox.offer('o', [m(1, 0), m(7, 6)], 0);
    expect(await inbox.skipTo('o', 5)).toBe(3);
    expect(seqs(inbox.offer('o', [m(5, 1), m(6, 5)], 0).release)).toEqual([5, 6, 7]);
    expect(await new Inbox(storage).open('o')).toBe(4);
  });

  it('seeks to any position, backwards for a re-read, and remembers it', async () => {
    const { storage, inbox } = await fresh();
    inbox.offer('o', [m(1, 0), m(2, 1), m(3, 2)], 0);
    await inbox.commit('o', 3);
    await inbox.seek('o', 1);
    expect(seqs(inbox.offer('o', [m(2, 1), m(3, 2)], 0).release)).toEqual([2, 3]);
    expect(await new Inbox(storage).open('o')).toBe(1);
  });
});

describe('read cursor', () => {
  it('coalesces a burst into few durable writes, acks only what is durable, and stops acking when stopped', async () => {
    const storage = new MemoryStorage();
    let writes = 0;
    const counting = Object.assign(Object.create(storage) as MemoryStorage, {
      set: async (k: string, v: Uint8Array) => {
        writes++;
        await new Promise((r) => setTimeout(r, 5));
        return storage.set(k, v);
      },
    });
    const inbox = new Inbox(counting);
    await inbox.open('o');
    inbox.offer('o', Array.from({ length: 50 }, (_, i) => m(i + 1, i)), 0);
    const clock = new ManualClock();
    const acks: number[] = [];
    const cursor = new ReadCursor({ inbox, order: 'o', clock, ackDelayMs: 10, sendAck: (s) => (acks.push(s), true), onError: (e) => { throw e; } });
    for (let s = 1; s <= 50; s++) cursor.advance(s);
    await cursor.flushed();
    await cursor.flushed();
    expect(inbox.committed('o')).toBe(50);
    expect(writes).toBeLessThanOrEqual(3);
    clock.advance(10);
    expect(acks).toEqual([50]);
    cursor.stop();
    inbox.offer('o', [m(51, 50)], 0);
    cursor.advance(51);
    await cursor.flushed();
    clock.advance(100);
    expect(acks).toEqual([50]);
    expect(await new Inbox(storage).open('o')).toBe(51);
  });
});
