import { describe, expect, it } from 'vitest';
import {
  cryptoReady, decodeCertificate, decodeRoster, decodeEnvelopeHeader, decodeKeyPackageHeader, decodeEnvelope, decodeKeyPackage,
  verifyCertificate, verifyRoster, openKeyPackage, openEnvelope, sealEnvelope, sealKeystore, ReceiverState,
  OutboundSenderKey, DeviceKeys, AuthorityKey, CryptoError,
} from '../../crypto/index.ts';
import { decodeKeystore } from '../../crypto/keystore.ts';
import { Reader, Writer } from '../../crypto/encoding.ts';
import { NOW, ORDER, distribute, makeWorld, receiverFor, utf8 } from './fixtures.ts';

await cryptoReady();

const w = makeWorld();
const { sk, packages } = distribute(w.courier, w.roster);
const st = receiverFor(w.shipper, w.roster, packages);
const envelope = sealEnvelope({ senderKey: sk, sender: w.courier.keys, kind: 'text', body: utf8('hello') });
const keystore = sealKeystore(new Uint8Array([1, 2, 3]), 'pw');
const samples: Record<string, { bytes: Uint8Array; decode: (b: Uint8Array) => unknown }> = {
  certificate: { bytes: w.courier.cert, decode: (b) => { decodeCertificate(b); return verifyCertificate(b, w.trusted, NOW); } },
  roster: { bytes: w.rosterBytes, decode: (b) => { decodeRoster(b); return verifyRoster(b, { trustedAuthorities: w.trusted, now: NOW }); } },
  keyPackage: {
    bytes: packages.find((p) => p.recipientDeviceId === w.shipper.keys.deviceId)!.bytes,
    decode: (b) => { decodeKeyPackageHeader(b); decodeKeyPackage(b); return openKeyPackage(b, w.shipper.keys, w.roster); },
  },
  envelope: {
    bytes: envelope,
    decode: (b) => { decodeEnvelopeHeader(b); decodeEnvelope(b); return openEnvelope(b, { roster: w.roster, receiverState: st, expectedOrderId: ORDER }); },
  },
  deviceKeys: { bytes: w.courier.keys.serialize(), decode: (b) => DeviceKeys.deserialize(b) },
  authorityKey: { bytes: w.authority.serialize(), decode: (b) => AuthorityKey.deserialize(b) },
  receiverState: { bytes: st.serialize(), decode: (b) => ReceiverState.deserialize(b) },
  outboundSenderKey: { bytes: sk.serialize(), decode: (b) => OutboundSenderKey.deserialize(b) },
  // The structure and parameter checks openKeystore runs before deriving anything: a mutation that
  // keeps the structure would cost a full Argon2id derivation (64 MiB) each. Opening: keystore.test.ts.
  keystore: { bytes: keystore, decode: (b) => decodeKeystore(b) },
};

/** Deterministic PRNG so a failure is reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function onlyCryptoErrors(f: () => unknown, label: string): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof CryptoError)) throw new Error(`${label}: ${String(e)}`, { cause: e });
  }
}

describe('every decoder', () => {
  for (const [name, { bytes, decode }] of Object.entries(samples)) {
    it(`${name}: every truncation throws MALFORMED (or another typed CryptoError), never a crash`, () => {
      for (let n = 0; n < bytes.length; n++) {
        try {
          decode(bytes.subarray(0, n));
          throw new Error(`truncated ${name} to ${n} bytes decoded`);
        } catch (e) {
          expect(e, `${name} cut at ${n}`).toBeInstanceOf(CryptoError);
        }
      }
    });

    it(`${name}: random bytes and random mutations only ever throw CryptoError`, () => {
      const r = rng(name.length * 7919);
      for (let k = 0; k < 300; k++) {
        const rand = new Uint8Array(Math.floor(r() * 300));
        for (let i = 0; i < rand.length; i++) rand[i] = Math.floor(r() * 256);
        onlyCryptoErrors(() => decode(rand), `${name} random #${k}`);
        const mut = bytes.slice();
        for (let j = 0; j < 1 + Math.floor(r() * 4); j++) mut[Math.floor(r() * mut.length)] = Math.floor(r() * 256);
        onlyCryptoErrors(() => decode(mut), `${name} mutation #${k}`);
      }
    });

    it(`${name}: trailing bytes are MALFORMED`, () => {
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expect(() => decode(longer)).toThrow(CryptoError);
    });
  }

  it('random bytes given to the header decoders are MALFORMED specifically', () => {
    const r = rng(42);
    for (let k = 0; k < 500; k++) {
      const rand = new Uint8Array(Math.floor(r() * 200));
      for (let i = 0; i < rand.length; i++) rand[i] = Math.floor(r() * 256);
      for (const f of [decodeEnvelopeHeader, decodeKeyPackageHeader, decodeCertificate, decodeRoster]) {
        expect(() => f(rand)).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
      }
    }
  });

  it('a length prefix claiming 4 GiB is refused before anything is allocated', () => {
    const b = new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    expect(() => decodeEnvelopeHeader(b)).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
  });

});

describe('exactly one encoding of each string', () => {
  const read = (payload: number[]) => {
    const w = new Writer('t').bytes(new Uint8Array(payload)).finish();
    const r = new Reader(w, 'test');
    r.tag('t');
    const s = r.id();
    r.end();
    return s;
  };

  it('keeps a leading UTF-8 BOM, so a BOM-prefixed id is another id, not a second encoding of the same one', () => {
    const plain = read([0x6f, 0x31]);
    const bom = read([0xef, 0xbb, 0xbf, 0x6f, 0x31]);
    expect(plain).toBe('o1');
    expect(bom).toBe('\ufeffo1');
    expect(bom).not.toBe(plain);
    expect(new Writer('t').str(bom).finish()).toEqual(new Writer('t').bytes(new Uint8Array([0xef, 0xbb, 0xbf, 0x6f, 0x31])).finish());
  });

  it('refuses non-canonical UTF-8 (overlong forms, surrogates, truncated sequences) as MALFORMED', () => {
    for (const bad of [[0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x6f, 0xe2, 0x82]]) {
      expect(() => read(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
    }
  });

  it('an envelope whose order id carries a BOM is of another order (WRONG_CONTEXT), never accepted as the same one', () => {
    const h = decodeEnvelopeHeader(envelope);
    const at = 4 + 'sealrelay/envelope/v1'.length + 4;
    const ord = utf8(ORDER);
    const forged = new Uint8Array(envelope.length + 3);
    const v = new DataView(forged.buffer);
    forged.set(envelope.subarray(0, at));
    v.setUint32(at, ord.length + 3);
    forged.set([0xef, 0xbb, 0xbf], at + 4);
    forged.set(envelope.subarray(at + 4), at + 7);
    expect(h.orderId).toBe(ORDER);
    expect(decodeEnvelopeHeader(forged).orderId).toBe(`\ufeff${ORDER}`);
    expect(() => openEnvelope(forged, { roster: w.roster, receiverState: st, expectedOrderId: ORDER })).toThrow(expect.objectContaining({ code: 'WRONG_CONTEXT' }));
  });
});
