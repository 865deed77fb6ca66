import { code } from './fixtures.ts';
import { describe, expect, it } from 'vitest';
import {
  cryptoReady, sealEnvelope, openEnvelope, decodeEnvelopeHeader, envelopeHash, ChainTracker, OutboundSenderKey,
  createKeyPackages, openKeyPackage, ReceiverState, CryptoError, paddingBlock,
} from '../../crypto/index.ts';
import { encodeKeyPackage } from '../../crypto/senderkey.ts';
import { pad, unpad } from '../../crypto/envelope.ts';
import { Writer } from '../../crypto/encoding.ts';
import { be } from '../../crypto/backend.ts';
import { NOW, ORDER, distribute, makeWorld, receiverFor, text, utf8, type Party, type World } from './fixtures.ts';

await cryptoReady();

/** The courier sends in `shared`; the shipper receives. */
function setup(from: Party['role'] = 'courier', to: Party['role'] = 'shipper', scope = 'shared') {
  const w = makeWorld();
  const sender = w.all.find((p) => p.role === from)!;
  const receiver = w.all.find((p) => p.role === to)!;
  const { sk, packages } = distribute(sender, w.roster, scope);
  const st = receiverFor(receiver, w.roster, packages);
  const open = (bytes: Uint8Array, extra: Partial<Parameters<typeof openEnvelope>[1]> = {}) =>
    openEnvelope(bytes, { roster: w.roster, receiverState: st, expectedOrderId: ORDER, ...extra });
  return { w, sender, receiver, sk, st, open };
}

