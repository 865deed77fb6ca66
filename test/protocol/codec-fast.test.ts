/**
 * The codec's hand-written paths (decoding `pub`/`ack`, encoding a one-message
 * `deliver`) must answer exactly as the schema and msgpackr do. Differential tests:
 * thousands of valid, edge and broken inputs, each run through both.
 */
import { describe, expect, it } from 'vitest';
import { Packr, Unpackr } from 'msgpackr';
import { ClientFrame, ServerFrame, decodeClientFrame, decodeServerFrame, encodeDeliverOne, encodeFrame, ProtocolError, utf8Length } from '../../protocol/index.ts';
import { encodeFrameTransient } from '../../protocol/codec.ts';
import { seededRandom } from '../../loadtest/driver/schedule.ts';
import { serverFrames } from './fixtures.ts';

const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** A seeded PRNG (the load driver's mulberry32): failures reproduce. */
const rng = seededRandom;

const STRINGS = ['', 'o', 'order-1', 'x'.repeat(31), 'x'.repeat(32), 'y'.repeat(64), 'y'.repeat(65), 'z'.repeat(128), 'z'.repeat(129),
  'é'.repeat(64), 'é'.repeat(65), '😀'.repeat(32), '😀'.repeat(33), '\ud800'.repeat(42), '\ud800'.repeat(43), 'a\u0000b', 'tab\there', 'del\u007f', 'ok\u0080'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function randomValue(r: () => number): unknown {
  return pick(r, [
    () => pick(r, STRINGS),
    () => new Uint8Array(pick(r, [0, 1, 2, 300, 96 * 1024, 96 * 1024 + 1])),
    () => pick(r, [0, 1, -1, 1.5, 2 ** 32, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, -0]),
    () => null,
    () => true,
    () => [1, 2],
    () => ({ a: 1 }),
    () => undefined,
  ])();
}

function schemaAnswer(bytes: Uint8Array): { ok: true; data: unknown } | { ok: false } {
  const parsed = ClientFrame.safeParse(unpackr.unpack(bytes));
  return parsed.success ? { ok: true, data: parsed.data } : { ok: false };
}

function codecAnswer(bytes: Uint8Array): { ok: true; data: unknown } | { ok: false } {
  try {
    return { ok: true, data: decodeClientFrame(bytes) };
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return { ok: false };
  }
}

describe('codec fast paths', () => {
  it('utf8Length counts what TextEncoder produces, lone surrogates included', () => {
    const te = new TextEncoder();
    for (const s of [...STRINGS, 'a\ud83d', '\udc00x', '\ud83d\ude00\ud83d', 'ß中😀']) expect(utf8Length(s)).toBe(te.encode(s).length);
  });

  it('decodes pub and ack exactly as the schema does, for valid, edge and broken frames', () => {
    const r = rng(7);
    let accepted = 0;
    for (let i = 0; i < 6000; i++) {
      const t = pick(r, ['pub', 'ack']);
      const frame: Record<string, unknown> = t === 'pub'
        ? { t, order: 'order-1', clientMsgId: 'c-1', envelope: new Uint8Array(10) }
        : { t, order: 'order-1', seq: 5 };
      // Mutate 0..3 fields (including adding unknown ones and deleting required ones).
      const fields = [...Object.keys(frame).filter((k) => k !== 't'), 'extra', 'rid'];
      for (let m = Math.floor(r() * 4); m > 0; m--) {
        const k = pick(r, fields);
        if (r() < 0.15) delete frame[k];
        else frame[k] = randomValue(r);
      }
      const bytes = packr.pack(frame);
      const want = schemaAnswer(bytes);
      const got = codecAnswer(bytes);
      expect(got.ok, JSON.stringify(frame, (_k, v) => (v instanceof Uint8Array ? `bytes(${v.length})` : v))).toBe(want.ok);
      if (want.ok && got.ok) {
        expect(got.data).toEqual(want.data);
        expect(Object.keys(got.data as object).sort()).toEqual(Object.keys(want.data as object).sort());
        accepted++;
      }
    }
    // The generator must exercise both answers.
    expect(accepted).toBeGreaterThan(500);
    expect(accepted).toBeLessThan(5500);
  });

  it('writes a one-message deliver frame byte for byte as msgpackr does', () => {
    const r = rng(11);
    const ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Date.now(), Number.MAX_SAFE_INTEGER];
    const sizes = [1, 255, 256, 300, 600, 65535, 65536, 96 * 1024];
    const kept: Array<[Uint8Array, Uint8Array]> = [];
    for (let i = 0; i < 1500; i++) {
      const order = pick(r, STRINGS.filter((s) => s.length > 0));
      const envelope = new Uint8Array(pick(r, sizes)).map(() => Math.floor(r() * 256));
      const seq = Math.max(1, pick(r, ints));
      const prev = pick(r, ints);
      const at = pick(r, ints);
      const mine = encodeDeliverOne(order, seq, prev, envelope, at);
      const theirs = encodeFrame({ t: 'deliver', order, messages: [{ seq, prev, envelope, at }] });
      expect(Buffer.from(mine).equals(Buffer.from(theirs)), `${order.length} ${envelope.length} ${seq} ${prev} ${at}`).toBe(true);
      kept.push([mine, Uint8Array.prototype.slice.call(theirs)]);
    }
    // Frames share slabs: none may be overwritten by the ones encoded after it.
    for (const [mine, theirs] of kept) expect(Buffer.from(mine).equals(Buffer.from(theirs))).toBe(true);
  });

  it('encodes transient frames with the same bytes as encodeFrame, in one reused buffer', () => {
    const frames = Object.values(serverFrames).flat();
    expect(frames.length).toBeGreaterThan(10);
    for (const f of frames) {
      const bytes = encodeFrameTransient(f);
      expect(Buffer.from(bytes).equals(Buffer.from(encodeFrame(f)))).toBe(true);
      expect(decodeServerFrame(bytes)).toBeTruthy();
    }
    // Reused: consecutive transient frames start at the same place in the same buffer.
    const a = encodeFrameTransient(frames[0]!);
    const b = encodeFrameTransient(frames[1]!);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset);
  });

  it('gives the byte fields of decoded frames memory of their own, except a pub envelope (the hot path; stores copy what they keep)', () => {
    const input = new Uint8Array(4096);
    const put = encodeFrame({ t: 'roster_put', rid: 1, order: 'o1', roster: new Uint8Array([1, 2, 3]) });
    input.set(put, 100);
    const f = decodeClientFrame(input.subarray(100, 100 + put.length)) as { roster: Uint8Array };
    expect(Array.from(f.roster)).toEqual([1, 2, 3]);
    expect(f.roster.buffer).not.toBe(input.buffer);
    const pub = encodeFrame({ t: 'pub', order: 'o1', clientMsgId: 'c', envelope: new Uint8Array([9, 9]) });
    input.set(pub, 1000);
    const p = decodeClientFrame(input.subarray(1000, 1000 + pub.length)) as { envelope: Uint8Array };
    expect(p.envelope.buffer).toBe(input.buffer);
  });

  it('decodes deliver and puback exactly as the schema does, for valid, edge and broken frames', () => {
    const r = rng(13);
    let accepted = 0;
    const answer = (bytes: Uint8Array, decode: (b: Uint8Array) => unknown) => {
      try {
        return { ok: true, data: decode(bytes) };
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
        return { ok: false };
      }
    };
    for (let i = 0; i < 6000; i++) {
      const t = pick(r, ['deliver', 'puback']);
      const msg = (): Record<string, unknown> => ({ seq: 3, prev: 2, envelope: new Uint8Array(10), at: 1_700_000_000_000 });
      const frame: Record<string, unknown> = t === 'deliver'
        ? { t, order: 'order-1', messages: [msg(), msg()] }
        : { t, order: 'order-1', clientMsgId: 'c-1', seq: 5, duplicate: false };
      for (let m = Math.floor(r() * 4); m > 0; m--) {
        if (t === 'deliver' && Array.isArray(frame.messages) && r() < 0.5) {
          const msgs = frame.messages as Array<Record<string, unknown>>;
          const which = pick(r, ['seq', 'prev', 'envelope', 'at', 'extra', 'element', 'empty', 'many']);
          if (which === 'element' && msgs.length > 0) msgs[0] = randomValue(r) as Record<string, unknown>;
          else if (which === 'empty') frame.messages = [];
          else if (which === 'many') frame.messages = Array.from({ length: 257 }, msg);
          else if (msgs.length > 0 && msgs[0] && typeof msgs[0] === 'object') msgs[0][which] = r() < 0.15 ? undefined : randomValue(r);
          continue;
        }
        const fields = [...Object.keys(frame).filter((k) => k !== 't'), 'extra', 'rid'];
        const k = pick(r, fields);
        if (r() < 0.15) delete frame[k];
        else frame[k] = randomValue(r);
      }
      const bytes = packr.pack(frame);
      const want = answer(bytes, (b) => {
        const parsed = ServerFrame.safeParse(unpackr.unpack(b));
        if (!parsed.success) throw new ProtocolError('BAD_FRAME');
        return parsed.data;
      });
      const got = answer(bytes, decodeServerFrame);
      expect(got.ok, JSON.stringify(frame, (_k, v) => (v instanceof Uint8Array ? `bytes(${v.length})` : v))).toBe(want.ok);
      if (want.ok && got.ok) {
        expect(got.data).toEqual(want.data);
        accepted++;
      }
    }
    expect(accepted).toBeGreaterThan(500);
    expect(accepted).toBeLessThan(5500);
  });

  it('refuses ids with a lone surrogate, in the schema and the fast path alike (their UTF-8 is U+FFFD: two such ids would name one store key)', () => {
    for (const order of ['a\ud800', '\udc00b', 'x\ud83d\ude00\ud83d']) {
      expect(ClientFrame.safeParse({ t: 'sub', order, afterSeq: 0 }).success).toBe(false);
      expect(ClientFrame.safeParse({ t: 'pub', order, clientMsgId: 'c', envelope: new Uint8Array(3) }).success).toBe(false);
    }
    expect(ClientFrame.safeParse({ t: 'sub', order: 'ok-\ud83d\ude00', afterSeq: 0 }).success).toBe(true);
    // On the wire they cannot even arrive: msgpackr decodes invalid UTF-8 (a surrogate's CESU bytes) to U+FFFD.
    const frame = (orderBytes: number[]) => new Uint8Array([0x83, 0xa1, 0x74, 0xa3, ...Buffer.from('sub'), 0xa5, ...Buffer.from('order'), 0xa0 | orderBytes.length, ...orderBytes, 0xa8, ...Buffer.from('afterSeq'), 0x00]);
    expect(decodeClientFrame(frame([0x61, 0xed, 0xa0, 0x80]))).toMatchObject({ order: 'a\ufffd\ufffd\ufffd' });
  });
});
