/**
 * The binary codec: one frame per WebSocket binary message, a MessagePack map
 * (field names as in frames.ts), byte fields as MessagePack `bin` so ciphertext
 * travels as raw bytes. Pure: bytes in, typed frames or a ProtocolError out.
 *
 * MessagePack (msgpackr) over a hand-rolled layout: a schema-driven codec keeps one
 * source of truth (frames.ts) for the relay, the SDK and the spec, any MessagePack
 * library can speak it, and msgpackr unpacks a 300-byte publish frame in ≈ 0.45 µs
 * here (measured; zod validation costs more than decoding). CBOR (cbor-x) would
 * serve equally; it was not benchmarked side by side.
 */
import { Packr, RESET_BUFFER_MODE, Unpackr } from 'msgpackr';
import { ProtocolError } from './errors.ts';
import {
  ClientFrame,
  ServerFrame,
  CLIENT_FRAME_TYPES,
  SERVER_FRAME_TYPES,
  isIdString,
  type ClientFrameType,
  type ServerFrameType,
} from './frames.ts';
import { ByteSlab } from './slab.ts';
import { MAX_CLIENT_MSG_ID_BYTES, MAX_DELIVER_BATCH, MAX_ENVELOPE_BYTES, MAX_FRAME_BYTES, MAX_ID_BYTES } from './limits.ts';

// useRecords:false keeps the wire plain MessagePack that any library can read;
// moreTypes:false keeps typed arrays out of extension types.
const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

const clientTypes = new Set<string>(CLIENT_FRAME_TYPES);
const serverTypes = new Set<string>(SERVER_FRAME_TYPES);

/** Encode any frame. Callers encode only frames they built themselves, so no validation here. */
export function encodeFrame(frame: ClientFrame | ServerFrame): Uint8Array {
  return packr.pack(frame);
}

const transientPackr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });

/**
 * encodeFrame for a caller that hands the bytes to a transport which copies them
 * before returning (the relay's uWS sends): the result is valid only until the
 * next encode of any kind in this process (msgpackr's write buffer is shared by all
 * its packers). One buffer is reused instead of msgpackr carving (and, every few
 * dozen frames, allocating) a new one per frame.
 */
export function encodeFrameTransient(frame: ClientFrame | ServerFrame): Uint8Array {
  return transientPackr.pack(frame, RESET_BUFFER_MODE);
}

function unpack(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.byteLength > MAX_FRAME_BYTES) throw new ProtocolError('FRAME_TOO_LARGE', `${bytes.byteLength} bytes`);
  if (bytes.byteLength === 0) throw new ProtocolError('BAD_FRAME', 'empty frame');
  let value: unknown;
  try {
    value = unpackr.unpack(bytes);
  } catch (err) {
    throw new ProtocolError('BAD_FRAME', `not MessagePack: ${(err as Error).message}`.slice(0, 200));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ProtocolError('BAD_FRAME', 'a frame must be a MessagePack map');
  }
  return value as Record<string, unknown>;
}

function issueSummary(error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }): string {
  const first = error.issues[0];
  if (!first) return 'invalid frame';
  return `${first.path.map(String).join('.') || '(frame)'}: ${first.message}`.slice(0, 200);
}

/**
 * Decode a frame a client sent. Throws ProtocolError with FRAME_TOO_LARGE,
 * BAD_FRAME or UNKNOWN_FRAME_TYPE. Byte fields of the result may share memory
 * with `bytes`: callers must pass a buffer they own (uWS reuses its own).
 */
export function decodeClientFrame(bytes: Uint8Array): ClientFrame {
  const raw = unpack(bytes);
  const fast = fastClientFrame(raw);
  if (fast) return fast;
  if (typeof raw.t !== 'string') throw new ProtocolError('BAD_FRAME', 'missing frame type `t`');
  if (!clientTypes.has(raw.t)) throw new ProtocolError('UNKNOWN_FRAME_TYPE', String(raw.t).slice(0, 32));
  const parsed = ClientFrame.safeParse(raw);
  if (!parsed.success) throw new ProtocolError('BAD_FRAME', `${raw.t}: ${issueSummary(parsed.error)}`);
  return ownBytes(parsed.data);
}

/**
 * Give every byte field of a decoded frame memory of its own (msgpackr hands out
 * views into the input). The relay's transport copies incoming frames into large
 * shared slabs, and a kept view (a roster, a key package, a blob) would pin a whole
 * slab. Only the hot `pub` path (fastClientFrame) keeps its envelope as a view: the
 * stores copy what they retain (MemoryStore into its per-order arena).
 */
function ownBytes<T extends object>(frame: T): T {
  for (const [k, v] of Object.entries(frame)) {
    if (v instanceof Uint8Array) (frame as Record<string, unknown>)[k] = Uint8Array.prototype.slice.call(v);
    else if (Array.isArray(v)) (frame as Record<string, unknown>)[k] = v.map((x: unknown) => (x instanceof Uint8Array ? Uint8Array.prototype.slice.call(x) : x));
  }
  return frame;
}