describe('envelopes', () => {
  it('round-trip: sealed by the courier, opened by the shipper with body and header intact', () => {
    const { sender, sk, open, w } = setup();
    const bytes = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'status', body: utf8('picked up'), roster: w.roster });
    const got = open(bytes, { expectedScope: 'shared' });
    expect(text(got.body)).toBe('picked up');
    expect(got.header).toMatchObject({ orderId: ORDER, epoch: 1, scope: 'shared', kind: 'status', senderDeviceId: sender.keys.deviceId, index: 0 });
    expect(got.header.prevHash).toEqual(new Uint8Array(32));
    expect(got.hash).toEqual(envelopeHash(bytes));
  });

  it('expose their clear header to the relay without any key', () => {
    const { sender, sk } = setup();
    const bytes = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'location', body: utf8('31.23,121.47') });
    const h = decodeEnvelopeHeader(bytes);
    expect(h).toMatchObject({ orderId: ORDER, epoch: 1, scope: 'shared', kind: 'location', senderDeviceId: sender.keys.deviceId, index: 0 });
    expect(Buffer.from(bytes).includes(Buffer.from('31.23'))).toBe(false);
  });

  it('chain each message to the hash of the sender’s previous one', () => {
    const { sender, sk, open } = setup();
    const a = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('a') });
    const b = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('b') });
    expect(decodeEnvelopeHeader(b).prevHash).toEqual(envelopeHash(a));
    expect(text(open(a).body)).toBe('a');
    expect(text(open(b).body)).toBe('b');
  });

  it('pad bodies to buckets so close lengths give equal ciphertext sizes', () => {
    const { sender, sk } = setup();
    const sizes = [1, 10, 25].map((n) => sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: new Uint8Array(n) }).length);
    expect(new Set(sizes).size).toBe(1);
    expect(paddingBlock(100)).toBe(64);
    expect(paddingBlock(2000)).toBe(512);
    expect(paddingBlock(20000)).toBe(4096);
  });

  it('pad exactly like sodium_pad of the backend in use, and unpad what sodium_pad produced, for every bucket boundary', () => {
    const s = be();
    for (const n of [0, 1, 63, 64, 65, 1000, 1023, 1024, 1025, 16383, 16384, 16385, 40000]) {
      const plain = new Uint8Array(n).fill(0x61);
      const block = paddingBlock(n);
      const ours = pad(plain, block);
      expect(ours).toEqual(s.pad(plain, block));
      expect(unpad(ours, paddingBlock(ours.length))).toEqual(plain);
      expect(s.unpad(ours, paddingBlock(ours.length))).toEqual(plain);
    }
    expect(() => unpad(new Uint8Array(64), 64)).toThrow(CryptoError);
    expect(s.unpad(new Uint8Array(64), 64)).toBeNull();
  });

  it('open in any order and reject a replayed envelope with REPLAY', () => {
    const { sender, sk, open } = setup();
    const envs = [0, 1, 2].map((i) => sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8(`m${i}`) }));
    expect(text(open(envs[2]!).body)).toBe('m2');
    expect(text(open(envs[0]!).body)).toBe('m0');
    expect(code(() => open(envs[0]!))).toBe('REPLAY');
    expect(text(open(envs[1]!).body)).toBe('m1');
    expect(code(() => open(envs[2]!))).toBe('REPLAY');
  });

  it('with a tampered header, nonce, ciphertext or signature never open', () => {
    const { sender, sk, open } = setup();
    const bytes = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('hello') });
    for (let i = 0; i < bytes.length; i++) {
      const t = bytes.slice();
      t[i]! ^= 0x01;
      expect(() => open(t), `byte ${i}`).toThrow(CryptoError);
    }
    // ...and the untampered one still opens afterwards: failures consumed nothing.
    expect(text(open(bytes).body)).toBe('hello');
  });

  it('re-signed by the sender after the ciphertext was changed fail to decrypt (AEAD), not silently', () => {
    const { sender, sk, open } = setup();
    const bytes = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('hello') });
    const t = bytes.slice(0, bytes.length - 68);
    t[t.length - 3]! ^= 1;
    const resigned = new Uint8Array(t.length + 68);
    resigned.set(t);
    resigned.set([0, 0, 0, 64], t.length);
    resigned.set(sender.keys.sign(t), t.length + 4);
    expect(code(() => open(resigned))).toBe('DECRYPT_FAILED');
  });

  it('cannot be opened by a reader without the key package (wrong key)', () => {
    const { w, sender, sk } = setup();
    const bytes = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('x') });
    expect(code(() => openEnvelope(bytes, { roster: w.roster, receiverState: new ReceiverState(), expectedOrderId: ORDER }))).toBe('UNKNOWN_SENDER_KEY');
  });

  it('whose body names another kind than the header are rejected with KIND_MISMATCH', () => {
    const { sender, sk, open } = setup();
    // A buggy or malicious sender: header says 'text', encrypted body says 'proof_of_delivery'.
    const bytes = sealMismatched(sk, sender, 'text', 'proof_of_delivery');
    expect(code(() => open(bytes))).toBe('KIND_MISMATCH');
  });

  it('moved to another order, or delivered for another scope, are rejected with WRONG_CONTEXT', () => {
    const { sender, sk, open } = setup();
    const bytes = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('x') });
    expect(code(() => open(bytes, { expectedOrderId: 'order-other' }))).toBe('WRONG_CONTEXT');
    expect(code(() => open(bytes, { expectedScope: 'commercial' }))).toBe('WRONG_CONTEXT');
  });

  it('whose header was rewritten to another order or scope fail (signature and AD bind the header)', () => {
    const { sender, sk, open } = setup();
    const bytes = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('x') });
    const moved = rewrite(bytes, 'shared', 'sharex');
    expect(() => decodeEnvelopeHeader(moved)).not.toThrow();
    expect(code(() => open(moved))).toBe('BAD_SIGNATURE');
  });

  it('signed by one member but naming another as sender are rejected', () => {
    const { w, sk, open } = setup();
    // The consignee signs an envelope that names the courier as sender, reusing the courier's header.
    const honest = sealEnvelope({ senderKey: sk, sender: w.courier.keys, kind: 'location', body: utf8('x') });
    const body = honest.slice(0, honest.length - 68);
    const forged = new Uint8Array(honest.length);
    forged.set(body);
    forged.set([0, 0, 0, 64], body.length);
    forged.set(w.consignee.keys.sign(body), body.length + 4);
    expect(code(() => open(forged))).toBe('BAD_SIGNATURE');
  });

  it('cannot be sealed with a sender key of another device', () => {
    const { w, sk } = setup();
    expect(code(() => sealEnvelope({ senderKey: sk, sender: w.consignee.keys, kind: 'text', body: utf8('x') }))).toBe('INVALID_ARGUMENT');
  });
});

describe('role policy on envelopes', () => {
  it('a consignee cannot publish location: the sender refuses and every receiver refuses', () => {
    const { w, sender, sk, open } = setup('consignee', 'shipper');
    expect(code(() => sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'location', body: utf8('x'), roster: w.roster }))).toBe('POLICY_DENIED');
    const bytes = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'location', body: utf8('x') }); // a modified client skips the check
    expect(code(() => open(bytes))).toBe('POLICY_DENIED');
  });

  it('a courier cannot read the commercial scope: no key package is made for it and it cannot open the envelopes', () => {
    const w = makeWorld();
    const { sk, packages } = distribute(w.shipper, w.roster, 'commercial');
    expect(packages.some((p) => p.recipientDeviceId === w.courier.keys.deviceId)).toBe(false);
    const bytes = sealEnvelope({ senderKey: sk, sender: w.shipper.keys, kind: 'order', body: utf8('declared value 9,800 CNY'), roster: w.roster });
    // Even a package addressed to the dispatcher does not open for the courier.
    expect(code(() => openKeyPackage(packages[0]!.bytes, w.courier.keys, w.roster))).toBe('WRONG_RECIPIENT');
    expect(code(() => openEnvelope(bytes, { roster: w.roster, receiverState: new ReceiverState(), expectedOrderId: ORDER }))).toBe('UNKNOWN_SENDER_KEY');
    // A shipper who wrongly seals a commercial key to the courier is caught by the courier's own client.
    const wrongful = encodeKeyPackageTo(w, sk);
    expect(code(() => openKeyPackage(wrongful, w.courier.keys, w.roster))).toBe('POLICY_DENIED');
  });
});


