/**
 * The opaque test payload the peers carry (sealrelay carries real envelopes
 * instead): 256 bytes by default, with the order, the publisher's sequence and the
 * intended send time inside, so a receiver measures latency and order from the
 * bytes alone, whatever broker they crossed.
 *
 * Layout (little-endian): "SRLT" | u32 order | u32 seq | f64 intended ms (epoch) | u8 class | filler
 * (seq is the message's sequence within its (order, class) stream; driver/streams.ts).
 */

export const PAYLOAD_MAGIC = 0x544c5253; // "SRLT" read as LE u32
export const PAYLOAD_HEADER_BYTES = 21;
export const DEFAULT_PAYLOAD_BYTES = 256;

export interface PayloadFields {
  readonly order: number;
  readonly seq: number;
  /** Intended send time, ms since the Unix epoch (fractional). */
  readonly intendedMs: number;
  /** Message class (index into the run's mix); 0 when left out. */
  readonly cls?: number;
}

export function encodePayload(f: PayloadFields, size = DEFAULT_PAYLOAD_BYTES): Uint8Array {
  if (size < PAYLOAD_HEADER_BYTES) throw new RangeError(`payload must be at least ${PAYLOAD_HEADER_BYTES} bytes`);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, PAYLOAD_MAGIC, true);
  v.setUint32(4, f.order, true);
  v.setUint32(8, f.seq, true);
  v.setFloat64(12, f.intendedMs, true);
  v.setUint8(20, f.cls ?? 0);
  // Non-zero filler so no transport can win by compressing zeros.
  for (let i = PAYLOAD_HEADER_BYTES; i < size; i++) out[i] = (i * 31 + f.seq) & 0xff;
  return out;
}

/** Decode, or undefined for bytes that are not ours (counted as phantom by the caller). */
export function decodePayload(bytes: Uint8Array): Required<PayloadFields> | undefined {
  if (bytes.byteLength < PAYLOAD_HEADER_BYTES) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== PAYLOAD_MAGIC) return undefined;
  return { order: v.getUint32(4, true), seq: v.getUint32(8, true), intendedMs: v.getFloat64(12, true), cls: v.getUint8(20) };
}

/** Wall-clock ms with sub-ms precision; one clock for senders and receivers in this process. */
export function epochNowMs(): number {
  return performance.timeOrigin + performance.now();
}
