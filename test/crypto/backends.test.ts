import { code } from './fixtures.ts';
// Both crypto backends in one process: each reproduces the committed vectors and
// agrees with libsodium.js on every primitive, and what one seals the other opens.
// (The whole crypto suite also runs under each: npm run test:crypto:backends.)
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cryptoReady, cryptoBackend, sealEnvelope, openEnvelope, createKeyPackages, openKeyPackage, OutboundSenderKey, ReceiverState,
  encryptAttachment, decryptAttachment, encryptAttachmentStream, decryptAttachmentStream, sealDeviceKeystore, openDeviceKeystore,
  sealKeystore, openKeystore, verifyRoster, verifyChallenge, signChallenge, DeviceKeys, sha256,
} from '../../crypto/index.ts';
import { be, loadBackend, useBackend, PWHASH, TAG_FINAL, TAG_MESSAGE, type CryptoBackendChoice } from '../../crypto/backend.ts';
import { wasmSodium } from '../../crypto/backend-wasm.ts';
import { SECRETBOX_NONCE_BYTES, SECRETBOX_TAG_BYTES, secretboxOpen, secretboxSeal } from '../../crypto/sodium.ts';
import { computeVectors, type TestVectors } from '../../crypto/vectors.ts';
import { ORDER, NOW, distribute, makeWorld, receiverFor, text, utf8, type World } from './fixtures.ts';

await cryptoReady();
const selected = cryptoBackend();
const libsodiumJs = await wasmSodium();
const committed = JSON.parse(readFileSync(new URL('../../crypto/test-vectors.json', import.meta.url), 'utf8')) as TestVectors;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const CHEAP = { opsLimit: 1, memLimit: 64 * 1024 };
/** The cheapest keystore cost accepted (libsodium INTERACTIVE). */
const KEYSTORE_CHEAP = { opsLimit: 2, memLimit: 64 * 1024 * 1024 };
const CHOICES: CryptoBackendChoice[] = ['wasm', 'native'];
const nameOf = { wasm: 'libsodium-wrappers-sumo', native: 'sodium-native' } as const;

async function* pieces(b: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < b.length; off += size) yield b.subarray(off, off + size);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Uint8Array.from(Buffer.concat(parts));
}

describe('backend selection', () => {
  it('uses the backend SEALRELAY_CRYPTO_BACKEND names, else sodium-native in Node', () => {
    const forced = process.env.SEALRELAY_CRYPTO_BACKEND;
    expect(selected).toBe(forced === 'wasm' ? 'libsodium-wrappers-sumo' : 'sodium-native');
  });

  it('names both libraries and loads each once', async () => {
    for (const c of CHOICES) {
      const b = await loadBackend(c);
      expect(b.name).toBe(nameOf[c]);
      expect(await loadBackend(c)).toBe(b);
    }
  });
});

