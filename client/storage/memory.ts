import type { ClientStorage } from './types.ts';

/** Storage that lives as long as the process: tests, short-lived scripts, and servers that accept losing the outbox on a crash. */
export class MemoryStorage implements ClientStorage {
  private readonly map = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = this.map.get(key);
    return v === undefined ? undefined : v.slice();
  }
  async set(key: string, value: Uint8Array): Promise<void> {
    // Copy: the caller may reuse or wipe its buffer.
    this.map.set(key, value.slice());
  }
  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }
  async list(prefix: string): Promise<string[]> {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}
