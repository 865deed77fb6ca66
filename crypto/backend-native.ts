/**
 * SodiumBackend over sodium-native (libsodium in C through N-API): Node only,
 * loaded by backend.ts with a dynamic import so browser and mini-program bundles
 * never reach it (the specifier is a variable: bundlers do not follow it).
 *
 * sodium-native writes into output buffers the caller allocates and checks their
 * lengths with assertions (throwing AssertionError), so every function here
 * allocates exact-length plain Uint8Arrays itself and checks attacker-controlled
 * lengths before calling, returning null/false instead of letting an assertion out.
 */
import type { HashState, KeyPair, SecretstreamState, SodiumBackend } from './backend.ts';
import { PWHASH } from './backend.ts';

type View = Uint8Array;

/** The part of sodium-native's API crypto/ uses (it ships no types). */
interface SodiumNative {
  crypto_sign_seed_keypair(pk: View, sk: View, seed: View): void;
  crypto_sign_detached(sig: View, m: View, sk: View): void;
  crypto_sign_verify_detached(sig: View, m: View, pk: View): boolean;
  crypto_box_seed_keypair(pk: View, sk: View, seed: View): void;
  crypto_scalarmult_base(q: View, n: View): void;
  crypto_box_seal(c: View, m: View, pk: View): void;
  crypto_box_seal_open(m: View, c: View, pk: View, sk: View): boolean;
  crypto_aead_xchacha20poly1305_ietf_encrypt(c: View, m: View, ad: View | null, nsec: null, npub: View, k: View): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(m: View, nsec: null, c: View, ad: View | null, npub: View, k: View): number;
  crypto_kdf_derive_from_key(subkey: View, subkeyId: number, ctx: View, key: View): void;
  crypto_generichash(out: View, input: View, key?: View): void;
  crypto_generichash_init(state: View, key: View | null, outLength: number): void;
  crypto_generichash_update(state: View, input: View): void;
  crypto_generichash_final(state: View, out: View): void;
  crypto_generichash_STATEBYTES: number;
  crypto_hash_sha256(out: View, input: View): void;
  sodium_pad(buf: View, unpaddedLength: number, block: number): number;
  sodium_unpad(buf: View, paddedLength: number, block: number): number;
  crypto_secretbox_easy(c: View, m: View, n: View, k: View): void;
  crypto_secretbox_open_easy(m: View, c: View, n: View, k: View): boolean;
  crypto_secretstream_xchacha20poly1305_STATEBYTES: number;
  crypto_secretstream_xchacha20poly1305_init_push(state: View, header: View, key: View): void;
  crypto_secretstream_xchacha20poly1305_push(state: View, c: View, m: View, ad: View | null, tag: number): number;
  crypto_secretstream_xchacha20poly1305_init_pull(state: View, header: View, key: View): void;
  crypto_secretstream_xchacha20poly1305_pull(state: View, m: View, tag: View, c: View, ad: View | null): number;
  crypto_pwhash(out: View, password: View, salt: View, opsLimit: number, memLimit: number, alg: number): void;
  randombytes_buf(buf: View): void;
  sodium_memzero(buf: View): void;
}