function encodeKeyPackageTo(w: World, sk: OutboundSenderKey): Uint8Array {
  const sealed = be().boxSeal(new Uint8Array(10), w.courier.keys.boxPublicKey);
  return encodeKeyPackage({ orderId: ORDER, epoch: 1, scope: sk.scope, senderDeviceId: w.shipper.keys.deviceId, recipientDeviceId: w.courier.keys.deviceId, senderKeyId: sk.senderKeyId }, sealed, w.shipper.keys);
}

/** Seal like sealEnvelope but put `bodyKind` inside the encrypted body. */
function sealMismatched(sk: OutboundSenderKey, sender: Party, headerKind: string, bodyKind: string): Uint8Array {
  const s = be();
  const { index, messageKey } = sk.advance();
  const w = new Writer('sealrelay/envelope/v1').u32(1).id(sk.orderId).u32(sk.epoch).str(sk.scope).str(headerKind).id(sk.senderDeviceId).bytes(sk.senderKeyId).u32(index).bytes(sk.prevHash);
  const header = w.finish();
  const plain = new Writer('sealrelay/body/v1').str(bodyKind).bytes(utf8('x')).finish();
  const nonce = s.randomBytes(24);
  const ct = s.aeadEncrypt(s.pad(plain, 64), header, nonce, messageKey);
  w.bytes(nonce).bytes(ct);
  return w.bytes(sender.keys.sign(w.finish())).finish();
}

/** Replace the first occurrence of an equally long string in the bytes. */
function rewrite(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const at = Buffer.from(bytes).indexOf(Buffer.from(from));
  const out = bytes.slice();
  out.set(utf8(to), at);
  return out;
}

describe('a chain tracker', () => {
  function run(order: number[], drop: number[] = []) {
    const { sender, sk } = setup();
    const envs = [0, 1, 2, 3, 4].map(() => sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('x') }));
    const t = new ChainTracker();
    return order.filter((i) => !drop.includes(i)).flatMap((i) => t.observe(decodeEnvelopeHeader(envs[i]!), envelopeHash(envs[i]!)));
  }

  it('reports nothing for one sender’s messages in order', () => {
    expect(run([0, 1, 2, 3, 4])).toEqual([]);
  });

  it('reports a dropped message as a gap with the expected and received index', () => {
    const warnings = run([0, 1, 2, 3, 4], [2]);
    expect(warnings).toEqual([expect.objectContaining({ type: 'gap', expectedIndex: 2, gotIndex: 3 })]);
  });

  it('reports a reordered message as a gap then a reorder, with the links still checked', () => {
    const warnings = run([0, 2, 1, 3]);
    expect(warnings.map((w) => w.type)).toEqual(['gap', 'reorder']);
  });

  it('reports a replayed message', () => {
    expect(run([0, 1, 1]).map((w) => w.type)).toEqual(['replay']);
  });

  it('reports a substituted message whose hash breaks the chain', () => {
    const { sender, sk } = setup();
    const a = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('a') });
    sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('b') }); // never delivered
    const c = sealEnvelope({ senderKey: sk, sender: sender.keys, kind: 'text', body: utf8('c') });
    const t = new ChainTracker();
    t.observe(decodeEnvelopeHeader(a), envelopeHash(a));
    // A relay relabels nothing (it cannot), but an envelope that claims index 1 with another predecessor is caught:
    const fake = { ...decodeEnvelopeHeader(c), index: 1 };
    expect(t.observe(fake, envelopeHash(c)).map((w) => w.type)).toEqual(['chain_break']);
  });
});

describe('sender keys across devices', () => {
  it('a new member key package for a later chain does not open earlier messages (forward secrecy of the chain)', () => {
    const w = makeWorld();
    const sk = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: w.courier.keys.deviceId, now: NOW });
    const early = sealEnvelope({ senderKey: sk, sender: w.courier.keys, kind: 'text', body: utf8('early') });
    const late = createKeyPackages(sk, w.courier.keys, w.roster); // packaged at index 1
    const st = receiverFor(w.shipper, w.roster, late);
    expect(code(() => openEnvelope(early, { roster: w.roster, receiverState: st, expectedOrderId: ORDER }))).toBe('REPLAY');
    const next = sealEnvelope({ senderKey: sk, sender: w.courier.keys, kind: 'text', body: utf8('next') });
    expect(text(openEnvelope(next, { roster: w.roster, receiverState: st, expectedOrderId: ORDER }).body)).toBe('next');
  });
});