/** Decode a frame the relay sent. Same errors as decodeClientFrame. */
export function decodeServerFrame(bytes: Uint8Array): ServerFrame {
  const raw = unpack(bytes);
  const fast = fastServerFrame(raw);
  if (fast) return fast;
  if (typeof raw.t !== 'string') throw new ProtocolError('BAD_FRAME', 'missing frame type `t`');
  if (!serverTypes.has(raw.t)) throw new ProtocolError('UNKNOWN_FRAME_TYPE', String(raw.t).slice(0, 32));
  const parsed = ServerFrame.safeParse(raw);
  if (!parsed.success) throw new ProtocolError('BAD_FRAME', `${raw.t}: ${issueSummary(parsed.error)}`);
  return parsed.data;
}

/** Peek at a frame's type without full validation (for metrics on frames that fail to decode). */
export function peekFrameType(bytes: Uint8Array): ClientFrameType | ServerFrameType | 'unknown' {
  try {
    const raw = unpack(bytes);
    const t = raw.t;
    return typeof t === 'string' && (clientTypes.has(t) || serverTypes.has(t)) ? (t as ClientFrameType) : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The two frames a busy client sends all the time (`pub`, `ack`), checked by hand
 * (a pub's envelope stays a view into `bytes`; see ownBytes):
 * the zod union cost ~3 µs per publish. Returns the frame exactly as the schema
 * would (known fields only), or undefined to let the schema decide, and word the
 * error, for anything that is not plainly valid. A differential test holds the two
 * to the same answers (test/protocol/codec-fast.test.ts).
 */
function fastClientFrame(raw: Record<string, unknown>): ClientFrame | undefined {
  if (raw.t === 'pub') {
    const { order, clientMsgId, envelope } = raw;
    if (
      isIdString(order, MAX_ID_BYTES) &&
      isIdString(clientMsgId, MAX_CLIENT_MSG_ID_BYTES) &&
      envelope instanceof Uint8Array &&
      envelope.byteLength >= 1 &&
      envelope.byteLength <= MAX_ENVELOPE_BYTES
    ) {
      // What the schema's instanceof check yields too: the bytes msgpackr decoded, over an ArrayBuffer.
      return { t: 'pub', order, clientMsgId, envelope: envelope as Uint8Array<ArrayBuffer> };
    }
  } else if (raw.t === 'ack') {
    const { order, seq } = raw;
    if (isIdString(order, MAX_ID_BYTES) && Number.isSafeInteger(seq) && (seq as number) >= 0) return { t: 'ack', order, seq: seq as number };
  }
  return undefined;
}

/**
 * The frames every receiving client decodes all the time (`deliver`, `puback`),
 * checked by hand as fastClientFrame does on the relay: the same answer as the
 * schema (known fields only, new objects), or undefined to let the schema decide.
 */
function fastServerFrame(raw: Record<string, unknown>): ServerFrame | undefined {
  if (raw.t === 'deliver') {
    const { order, messages } = raw;
    if (!isIdString(order, MAX_ID_BYTES) || !Array.isArray(messages) || messages.length < 1 || messages.length > MAX_DELIVER_BATCH) return undefined;
    const out: Array<{ seq: number; prev: number; envelope: Uint8Array<ArrayBuffer>; at: number }> = [];
    for (const m of messages as unknown[]) {
      if (m === null || typeof m !== 'object' || Array.isArray(m) || m instanceof Uint8Array) return undefined;
      const { seq, prev, envelope, at } = m as Record<string, unknown>;
      if (!Number.isSafeInteger(seq) || (seq as number) < 1) return undefined;
      if (!Number.isSafeInteger(prev) || (prev as number) < 0) return undefined;
      if (!Number.isSafeInteger(at) || (at as number) < 0) return undefined;
      if (!(envelope instanceof Uint8Array) || envelope.byteLength < 1 || envelope.byteLength > MAX_ENVELOPE_BYTES) return undefined;
      out.push({ seq: seq as number, prev: prev as number, envelope: envelope as Uint8Array<ArrayBuffer>, at: at as number });
    }
    return { t: 'deliver', order, messages: out };
  }
  if (raw.t === 'puback') {
    const { order, clientMsgId, seq, duplicate } = raw;
    if (isIdString(order, MAX_ID_BYTES) && isIdString(clientMsgId, MAX_CLIENT_MSG_ID_BYTES) && Number.isSafeInteger(seq) && (seq as number) >= 0 && typeof duplicate === 'boolean') {
      return { t: 'puback', order, clientMsgId, seq: seq as number, duplicate };
    }
  }
  return undefined;
}

const textEncoder = new TextEncoder();

/**
 * One `deliver` frame with one message, written by hand: the same bytes as
 * `encodeFrame({ t: 'deliver', order, messages: [{ seq, prev, envelope, at }] })`
 * (a test compares them), at a third of msgpackr's cost. Live fan-out encodes one
 * of these per published message.
 */
export function encodeDeliverOne(order: string, seq: number, prev: number, envelope: Uint8Array, at: number): Uint8Array {
  const out = deliverSlab.take(DELIVER_FIXED_BYTES + 3 * order.length + envelope.byteLength);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let o = 0;
  out.set(DELIVER_HEAD, o);
  o += DELIVER_HEAD.length;
  o = writeStr(out, view, o, order);
  out.set(DELIVER_MESSAGES, o);
  o += DELIVER_MESSAGES.length;
  o = writeUint(out, view, o, seq);
  out.set(KEY_PREV, o);
  o += KEY_PREV.length;
  o = writeUint(out, view, o, prev);
  out.set(KEY_ENVELOPE, o);
  o += KEY_ENVELOPE.length;
  const n = envelope.byteLength;
  if (n < 0x100) {
    out[o++] = 0xc4;
    out[o++] = n;
  } else if (n < 0x10000) {
    out[o++] = 0xc5;
    view.setUint16(o, n);
    o += 2;
  } else {
    out[o++] = 0xc6;
    view.setUint32(o, n);
    o += 4;
  }
  out.set(envelope, o);
  o += n;
  out.set(KEY_AT, o);
  o += KEY_AT.length;
  o = writeUint(out, view, o, at);
  return deliverSlab.keep(out, o);
}

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const fixstr = (s: string): number[] => [0xa0 | s.length, ...ascii(s)];
// {t:'deliver', order: …, messages: [{seq, prev, envelope, at}]}, keys in schema order as msgpackr writes them.
const DELIVER_HEAD = new Uint8Array([0x83, ...fixstr('t'), ...fixstr('deliver'), ...fixstr('order')]);
const DELIVER_MESSAGES = new Uint8Array([...fixstr('messages'), 0x91, 0x84, ...fixstr('seq')]);
const KEY_PREV = new Uint8Array(fixstr('prev'));
const KEY_ENVELOPE = new Uint8Array(fixstr('envelope'));
const KEY_AT = new Uint8Array(fixstr('at'));
/** Everything but the order and envelope bytes, at their largest (str16 + bin32 headers, three float64s). */
const DELIVER_FIXED_BYTES = DELIVER_HEAD.length + 3 + DELIVER_MESSAGES.length + KEY_PREV.length + KEY_ENVELOPE.length + 5 + KEY_AT.length + 3 * 9;

/** A MessagePack str (fixstr/str8/str16) of `s`, written in place. `out` has room for 3 bytes per UTF-16 unit. */
function writeStr(out: Uint8Array, view: DataView, o: number, s: string): number {
  let n = s.length;
  let ascii = n < 0x100;
  for (let i = 0; ascii && i < n; i++) if (s.charCodeAt(i) >= 0x80) ascii = false;
  if (ascii) {
    // The common case (ids are ASCII): no encoder call, no intermediate array.
    const start = n < 32 ? o + 1 : o + 2;
    for (let i = 0; i < n; i++) out[start + i] = s.charCodeAt(i);
  } else {
    // Encode after the largest header, then move it up if the header is smaller.
    n = textEncoder.encodeInto(s, out.subarray(o + 3)).written;
    const headerBytes = n < 32 ? 1 : n < 0x100 ? 2 : 3;
    if (headerBytes < 3) out.copyWithin(o + headerBytes, o + 3, o + 3 + n);
  }
  if (n < 32) out[o++] = 0xa0 | n;
  else if (n < 0x100) {
    out[o++] = 0xd9;
    out[o++] = n;
  } else {
    out[o++] = 0xda;
    view.setUint16(o, n);
    o += 2;
  }
  return o + n;
}

/** Deliver frames are carved from slabs (ByteSlab), not an 8 KiB Node pool chunk each dozen. */
const deliverSlab = new ByteSlab();

/** A non-negative safe integer the way msgpackr writes it: fixint, uint8/16/32, then float64. */
function writeUint(out: Uint8Array, view: DataView, o: number, v: number): number {
  if (v < 0x80) out[o++] = v;
  else if (v < 0x100) {
    out[o++] = 0xcc;
    out[o++] = v;
  } else if (v < 0x10000) {
    out[o++] = 0xcd;
    view.setUint16(o, v);
    o += 2;
  } else if (v <= 0xffffffff) {
    out[o++] = 0xce;
    view.setUint32(o, v);
    o += 4;
  } else {
    out[o++] = 0xcb;
    view.setFloat64(o, v);
    o += 8;
  }
  return o;
}