describe.each(CHOICES)('the %s backend', (choice) => {
  beforeAll(() => useBackend(choice));
  afterAll(() => useBackend(selected === 'sodium-native' ? 'native' : 'wasm'));

  it('reproduces every committed test vector', () => {
    expect(cryptoBackend()).toBe(nameOf[choice]);
    const fresh = computeVectors();
    expect(fresh.kdf).toEqual(committed.kdf);
    expect(fresh.identity).toEqual(committed.identity);
    expect(fresh.certificate).toBe(committed.certificate);
    expect(fresh.roster).toEqual(committed.roster);
    expect(fresh.keyPackage).toBe(committed.keyPackage);
    expect(fresh.envelopes).toEqual(committed.envelopes);
  });

  it('agrees with libsodium.js on the KDF, BLAKE2b (plain, keyed, incremental), SHA-256, padding and Argon2id', () => {
    const s = be();
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const data = utf8('sealrelay backend agreement');
    for (const id of [1, 2, 300]) expect(s.kdfDerive(id, utf8('srchain1'), key)).toEqual(libsodiumJs.crypto_kdf_derive_from_key(32, id, 'srchain1', key));
    expect(s.generichash(32, data)).toEqual(libsodiumJs.crypto_generichash(32, data, null));
    expect(s.generichash(64, data, key)).toEqual(libsodiumJs.crypto_generichash(64, data, key));
    const st = s.hashInit(32);
    s.hashUpdate(st, data.subarray(0, 5));
    s.hashUpdate(st, data.subarray(5));
    expect(s.hashFinal(st)).toEqual(libsodiumJs.crypto_generichash(32, data, null));
    expect(hex(s.sha256(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(s.pad(utf8('x'), 16)).toEqual(libsodiumJs.pad(utf8('x'), 16));
    const salt = new Uint8Array(PWHASH.SALTBYTES).fill(7);
    expect(s.pwhash(32, utf8('correct horse'), salt, CHEAP.opsLimit, CHEAP.memLimit)).toEqual(
      libsodiumJs.crypto_pwhash(32, 'correct horse', salt, CHEAP.opsLimit, CHEAP.memLimit, libsodiumJs.crypto_pwhash_ALG_ARGON2ID13),
    );
  });

  it('agrees with libsodium.js on crypto_secretbox_easy, and opens only what authenticates', () => {
    const s = be();
    const key = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    const nonce = new Uint8Array(24).fill(5);
    const m = utf8('own sender key record');
    const box = s.secretboxEasy(m, nonce, key);
    expect(box).toEqual(libsodiumJs.crypto_secretbox_easy(m, nonce, key));
    expect(s.secretboxOpenEasy(box, nonce, key)).toEqual(m);
    const bad = box.slice();
    bad[0] = (bad[0] as number) ^ 1;
    expect(s.secretboxOpenEasy(bad, nonce, key)).toBeNull();
    expect(s.secretboxOpenEasy(box, nonce, key.map((b) => b ^ 1))).toBeNull();
    expect(s.secretboxOpenEasy(box.subarray(0, 15), nonce, key)).toBeNull();
    expect(s.secretboxOpenEasy(box, nonce.subarray(0, 23), key)).toBeNull();
    expect([SECRETBOX_NONCE_BYTES, SECRETBOX_TAG_BYTES]).toEqual([libsodiumJs.crypto_secretbox_NONCEBYTES, libsodiumJs.crypto_secretbox_MACBYTES]);
  });

  it('uses the libsodium constants crypto/ hard-codes', () => {
    expect(PWHASH).toEqual({
      ALG_ARGON2ID13: libsodiumJs.crypto_pwhash_ALG_ARGON2ID13,
      SALTBYTES: libsodiumJs.crypto_pwhash_SALTBYTES,
      OPSLIMIT_INTERACTIVE: libsodiumJs.crypto_pwhash_OPSLIMIT_INTERACTIVE,
      MEMLIMIT_INTERACTIVE: libsodiumJs.crypto_pwhash_MEMLIMIT_INTERACTIVE,
      OPSLIMIT_MODERATE: libsodiumJs.crypto_pwhash_OPSLIMIT_MODERATE,
      MEMLIMIT_MODERATE: libsodiumJs.crypto_pwhash_MEMLIMIT_MODERATE,
    });
    expect([TAG_MESSAGE, TAG_FINAL]).toEqual([libsodiumJs.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, libsodiumJs.crypto_secretstream_xchacha20poly1305_TAG_FINAL]);
  });

  it('takes Buffers and subarray views as input and returns plain, exact-length Uint8Arrays', () => {
    const s = be();
    const big = Buffer.alloc(100, 0x61);
    const view = big.subarray(10, 42); // 32 bytes inside a larger buffer
    const out = s.generichash(32, view);
    expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype);
    expect(out).toEqual(libsodiumJs.crypto_generichash(32, new Uint8Array(32).fill(0x61), null));
    const kp = s.signSeedKeypair(view);
    expect(Object.getPrototypeOf(kp.secretKey)).toBe(Uint8Array.prototype);
    expect(kp.secretKey.length).toBe(64);
    expect(s.verify(s.sign(view, kp.secretKey), view, kp.publicKey)).toBe(true);
    const r = s.randomBytes(24);
    expect(Object.getPrototypeOf(r)).toBe(Uint8Array.prototype);
    expect(r.length).toBe(24);
  });

  it('memzero wipes exactly the view it is given, Buffers included', () => {
    const s = be();
    const buf = Buffer.alloc(16, 0xff);
    s.memzero(buf.subarray(4, 8));
    expect([...buf]).toEqual([...Array(4).fill(0xff), 0, 0, 0, 0, ...Array(8).fill(0xff)]);
    const u = new Uint8Array(32).fill(9);
    s.memzero(u);
    expect(u.every((b) => b === 0)).toBe(true);
  });

  it('answers false or null, never throws, on forged or wrong-length input', () => {
    const s = be();
    const kp = s.signSeedKeypair(new Uint8Array(32).fill(1));
    const sig = s.sign(utf8('m'), kp.secretKey);
    expect(s.verify(sig.subarray(0, 63), utf8('m'), kp.publicKey)).toBe(false);
    expect(s.verify(new Uint8Array([...sig, 0]), utf8('m'), kp.publicKey)).toBe(false);
    expect(s.verify(sig, utf8('m'), kp.publicKey.subarray(0, 31))).toBe(false);
    const box = s.boxSeedKeypair(new Uint8Array(32).fill(2));
    expect(s.boxSealOpen(new Uint8Array(47), box.publicKey, box.secretKey)).toBeNull();
    expect(s.boxSealOpen(new Uint8Array(60), box.publicKey, box.secretKey)).toBeNull();
    const k = new Uint8Array(32);
    expect(s.aeadDecrypt(new Uint8Array(15), new Uint8Array(0), new Uint8Array(24), k)).toBeNull();
    expect(s.aeadDecrypt(new Uint8Array(40), new Uint8Array(0), new Uint8Array(24), k)).toBeNull();
    const pull = s.secretstreamInitPull(new Uint8Array(24), k);
    expect(pull).not.toBeNull();
    expect(s.secretstreamPull(pull!, new Uint8Array(16))).toBeNull();
    expect(s.secretstreamPull(pull!, new Uint8Array(40))).toBeNull();
    expect(s.secretstreamInitPull(new Uint8Array(23), k)).toBeNull();
    expect(s.unpad(new Uint8Array(0), 16)).toBeNull();
  });
});

describe.each([
  ['wasm', 'native'],
  ['native', 'wasm'],
] as [CryptoBackendChoice, CryptoBackendChoice][])('sealed under %s, opened under %s', (from, to) => {
  let w: World;
  afterAll(() => useBackend(selected === 'sodium-native' ? 'native' : 'wasm'));

  it('keys, certificates, rosters and challenge signatures made by one verify under the other', async () => {
    await useBackend(from);
    w = makeWorld();
    const sig = signChallenge(w.courier.keys, utf8('nonce'));
    await useBackend(to);
    expect(verifyRoster(w.rosterBytes, { trustedAuthorities: w.trusted, now: NOW }).hash).toEqual(w.roster.hash);
    expect(verifyChallenge(sig, utf8('nonce'), w.courier.keys.signPublicKey)).toBe(true);
    const again = DeviceKeys.deserialize(w.courier.keys.serialize());
    expect(again.boxPublicKey).toEqual(w.courier.keys.boxPublicKey);
  });

  it('key packages and envelopes', async () => {
    await useBackend(from);
    const { sk, packages } = distribute(w.dispatcher, w.roster);
    const envs = ['one', 'two', 'three'].map((m) => sealEnvelope({ senderKey: sk, sender: w.dispatcher.keys, kind: 'text', body: utf8(m), roster: w.roster }));
    await useBackend(to);
    const st = receiverFor(w.courier, w.roster, packages);
    const opened = [envs[2]!, envs[0]!, envs[1]!].map((e) => text(openEnvelope(e, { roster: w.roster, receiverState: st, expectedOrderId: ORDER }).body));
    expect(opened).toEqual(['three', 'one', 'two']);
    // And back: the receiver's backend seals a reply the sender's backend opens.
    const reply = OutboundSenderKey.create({ orderId: ORDER, epoch: 1, scope: 'shared', senderDeviceId: w.courier.keys.deviceId, now: NOW });
    const pkgs = createKeyPackages(reply, w.courier.keys, w.roster);
    const env = sealEnvelope({ senderKey: reply, sender: w.courier.keys, kind: 'status', body: utf8('picked up'), roster: w.roster });
    await useBackend(from);
    const back = new ReceiverState();
    back.install(openKeyPackage(pkgs.find((p) => p.recipientDeviceId === w.dispatcher.keys.deviceId)!.bytes, w.dispatcher.keys, w.roster));
    expect(text(openEnvelope(env, { roster: w.roster, receiverState: back, expectedOrderId: ORDER }).body)).toBe('picked up');
  });

  it('a tampered envelope is refused as BAD_SIGNATURE across backends', async () => {
    await useBackend(from);
    const { sk, packages } = distribute(w.shipper, w.roster);
    const env = sealEnvelope({ senderKey: sk, sender: w.shipper.keys, kind: 'text', body: utf8('x'), roster: w.roster });
    await useBackend(to);
    const st = receiverFor(w.consignee, w.roster, packages);
    const bad = env.slice();
    bad[bad.length - 70] = (bad[bad.length - 70] as number) ^ 1; // inside the ciphertext
    expect(code(() => openEnvelope(bad, { roster: w.roster, receiverState: st, expectedOrderId: ORDER }))).toBe('BAD_SIGNATURE');
  });

  it('secretbox records (client self-keys)', async () => {
    await useBackend(from);
    const key = new Uint8Array(32).fill(3);
    const sealed = secretboxSeal(key, utf8('chain key record'));
    await useBackend(to);
    expect(secretboxOpen(key, sealed)).toEqual(utf8('chain key record'));
    expect(secretboxOpen(new Uint8Array(32).fill(4), sealed)).toBeNull();
  });

  it('attachments, whole and streamed', async () => {
    await useBackend(from);
    const data = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7) & 0xff);
    const whole = encryptAttachment(data, { chunkSize: 4096 });
    const stream = encryptAttachmentStream(pieces(data, 1000), { chunkSize: 4096 });
    const cparts: Uint8Array[] = [];
    let r = await stream.next();
    while (!r.done) {
      cparts.push(r.value);
      r = await stream.next();
    }
    const descriptor = r.value;
    await useBackend(to);
    expect(decryptAttachment(whole.ciphertext, whole.descriptor)).toEqual(data);
    const streamed = Uint8Array.from(Buffer.concat(cparts));
    expect(await collect(decryptAttachmentStream(pieces(streamed, 777), descriptor))).toEqual(data);
    const cut = streamed.subarray(0, 24 + 2 * (4096 + 17)); // header and two whole chunks: the final one is missing
    await expect(collect(decryptAttachmentStream(pieces(cut, 500), descriptor))).rejects.toMatchObject({ code: 'TRUNCATED' });
    const flipped = streamed.slice();
    flipped[30] = (flipped[30] as number) ^ 1;
    await expect(collect(decryptAttachmentStream(pieces(flipped, 500), descriptor))).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
  });

  it('keystores, raw and device', async () => {
    await useBackend(from);
    const me = DeviceKeys.generate();
    const file = sealDeviceKeystore({ deviceKeys: me, state: new Map([['receiver', utf8('state')]]) }, 'pässwörd', KEYSTORE_CHEAP);
    const raw = sealKeystore(utf8('secret'), 'pw', KEYSTORE_CHEAP);
    await useBackend(to);
    const back = openDeviceKeystore(file, 'pässwörd');
    expect(back.deviceKeys.deviceId).toBe(me.deviceId);
    expect(text(back.state.get('receiver')!)).toBe('state');
    expect(text(openKeystore(raw, 'pw'))).toBe('secret');
    expect(code(() => openKeystore(raw, 'pW'))).toBe('BAD_PASSWORD');
  });

  it('the SHA-256 blob address is the same', async () => {
    await useBackend(from);
    const a = sha256(utf8('blob'));
    await useBackend(to);
    expect(sha256(utf8('blob'))).toEqual(a);
  });
});
