import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import {
  CLIENT_FRAME_TYPES,
  SERVER_FRAME_TYPES,
  ProtocolError,
  decodeClientFrame,
  decodeServerFrame,
  encodeFrame,
  MAX_FRAME_BYTES,
  MAX_ENVELOPE_BYTES,
  peekFrameType,
} from '../../protocol/index.ts';
import { clientFrames, serverFrames } from './fixtures.ts';

const rawPack = new Packr({ useRecords: false, moreTypes: false }).pack.bind(new Packr({ useRecords: false, moreTypes: false }));

/** msgpackr hands back Node Buffers (a Uint8Array subclass); compare contents, not classes. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Uint8Array.from(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function expectProtocolError(fn: () => unknown, code?: string): ProtocolError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    if (code) expect((err as ProtocolError).code).toBe(code);
    return err as ProtocolError;
  }
  throw new Error('expected a ProtocolError, got none');
}

describe('the binary codec', () => {
  it('has a fixture for every frame type in each direction', () => {
    expect(new Set(clientFrames.map((f) => f.t))).toEqual(new Set(CLIENT_FRAME_TYPES));
    expect(new Set(serverFrames.map((f) => f.t))).toEqual(new Set(SERVER_FRAME_TYPES));
  });

  it.each(clientFrames.map((f) => [f.t, f] as const))('round-trips the client frame %s', (_t, frame) => {
    expect(plain(decodeClientFrame(encodeFrame(frame)))).toEqual(frame);
  });

  it.each(serverFrames.map((f) => [f.t, f] as const))('round-trips the relay frame %s', (_t, frame) => {
    expect(plain(decodeServerFrame(encodeFrame(frame)))).toEqual(frame);
  });

  it('carries ciphertext as raw MessagePack bin bytes, not base64', () => {
    const envelope = new Uint8Array(300).fill(0xab);
    const wire = encodeFrame({ t: 'pub', order: 'o', clientMsgId: 'm', envelope });
    // bin 16 marker (0xc5) followed by the 300 raw bytes
    const idx = wire.indexOf(0xc5);
    expect(idx).toBeGreaterThan(0);
    expect(wire[idx + 1]).toBe(0x01);
    expect(wire[idx + 2]).toBe(0x2c);
    expect([...wire.subarray(idx + 3, idx + 303)].every((x) => x === 0xab)).toBe(true);
    expect(wire.byteLength).toBeLessThan(360);
  });

  it('refuses a relay-only frame sent by a client', () => {
    const wire = encodeFrame({ t: 'deliver', order: 'o', messages: [{ seq: 1, prev: 0, envelope: new Uint8Array(3), at: 0 }] });
    expectProtocolError(() => decodeClientFrame(wire), 'UNKNOWN_FRAME_TYPE');
  });

  it('refuses frames over MAX_FRAME_BYTES before decoding them', () => {
    expectProtocolError(() => decodeClientFrame(new Uint8Array(MAX_FRAME_BYTES + 1)), 'FRAME_TOO_LARGE');
  });

  it('refuses an envelope over MAX_ENVELOPE_BYTES', () => {
    const wire = encodeFrame({ t: 'pub', order: 'o', clientMsgId: 'm', envelope: new Uint8Array(MAX_ENVELOPE_BYTES + 1) });
    const err = expectProtocolError(() => decodeClientFrame(wire), 'BAD_FRAME');
    expect(err.message).toContain('envelope');
  });

  it('refuses ids that are too long or contain control characters', () => {
    expectProtocolError(() => decodeClientFrame(rawPack({ t: 'sub', order: 'x'.repeat(129), afterSeq: 0 })), 'BAD_FRAME');
    expectProtocolError(() => decodeClientFrame(rawPack({ t: 'sub', order: 'a\nb', afterSeq: 0 })), 'BAD_FRAME');
    expectProtocolError(() => decodeClientFrame(rawPack({ t: 'sub', order: '', afterSeq: 0 })), 'BAD_FRAME');
  });

  it('refuses negative, fractional or unsafe sequence numbers', () => {
    for (const afterSeq of [-1, 1.5, 2 ** 60, Number.NaN, '3']) {
      expectProtocolError(() => decodeClientFrame(rawPack({ t: 'sub', order: 'o', afterSeq })), 'BAD_FRAME');
    }
  });

  it('refuses non-map frames, missing types and unknown types with distinct codes', () => {
    expectProtocolError(() => decodeClientFrame(rawPack([1, 2, 3])), 'BAD_FRAME');
    expectProtocolError(() => decodeClientFrame(rawPack('pub')), 'BAD_FRAME');
    expectProtocolError(() => decodeClientFrame(rawPack({ order: 'o' })), 'BAD_FRAME');
    expectProtocolError(() => decodeClientFrame(rawPack({ t: 'teleport' })), 'UNKNOWN_FRAME_TYPE');
    expectProtocolError(() => decodeClientFrame(new Uint8Array(0)), 'BAD_FRAME');
  });

  it('does not let a __proto__ key pollute Object.prototype', () => {
    const evil = rawPack({ __proto__: { polluted: true }, t: 'ping' });
    try {
      decodeClientFrame(evil);
    } catch {
      /* either outcome is fine; pollution is not */
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('turns every truncation of every valid frame into a ProtocolError, never a crash', () => {
    for (const frame of clientFrames) {
      const wire = encodeFrame(frame);
      for (let n = 0; n < wire.byteLength; n++) {
        expectProtocolError(() => decodeClientFrame(wire.subarray(0, n)));
      }
    }
    for (const frame of serverFrames) {
      const wire = encodeFrame(frame);
      for (let n = 0; n < wire.byteLength; n += Math.max(1, wire.byteLength >> 6)) {
        expectProtocolError(() => decodeServerFrame(wire.subarray(0, n)));
      }
    }
  });

  it('turns 20,000 random and bit-flipped inputs into ProtocolErrors or valid frames, never anything else', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    let errors = 0;
    for (let i = 0; i < 20_000; i++) {
      let input: Uint8Array;
      if (i % 2 === 0) {
        input = new Uint8Array(Math.floor(rnd() * 64)).map(() => Math.floor(rnd() * 256));
      } else {
        const base = encodeFrame(clientFrames[i % clientFrames.length]!);
        input = Uint8Array.from(base);
        const flips = 1 + Math.floor(rnd() * 4);
        for (let k = 0; k < flips; k++) input[Math.floor(rnd() * input.length)]! ^= 1 << Math.floor(rnd() * 8);
      }
      try {
        const frame = decodeClientFrame(input);
        expect(CLIENT_FRAME_TYPES).toContain(frame.t);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(10_000);
  });

  it('peeks at a frame type without throwing', () => {
    expect(peekFrameType(encodeFrame({ t: 'ping' }))).toBe('ping');
    expect(peekFrameType(new Uint8Array([0xc1]))).toBe('unknown');
  });
});
