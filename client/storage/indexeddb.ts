/**
 * Browser storage over IndexedDB: one database, one object store of
 * key → Uint8Array (structured clone keeps bytes as bytes). Each call is its own
 * transaction; `set` resolves on the transaction's `complete`, i.e. once the
 * browser has committed it.
 */
import type { ClientStorage } from './types.ts';

/** The part of the IndexedDB API we use (a subset of `IDBFactory`). */
export interface IndexedDbFactoryLike {
  open(name: string, version?: number): IDBOpenDBRequest;
}

const STORE = 'kv';

export class IndexedDbStorage implements ClientStorage {
  private readonly db: Promise<IDBDatabase>;

  /**
   * @param name database name; one per device identity.
   * @example const storage = new IndexedDbStorage('sealrelay-device-1');
   */
  constructor(name = 'sealrelay', factory?: IndexedDbFactoryLike) {
    const idb = factory ?? (globalThis as unknown as { indexedDB?: IndexedDbFactoryLike }).indexedDB;
    if (!idb) throw new Error('IndexedDB is not available in this runtime');
    this.db = new Promise((resolve, reject) => {
      const req = idb.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error('indexedDB.open failed'));
      req.onblocked = () => reject(new Error('indexedDB.open blocked by another tab holding an older version'));
    });
  }

  private async run<T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.db;
    return new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      // Resolve on `complete`, not on the request's success: only then is the write committed.
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = await this.run('readonly', (s) => s.get(key) as IDBRequest<unknown>);
    if (v instanceof Uint8Array) return v;
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    return undefined;
  }
  async set(key: string, value: Uint8Array): Promise<void> {
    await this.run('readwrite', (s) => s.put(value.slice(), key));
  }
  async delete(key: string): Promise<void> {
    await this.run('readwrite', (s) => s.delete(key));
  }
  async list(prefix: string): Promise<string[]> {
    // Every key starting with `prefix` sorts between prefix and prefix + U+FFFF.
    const range = IDBKeyRange.bound(prefix, prefix + '\uffff');
    const keys = await this.run('readonly', (s) => s.getAllKeys(range));
    return keys.map(String).sort();
  }
}
