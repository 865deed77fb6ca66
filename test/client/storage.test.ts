import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStorage } from '../../client/storage/file.ts';
import { MemoryStorage } from '../../client/storage/memory.ts';
import { base64ToBytes, bytesToBase64, type ClientStorage } from '../../client/storage/types.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function fileStorage(): Promise<FileStorage> {
  const dir = await mkdtemp(join(tmpdir(), 'storage-'));
  dirs.push(dir);
  return new FileStorage(dir);
}

describe.each([
  ['memory', async () => new MemoryStorage() as ClientStorage],
  ['file', fileStorage],
])('%s storage', (_name, make) => {
  it('round-trips bytes, lists by prefix in order, and deletes', async () => {
    const s = await make();
    await s.set('outbox/o1/0002', new Uint8Array([2]));
    await s.set('outbox/o1/0001', new Uint8Array([1]));
    await s.set('outbox/o2/0001', new Uint8Array([3]));
    await s.set('inbox/o1', new Uint8Array([4]));
    expect(await s.list('outbox/o1/')).toEqual(['outbox/o1/0001', 'outbox/o1/0002']);
    expect(await s.list('outbox/')).toHaveLength(3);
    expect(await s.get('outbox/o1/0002')).toEqual(new Uint8Array([2]));
    await s.delete('outbox/o1/0002');
    await s.delete('never/was');
    expect(await s.get('outbox/o1/0002')).toBeUndefined();
    expect(await s.list('outbox/o1/')).toEqual(['outbox/o1/0001']);
  });

  it('keeps keys with unusual characters distinct and recoverable', async () => {
    const s = await make();
    const keys = ['x/..', 'x/.hidden', 'x/订单-1', 'x/a b', 'x/~tilde', `x/${'é'.repeat(64)}`];
    for (const [i, k] of keys.entries()) await s.set(k, new Uint8Array([i]));
    expect(await s.list('x/')).toEqual([...keys].sort());
    for (const [i, k] of keys.entries()) expect(await s.get(k)).toEqual(new Uint8Array([i]));
  });

  it('does not let the caller mutate what was stored', async () => {
    const s = await make();
    const v = new Uint8Array([1, 2]);
    await s.set('k', v);
    v[0] = 9;
    expect(await s.get('k')).toEqual(new Uint8Array([1, 2]));
  });
});

describe('file storage', () => {
  it('leaves no temp files behind after writes', async () => {
    const s = await fileStorage();
    for (let i = 0; i < 5; i++) await s.set('a/b', new Uint8Array([i]));
    const names = await readdir(join(dirs[0]!, 'a'));
    expect(names).toEqual(['b']);
  });
});

describe('base64', () => {
  it('round-trips every length and agrees with Node', () => {
    for (let n = 0; n < 40; n++) {
      const b = new Uint8Array(n).map((_, i) => (i * 89 + n) & 0xff);
      expect(bytesToBase64(b)).toBe(Buffer.from(b).toString('base64'));
      expect(base64ToBytes(bytesToBase64(b))).toEqual(b);
    }
  });
});
