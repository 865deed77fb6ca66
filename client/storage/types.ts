/**
 * Where the SDK keeps what must survive a restart: the outbox, the last delivered
 * sequence per order, known roster chains. Values are bytes; keys are
 * '/'-separated paths like `outbox/<order>/<position>`.
 *
 * Contract: `set` resolves only once the value is durable as far as the platform
 * allows (file: fsync + rename); `list(prefix)` returns the keys that start with
 * `prefix`, sorted. Implementations: memory, file (Node), IndexedDB (browser),
 * wx storage (WeChat).
 */
export interface ClientStorage {
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys starting with `prefix`, in ascending (code unit) order. */
  list(prefix: string): Promise<string[]>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export async function getJson(storage: ClientStorage, key: string): Promise<unknown> {
  const bytes = await storage.get(key);
  return bytes === undefined ? undefined : JSON.parse(dec.decode(bytes));
}

export function setJson(storage: ClientStorage, key: string, value: unknown): Promise<void> {
  return storage.set(key, enc.encode(JSON.stringify(value)));
}

/** Base64 without Buffer or btoa, for runtimes that have neither (WeChat) and for JSON records. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Map([...ALPHABET].map((c, i) => [c, i]));

export function bytesToBase64(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = ((b[i] ?? 0) << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]!;
    out += i + 1 < b.length ? ALPHABET[(n >> 6) & 63]! : '=';
    out += i + 2 < b.length ? ALPHABET[n & 63]! : '=';
  }
  return out;
}

export function base64ToBytes(s: string): Uint8Array {
  const clean = s.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const c of clean) {
    const v = LOOKUP.get(c);
    if (v === undefined) throw new Error('invalid base64');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}