export async function loadNativeBackend(): Promise<SodiumBackend> {
  const specifier = 'sodium-native';
  const mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as { default?: SodiumNative } & SodiumNative;
  const n: SodiumNative = mod.default ?? mod;
  if (typeof n.crypto_kdf_derive_from_key !== 'function') throw new Error('sodium-native has an unexpected shape');
  const HASH_STATE = n.crypto_generichash_STATEBYTES;
  const STREAM_STATE = n.crypto_secretstream_xchacha20poly1305_STATEBYTES;

  const backend: SodiumBackend = {
    name: 'sodium-native',

    signSeedKeypair(seed): KeyPair {
      const publicKey = new Uint8Array(32);
      const secretKey = new Uint8Array(64);
      n.crypto_sign_seed_keypair(publicKey, secretKey, seed);
      return { publicKey, secretKey };
    },
    sign(message, secretKey) {
      const sig = new Uint8Array(64);
      n.crypto_sign_detached(sig, message, secretKey);
      return sig;
    },
    verify(signature, message, publicKey) {
      // sodium-native accepts a longer signature (reads the first 64 bytes); we do not.
      if (signature.length !== 64 || publicKey.length !== 32) return false;
      return n.crypto_sign_verify_detached(signature, message, publicKey);
    },

    boxSeedKeypair(seed): KeyPair {
      const publicKey = new Uint8Array(32);
      const secretKey = new Uint8Array(32);
      n.crypto_box_seed_keypair(publicKey, secretKey, seed);
      return { publicKey, secretKey };
    },
    boxPublicKey(secretKey) {
      const pk = new Uint8Array(32);
      n.crypto_scalarmult_base(pk, secretKey);
      return pk;
    },
    boxSeal(message, recipientPublicKey) {
      const c = new Uint8Array(message.length + 48);
      n.crypto_box_seal(c, message, recipientPublicKey);
      return c;
    },
    boxSealOpen(sealed, publicKey, secretKey) {
      if (sealed.length < 48 || publicKey.length !== 32 || secretKey.length !== 32) return null;
      const m = new Uint8Array(sealed.length - 48);
      if (n.crypto_box_seal_open(m, sealed, publicKey, secretKey)) return m;
      return null;
    },

    aeadEncrypt(message, ad, nonce, key) {
      const c = new Uint8Array(message.length + 16);
      n.crypto_aead_xchacha20poly1305_ietf_encrypt(c, message, ad, null, nonce, key);
      return c;
    },
    aeadEncryptInto(out, message, ad, nonce, key) {
      if (out.length !== message.length + 16) throw new RangeError('aeadEncryptInto: out must be message.length + 16 bytes');
      n.crypto_aead_xchacha20poly1305_ietf_encrypt(out, message, ad, null, nonce, key);
    },
    aeadDecrypt(ciphertext, ad, nonce, key) {
      if (ciphertext.length < 16 || nonce.length !== 24 || key.length !== 32) return null;
      const m = new Uint8Array(ciphertext.length - 16);
      try {
        n.crypto_aead_xchacha20poly1305_ietf_decrypt(m, null, ciphertext, ad, nonce, key);
        return m;
      } catch {
        return null; // 'could not verify data'; libsodium leaves m zeroed on failure
      }
    },

    kdfDerive(subkeyId, context, key) {
      const out = new Uint8Array(32);
      n.crypto_kdf_derive_from_key(out, subkeyId, context, key);
      return out;
    },
    generichash(outLength, data, key) {
      const out = new Uint8Array(outLength);
      if (key) n.crypto_generichash(out, data, key);
      else n.crypto_generichash(out, data);
      return out;
    },
    hashInit(outLength) {
      const st = new Uint8Array(HASH_STATE);
      n.crypto_generichash_init(st, null, outLength);
      return { st, outLength } as unknown as HashState;
    },
    hashUpdate(state, data) {
      n.crypto_generichash_update((state as unknown as { st: Uint8Array }).st, data);
    },
    hashFinal(state) {
      const { st, outLength } = state as unknown as { st: Uint8Array; outLength: number };
      const out = new Uint8Array(outLength);
      n.crypto_generichash_final(st, out);
      return out;
    },
    sha256(data) {
      const out = new Uint8Array(32);
      n.crypto_hash_sha256(out, data);
      return out;
    },

    pad(buf, block) {
      const out = new Uint8Array((Math.floor(buf.length / block) + 1) * block);
      out.set(buf);
      const len = n.sodium_pad(out, buf.length, block);
      return out.subarray(0, len);
    },
    unpad(buf, block) {
      if (buf.length === 0 || block < 1 || block > buf.length) return null;
      let len: number;
      try {
        len = n.sodium_unpad(buf, buf.length, block);
      } catch {
        return null;
      }
      // sodium-native 5.1.0 ignores sodium_unpad's -1 and returns whatever length was left
      // in its out-parameter (63 for 64 zero bytes), so check the marker ourselves.
      if (!Number.isInteger(len) || len < buf.length - block || len >= buf.length || buf[len] !== 0x80) return null;
      for (let i = len + 1; i < buf.length; i++) if (buf[i] !== 0) return null;
      return buf.subarray(0, len);
    },

    secretboxEasy(message, nonce, key) {
      const c = new Uint8Array(message.length + 16);
      n.crypto_secretbox_easy(c, message, nonce, key);
      return c;
    },
    secretboxOpenEasy(box, nonce, key) {
      if (box.length < 16 || nonce.length !== 24 || key.length !== 32) return null;
      const m = new Uint8Array(box.length - 16);
      return n.crypto_secretbox_open_easy(m, box, nonce, key) ? m : null;
    },

    secretstreamInitPush(key) {
      const state = new Uint8Array(STREAM_STATE);
      const header = new Uint8Array(24);
      n.crypto_secretstream_xchacha20poly1305_init_push(state, header, key);
      return { state: state as unknown as SecretstreamState, header };
    },
    secretstreamPush(state, message, tag) {
      const c = new Uint8Array(message.length + 17);
      n.crypto_secretstream_xchacha20poly1305_push(state as unknown as Uint8Array, c, message, null, tag);
      return c;
    },
    secretstreamInitPull(header, key) {
      if (header.length !== 24 || key.length !== 32) return null;
      const state = new Uint8Array(STREAM_STATE);
      n.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key);
      return state as unknown as SecretstreamState;
    },
    secretstreamPull(state, chunk) {
      if (chunk.length < 17) return null;
      const m = new Uint8Array(chunk.length - 17);
      const tag = new Uint8Array(1);
      try {
        n.crypto_secretstream_xchacha20poly1305_pull(state as unknown as Uint8Array, m, tag, chunk, null);
      } catch {
        return null;
      }
      return { message: m, tag: tag[0] as number };
    },
    secretstreamWipe(state) {
      n.sodium_memzero(state as unknown as Uint8Array);
    },

    pwhash(outLength, password, salt, opsLimit, memLimit) {
      const out = new Uint8Array(outLength);
      n.crypto_pwhash(out, password, salt, opsLimit, memLimit, PWHASH.ALG_ARGON2ID13);
      return out;
    },

    randomBytes(size) {
      const out = new Uint8Array(size);
      n.randombytes_buf(out);
      return out;
    },
    memzero: (buf) => n.sodium_memzero(buf),
  };
  return backend;
}
