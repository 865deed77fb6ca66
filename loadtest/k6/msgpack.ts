/**
 * Just enough MessagePack for k6 (which has no npm modules): the subset our
 * frames use (maps with string keys, strings, non-negative and negative ints,
 * floats, booleans, nil, bin, arrays). Must produce bytes protocol/codec.ts
 * accepts and read what it sends. Pure.
 */
export type Value = null | boolean | number | string | Uint8Array | Value[] | { [k: string]: Value | undefined };

// k6's runtime is not a browser: no TextEncoder/TextDecoder to rely on, so UTF-8 by hand.
const te = {
  encode(s: string): number[] {
    const out: number[] = [];
    for (const ch of s) {
      const c = ch.codePointAt(0)!;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return out;
  },
};
const td = {
  decode(b: Uint8Array): string {
    let s = '';
    for (let i = 0; i < b.length; ) {
      const c = b[i++]!;
      let cp = c;
      if (c >= 0xf0) cp = ((c & 7) << 18) | ((b[i++]! & 63) << 12) | ((b[i++]! & 63) << 6) | (b[i++]! & 63);
      else if (c >= 0xe0) cp = ((c & 15) << 12) | ((b[i++]! & 63) << 6) | (b[i++]! & 63);
      else if (c >= 0xc0) cp = ((c & 31) << 6) | (b[i++]! & 63);
      s += String.fromCodePoint(cp);
    }
    return s;
  },
};

export function encode(v: Value): Uint8Array {
  const out: number[] = [];
  write(v, out);
  return new Uint8Array(out);
}

function u(out: number[], n: number, bytes: number): void {
  for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
}

function write(v: Value | undefined, out: number[]): void {
  if (v === null || v === undefined) out.push(0xc0);
  else if (v === true) out.push(0xc3);
  else if (v === false) out.push(0xc2);
  else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0) {
      if (v < 128) out.push(v);
      else if (v < 256) out.push(0xcc, v);
      else if (v < 65536) { out.push(0xcd); u(out, v, 2); }
      else if (v < 2 ** 32) { out.push(0xce); u(out, v, 4); }
      else { out.push(0xcf); u(out, v, 8); }
    } else if (Number.isInteger(v) && v >= -32) out.push(v & 0xff);
    else {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v);
      out.push(0xcb, ...b);
    }
  } else if (typeof v === 'string') {
    const b = te.encode(v);
    if (b.length < 32) out.push(0xa0 | b.length);
    else if (b.length < 256) out.push(0xd9, b.length);
    else { out.push(0xda); u(out, b.length, 2); }
    out.push(...b);
  } else if (v instanceof Uint8Array) {
    if (v.length < 256) out.push(0xc4, v.length);
    else if (v.length < 65536) { out.push(0xc5); u(out, v.length, 2); }
    else { out.push(0xc6); u(out, v.length, 4); }
    for (let i = 0; i < v.length; i++) out.push(v[i]!);
  } else if (Array.isArray(v)) {
    if (v.length < 16) out.push(0x90 | v.length);
    else { out.push(0xdc); u(out, v.length, 2); }
    for (const x of v) write(x, out);
  } else {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (keys.length < 16) out.push(0x80 | keys.length);
    else { out.push(0xde); u(out, keys.length, 2); }
    for (const k of keys) {
      write(k, out);
      write(v[k], out);
    }
  }
}

export function decode(bytes: Uint8Array): Value {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const n = (len: number): number => {
    let x = 0;
    for (let i = 0; i < len; i++) x = x * 256 + bytes[p++]!;
    return x;
  };
  const str = (len: number) => td.decode(bytes.subarray(p, (p += len)));
  const bin = (len: number) => bytes.slice(p, (p += len));
  const arr = (len: number) => Array.from({ length: len }, () => read());
  const map = (len: number) => {
    const o: { [k: string]: Value } = {};
    for (let i = 0; i < len; i++) {
      const k = read() as string;
      o[k] = read();
    }
    return o;
  };
  function read(): Value {
    const b = bytes[p++]!;
    if (b < 0x80) return b;
    if (b >= 0xe0) return b - 256;
    if ((b & 0xf0) === 0x80) return map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return arr(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(n(1));
      case 0xc5: return bin(n(2));
      case 0xc6: return bin(n(4));
      case 0xca: return (p += 4), view.getFloat32(p - 4);
      case 0xcb: return (p += 8), view.getFloat64(p - 8);
      case 0xcc: return n(1);
      case 0xcd: return n(2);
      case 0xce: return n(4);
      case 0xcf: return n(8);
      case 0xd0: return view.getInt8(p++);
      case 0xd1: return (p += 2), view.getInt16(p - 2);
      case 0xd2: return (p += 4), view.getInt32(p - 4);
      case 0xd9: return str(n(1));
      case 0xda: return str(n(2));
      case 0xdb: return str(n(4));
      case 0xdc: return arr(n(2));
      case 0xdd: return arr(n(4));
      case 0xde: return map(n(2));
      case 0xdf: return map(n(4));
      default: throw new Error(`msgpack: unsupported type byte 0x${b.toString(16)}`);
    }
  }
  return read();
}
