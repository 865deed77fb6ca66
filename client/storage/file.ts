/**
 * Node file storage: one file per key under a directory, each write to a temp
 * file, fsync, then rename over the target, so a crash leaves either the old or
 * the new value, never a torn one. This is what makes the outbox survive `kill -9`.
 *
 * Each key segment becomes a path component: kept as is when it is plain ASCII
 * ([A-Za-z0-9._-], not starting with '.'), otherwise `~` + base64url of its UTF-8,
 * which is reversible and at most 171 characters for a 128-byte id (under the
 * 255-byte name limit of common file systems).
 */
import { mkdir, open, readFile, readdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ClientStorage } from './types.ts';

const PLAIN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

function encodeSegment(s: string): string {
  return PLAIN.test(s) ? s : '~' + Buffer.from(s, 'utf8').toString('base64url');
}

function decodeSegment(s: string): string {
  return s.startsWith('~') ? Buffer.from(s.slice(1), 'base64url').toString('utf8') : s;
}

export class FileStorage implements ClientStorage {
  /** @param dir created if missing; one directory per device. */
  constructor(private readonly dir: string) {}

  private pathOf(key: string): string {
    return join(this.dir, ...key.split('/').map(encodeSegment));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw e;
    }
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    const target = this.pathOf(key);
    const parent = join(target, '..');
    await mkdir(parent, { recursive: true });
    // Temp names start with '.', which encoded segments never do, so list() skips them.
    const tmp = join(parent, `.tmp-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(value);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    await syncDir(parent);
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    // Walk only the directory the prefix's complete segments name.
    const segs = prefix.split('/');
    const partial = segs.pop() ?? '';
    const base = segs.join('/');
    const out: string[] = [];
    await this.walk(join(this.dir, ...segs.map(encodeSegment)), base, out);
    return out.filter((k) => k.startsWith(prefix) && (partial !== '' || k.length > prefix.length)).sort();
  }

  private async walk(dirPath: string, keyPrefix: string, out: string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(dirPath, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw e;
    }
    for (const ent of entries) {
      if (ent.name.startsWith('.')) continue;
      const key = keyPrefix === '' ? decodeSegment(ent.name) : `${keyPrefix}/${decodeSegment(ent.name)}`;
      if (ent.isDirectory()) await this.walk(join(dirPath, ent.name), key, out);
      else out.push(key);
    }
  }
}

/** fsync the directory so the rename itself is durable (best effort: not every platform allows it). */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Windows cannot open directories; the rename is still atomic there.
  }
}
