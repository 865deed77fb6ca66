/**
 * envelopeRoute (the relay's allocation-free header read) must answer exactly as
 * decodeEnvelope does: same fields for every envelope decodeEnvelope accepts, an
 * error (the same code) for every one it refuses. Differential, over real envelopes,
 * every truncation, random byte flips and length-field edits.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { cryptoReady, OutboundSenderKey, sealEnvelope } from '../../crypto/index.ts';
import { decodeEnvelope, envelopeRoute } from '../../crypto/envelope.ts';
import { code, makeParty, makeWorld, NOW, utf8 } from './fixtures.ts';

function answer(f: () => { orderId: string; epoch: number; scope: string; kind: string; senderDeviceId: string; index: number }): unknown {
  try {
    const h = f();
    return { orderId: h.orderId, epoch: h.epoch, scope: h.scope, kind: h.kind, senderDeviceId: h.senderDeviceId, index: h.index };
  } catch {
    return `error ${code(f)}`;
  }
}

describe('envelopeRoute', () => {
  const envelopes: Uint8Array[] = [];
  beforeAll(async () => {
    await cryptoReady();
    const w = makeWorld();
    for (const [orderId, scope] of [['order-4711', 'shared'], ['ordre-é-ünïcode', 'shared'], ['o'.repeat(128), 'commercial']] as const) {
      const sk = OutboundSenderKey.create({ orderId, epoch: 3, scope, senderDeviceId: w.courier.keys.deviceId, now: NOW });
      for (const body of [utf8('x'), new Uint8Array(300), new Uint8Array(5000)]) envelopes.push(sealEnvelope({ senderKey: sk, sender: w.courier.keys, kind: 'location', body }));
    }
    // A device id with non-ASCII characters takes the slow path; it must still agree.
    const odd = makeParty(w.authority, 'courier', 'u-ødd');
    const sk = OutboundSenderKey.create({ orderId: 'order-4711', epoch: 1, scope: 'shared', senderDeviceId: odd.keys.deviceId, now: NOW });
    envelopes.push(sealEnvelope({ senderKey: sk, sender: odd.keys, kind: 'text', body: utf8('hi') }));
  });

  it('reads the same routing fields as decodeEnvelope from real envelopes', () => {
    for (const e of envelopes) {
      expect(answer(() => envelopeRoute(e))).toEqual(answer(() => decodeEnvelope(e).header));
      expect(typeof (answer(() => envelopeRoute(e)) as { orderId?: string }).orderId).toBe('string');
    }
  });

  it('agrees with decodeEnvelope on every truncation and on 20,000 mutated envelopes', () => {
    let seed = 99;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    let refused = 0;
    for (const e of envelopes.slice(0, 4)) {
      for (let n = 0; n < e.length; n += n < 400 ? 1 : 97) {
        const t = e.subarray(0, n);
        expect(answer(() => envelopeRoute(t)), `truncated to ${n}`).toEqual(answer(() => decodeEnvelope(t).header));
      }
    }
    for (let i = 0; i < 20_000; i++) {
      const e = envelopes[i % envelopes.length]!.slice();
      const edits = 1 + Math.floor(rnd() * 3);
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(rnd() * Math.min(e.length, rnd() < 0.7 ? 260 : e.length));
        // Mostly flip bytes; sometimes set a byte to a boundary value (lengths live in big-endian u32s).
        e[at] = rnd() < 0.5 ? e[at]! ^ (1 << Math.floor(rnd() * 8)) : [0, 1, 0x7f, 0x80, 0xff][Math.floor(rnd() * 5)]!;
      }
      const want = answer(() => decodeEnvelope(e).header);
      if (typeof want === 'string') refused++;
      expect(answer(() => envelopeRoute(e))).toEqual(want);
    }
    expect(refused).toBeGreaterThan(1000);
    expect(refused).toBeLessThan(19_000);
  });

  it('agrees with decodeEnvelope when a field is re-encoded with a wrong size (each length consistent, so only the size checks can tell)', () => {
    // Field layout: tag, version, orderId, epoch, scope, kind, sender, senderKeyId, index, prevHash, nonce, ciphertext, signature.
    const kinds = ['b', 'u', 'b', 'u', 'b', 'b', 'b', 'b', 'u', 'b', 'b', 'b', 'b'] as const;
    const parse = (e: Uint8Array): Array<Uint8Array | number> => {
      const v = new DataView(e.buffer, e.byteOffset, e.byteLength);
      let p = 0;
      return kinds.map((k) => {
        const n = v.getUint32(p);
        p += 4;
        if (k === 'u') return n;
        const b = e.slice(p, p + n);
        p += n;
        return b;
      });
    };
    const build = (fields: Array<Uint8Array | number>, extra = new Uint8Array(0)): Uint8Array => {
      const parts: number[] = [];
      const u32 = (n: number) => parts.push(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
      for (const f of fields) {
        if (typeof f === 'number') u32(f);
        else {
          u32(f.length);
          parts.push(...f);
        }
      }
      return new Uint8Array([...parts, ...extra]);
    };
    const base = parse(envelopes[0]!);
    expect(answer(() => envelopeRoute(build(base)))).toEqual(answer(() => decodeEnvelope(envelopes[0]!).header));
    const sized = (i: number, n: number) => base.map((f, j) => (j === i ? new Uint8Array(n).fill(0x61) : f));
    const cases: Array<[string, Uint8Array]> = [
      ['wrong tag', build(base.map((f, j) => (j === 0 ? utf8('sealrelay/envelope/v2') : f)))],
      ['version 2', build(base.map((f, j) => (j === 1 ? 2 : f)))],
      ['empty order id', build(sized(2, 0))],
      ['129-byte order id', build(sized(2, 129))],
      ['128-byte order id', build(sized(2, 128))],
      ['33-byte scope', build(sized(4, 33))],
      ['empty kind', build(sized(5, 0))],
      ['empty sender', build(sized(6, 0))],
      ['15-byte sender key id', build(sized(7, 15))],
      ['17-byte sender key id', build(sized(7, 17))],
      ['31-byte prev hash', build(sized(9, 31))],
      ['23-byte nonce', build(sized(10, 23))],
      ['25-byte nonce', build(sized(10, 25))],
      ['15-byte ciphertext', build(sized(11, 15))],
      ['16-byte ciphertext', build(sized(11, 16))],
      ['63-byte signature', build(sized(12, 63))],
      ['65-byte signature', build(sized(12, 65))],
      ['a byte after the signature', build(base, new Uint8Array([0]))],
    ];
    let accepted = 0;
    for (const [what, e] of cases) {
      const want = answer(() => decodeEnvelope(e).header);
      if (typeof want !== 'string') accepted++;
      expect(answer(() => envelopeRoute(e)), what).toEqual(want);
    }
    // Both answers occur: the size edits that are still valid (128-byte id, empty kind, 16-byte ciphertext) pass.
    expect(accepted).toBeGreaterThanOrEqual(3);
    expect(accepted).toBeLessThan(cases.length);
  });
});
