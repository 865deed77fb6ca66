import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox } from '../../client/outbox.ts';
import { FileStorage } from '../../client/storage/file.ts';
import { MemoryStorage } from '../../client/storage/memory.ts';
import type { ClientStorage } from '../../client/storage/types.ts';

const env = (n: number) => new Uint8Array([n, n, n]);
let ids = 0;
const randomId = () => `m${++ids}`;

/** Storage that records the order of writes, to prove "stored before sent". */
class Journal extends MemoryStorage {
  readonly log: string[] = [];
  override async set(key: string, value: Uint8Array): Promise<void> {
    this.log.push(`set ${key}`);
    return super.set(key, value);
  }
  override async delete(key: string): Promise<void> {
    this.log.push(`delete ${key}`);
    return super.delete(key);
  }
}

describe('outbox', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('stores a publish before it can be sent', async () => {
    const storage = new Journal();
    const box = await Outbox.open(storage, { randomId });
    expect(box.due(0)).toEqual([]);
    const e = await box.add('ord-1', env(1), 0);
    expect(storage.log).toEqual([expect.stringMatching(/^set outbox\/ord-1\//)]);
    expect(box.due(0).map((x) => x.clientMsgId)).toEqual([e.clientMsgId]);
  });

  it('resends with the same clientMsgId after the retry time and after a reconnect, never in between', async () => {
    const box = await Outbox.open(new MemoryStorage(), { randomId, retryMs: 1000 });
    const e = await box.add('ord-1', env(1), 0);
    expect(box.due(0)).toHaveLength(1);
    expect(box.due(999)).toHaveLength(0);
    expect(box.due(1000).map((x) => x.clientMsgId)).toEqual([e.clientMsgId]);
    box.requeueAll();
    expect(box.due(1001).map((x) => x.clientMsgId)).toEqual([e.clientMsgId]);
    expect(box.nextDueAt(1001)).toBe(2001);
  });

  it('removes an entry on ack and lets the next one of the order go', async () => {
    const storage = new MemoryStorage();
    const box = await Outbox.open(storage, { randomId });
    const a = await box.add('ord-1', env(1), 0);
    const b = await box.add('ord-1', env(2), 0);
    expect(box.due(0).map((x) => x.clientMsgId)).toEqual([a.clientMsgId]);
    expect(await box.ack(a.clientMsgId)).toBeDefined();
    expect(await box.ack(a.clientMsgId)).toBeUndefined();
    expect(box.due(0).map((x) => x.clientMsgId)).toEqual([b.clientMsgId]);
    expect(await storage.list('outbox/')).toHaveLength(1);
  });

  it('sends each order in sequence but does not make orders wait for each other', async () => {
    const box = await Outbox.open(new MemoryStorage(), { randomId });
    const a1 = await box.add('A', env(1), 0);
    await box.add('A', env(2), 0);
    const b1 = await box.add('B', env(3), 0);
    expect(box.due(0).map((x) => x.clientMsgId).sort()).toEqual([a1.clientMsgId, b1.clientMsgId].sort());
  });

  it('keeps key packages in the order queue ahead of the envelopes sealed after them, across a restart', async () => {
    const storage = new MemoryStorage();
    const box = await Outbox.open(storage, { randomId });
    const kp = await box.addKeyPackages('A', [env(1), env(2)], 0);
    const pub = await box.add('A', env(3), 0);
    const reopened = await Outbox.open(storage, { randomId });
    const [first, second] = reopened.pending('A');
    expect(first).toMatchObject({ type: 'kp', clientMsgId: kp.clientMsgId, packages: [env(1), env(2)] });
    expect(second).toMatchObject({ type: 'pub', clientMsgId: pub.clientMsgId });
    expect(reopened.due(0).map((x) => x.type)).toEqual(['kp']);
  });

  it('with a wider window pipelines entries of one order in add order', async () => {
    const box = await Outbox.open(new MemoryStorage(), { randomId, window: 3 });
    const added = [];
    for (let i = 0; i < 5; i++) added.push(await box.add('A', env(i), 0));
    expect(box.due(0).map((x) => x.clientMsgId)).toEqual(added.slice(0, 3).map((x) => x.clientMsgId));
  });

  it('holds an order the relay rate-limited until the delay has passed', async () => {
    const box = await Outbox.open(new MemoryStorage(), { randomId });
    const a = await box.add('A', env(1), 0);
    box.due(0);
    box.defer('A', 500, a.clientMsgId);
    expect(box.due(499)).toEqual([]);
    expect(box.due(500).map((x) => x.clientMsgId)).toEqual([a.clientMsgId]);
  });

  it('survives a process restart with file storage: same ids, same order, same bytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outbox-'));
    dirs.push(dir);
    const first = await Outbox.open(new FileStorage(dir), { randomId });
    const a = await first.add('ord/with slash é', env(7), 0);
    const b = await first.add('ord/with slash é', env(8), 0);
    const c = await first.add('other', env(9), 0);
    await first.ack(c.clientMsgId);

    const second = await Outbox.open(new FileStorage(dir), { randomId });
    expect(second.pending().map((x) => x.clientMsgId)).toEqual([a.clientMsgId, b.clientMsgId]);
    const survivor = second.pending()[1]!;
    expect(survivor.type === 'pub' && [...survivor.envelope]).toEqual([8, 8, 8]);
    expect(second.due(0).map((x) => x.clientMsgId)).toEqual([a.clientMsgId]);
    // New entries go after the survivors, not before them.
    const d = await second.add('ord/with slash é', env(10), 0);
    expect(second.pending('ord/with slash é').map((x) => x.clientMsgId)).toEqual([a.clientMsgId, b.clientMsgId, d.clientMsgId]);
  });

  it('replaces a re-sealed envelope in place, keeping its id and its place in line', async () => {
    const storage: ClientStorage = new MemoryStorage();
    const box = await Outbox.open(storage, { randomId });
    const a = await box.add('A', env(1), 0);
    await box.add('A', env(2), 0);
    await box.replace(a.clientMsgId, env(5));
    const reopened = await Outbox.open(storage, { randomId });
    expect(reopened.pending('A').map((x) => [x.clientMsgId, x.type === 'pub' ? x.envelope[0] : -1])).toEqual([
      [a.clientMsgId, 5],
      [expect.any(String), 2],
    ]);
  });
});
