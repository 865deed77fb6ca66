/**
 * Canonical binary encoding for everything that is signed or hashed
 * (see crypto/README.md, "Canonical encodings"). An object is:
 *
 *   str(domainTag) field field ... [bytes(signature)]
 *
 * with u8/u32/u64 big-endian integers, `str` = u32 length + UTF-8, `bytes` =
 * u32 length + raw bytes. Fields come in a fixed order; there is exactly one
 * encoding of each value, so signatures and hashes are over unambiguous bytes.
 *
 * Reader never throws anything but CryptoError('MALFORMED'): every length is
 * checked against the bytes left (and a per-field maximum) before allocating.
 */
import { CryptoError } from './errors.ts';

/** IDs (order, device, user, tenant) are UTF-8 of at most this many bytes (protocol MAX_ID_BYTES). */
export const MAX_ID_BYTES = 128;

const utf8 = new TextEncoder();
/**
 * fatal: invalid UTF-8 throws instead of becoming U+FFFD. ignoreBOM: a leading EF BB BF stays in the
 * string as U+FEFF (by default TextDecoder drops it, so `EF BB BF 6F 31` and `6F 31` both decoded to
 * "o1": two byte strings for one id). Reader.str also re-encodes and compares, so only the one
 * canonical encoding of a string is accepted.
 */
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8Bytes(s: string): Uint8Array {
  return utf8.encode(s);
}

export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(domainTag: string, initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
    this.str(domainTag);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new CryptoError('INVALID_ARGUMENT', `u8 out of range: ${v}`);
    this.reserve(1);
    this.buf[this.len++] = v;
    return this;
  }

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new CryptoError('INVALID_ARGUMENT', `u32 out of range: ${v}`);
    this.reserve(4);
    this.view.setUint32(this.len, v);
    this.len += 4;
    return this;
  }

  /** u64 restricted to JS safe integers (times in ms). */
  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new CryptoError('INVALID_ARGUMENT', `u64 out of range: ${v}`);
    this.reserve(8);
    this.view.setBigUint64(this.len, BigInt(v));
    this.len += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.u32(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  str(s: string): this {
    return this.bytes(utf8.encode(s));
  }

  /** An id string: checked to be non-empty and at most MAX_ID_BYTES of UTF-8. */
  id(s: string, what = 'id'): this {
    const b = utf8.encode(s);
    if (b.length === 0 || b.length > MAX_ID_BYTES) {
      throw new CryptoError('INVALID_ARGUMENT', `${what} must be 1..${MAX_ID_BYTES} bytes of UTF-8`);
    }
    return this.bytes(b);
  }

  /** Raw bytes with no length prefix (only for already length-delimited encodings). */
  raw(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  get length(): number {
    return this.len;
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array, private readonly what: string) {
    if (!(buf instanceof Uint8Array)) throw new CryptoError('MALFORMED', `${what}: not a byte array`);
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(why: string): never {
    throw new CryptoError('MALFORMED', `${this.what}: ${why}`);
  }

  private need(n: number): void {
    if (n > this.buf.length - this.pos) this.fail('truncated');
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Expect the domain-separation tag; anything else is MALFORMED. */
  tag(expected: string): void {
    const got = this.bytes(64);
    const want = tagBytes(expected);
    if (!bytesEqual(got, want)) this.fail(`wrong domain tag (expected ${expected})`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('u64 larger than a safe integer');
    return Number(v);
  }

  /** Length-prefixed bytes of at most `max` bytes; a view into the input, not a copy. */
  bytes(max: number): Uint8Array {
    const n = this.u32();
    if (n > max) this.fail(`field of ${n} bytes exceeds ${max}`);
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Length-prefixed bytes that must be exactly `n` long (keys, hashes, signatures). Copied. */
  fixed(n: number): Uint8Array {
    const b = this.bytes(n);
    if (b.length !== n) this.fail(`expected ${n} bytes, got ${b.length}`);
    return b.slice();
  }

  str(max: number): string {
    const b = this.bytes(max);
    // All-ASCII bytes are valid, canonical UTF-8 (and hold no BOM): decode them directly.
    if (b.length <= 64 && isAscii(b)) return String.fromCharCode.apply(null, b as unknown as number[]);
    let s: string;
    try {
      s = utf8Strict.decode(b);
    } catch {
      return this.fail('invalid UTF-8');
    }
    if (!bytesEqual(utf8.encode(s), b)) this.fail('non-canonical UTF-8');
    return s;
  }

  /** An id: 1..MAX_ID_BYTES of valid UTF-8. */
  id(): string {
    const s = this.str(MAX_ID_BYTES);
    if (s.length === 0) this.fail('empty id');
    return s;
  }

  /** The input bytes from `start` to the current position (a view). */
  sliceFrom(start: number): Uint8Array {
    return this.buf.subarray(start, this.pos);
  }

  end(): void {
    if (this.pos !== this.buf.length) this.fail(`${this.buf.length - this.pos} trailing bytes`);
  }
}

function isAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if ((b[i] as number) > 0x7f) return false;
  return true;
}

/** Encoded domain tags (a small fixed set of constants), so Reader.tag does not re-encode them per call. */
const TAGS = new Map<string, Uint8Array>();
function tagBytes(tag: string): Uint8Array {
  let b = TAGS.get(tag);
  if (!b) {
    b = utf8.encode(tag);
    if (TAGS.size < 256) TAGS.set(tag, b);
  }
  return b;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i] as number];
  return s;
}

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(s)) throw new CryptoError('MALFORMED', 'invalid hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lower case, no padding. */
export function base32(b: Uint8Array): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const v of b) {
    acc = (acc << 8) | v;
    bits += 8;
    while (bits >= 5) {
      out += B32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
  return out;
}

export const ZERO_HASH: Uint8Array = new Uint8Array(32);
