/**
 * SodiumBackend over libsodium-wrappers-sumo (wasm): the backend that runs
 * everywhere. The sumo build because it is the only libsodium.js build with Argon2id.
 *
 * Two deliberate detours from the plain wrapper calls, both for speed under wasm:
 * randomness comes from Web Crypto getRandomValues (libsodium.js draws through a JS
 * callback, ~0.5 ms per call, which alone capped sealing at ~2,000 envelopes/s), so
 * boxSeal builds the sealed box itself from a crypto_box_easy; and kdfDerive calls
 * BLAKE2b with salt/personal directly (2.5x faster than the wrapper's
 * crypto_kdf_derive_from_key string handling; same bytes, checked in the tests).
 */
import sodium from 'libsodium-wrappers-sumo';
import type { HashState, KeyPair, SecretstreamState, SodiumBackend } from './backend.ts';
import { PWHASH } from './backend.ts';

type WasmStreamState = ReturnType<typeof sodium.crypto_secretstream_xchacha20poly1305_init_push>['state'];
type WasmHashState = ReturnType<typeof sodium.crypto_generichash_init>;

const MAX_GET_RANDOM_VALUES = 65536;

function webRandom(n: number): Uint8Array {
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.getRandomValues && n <= MAX_GET_RANDOM_VALUES) return c.getRandomValues(new Uint8Array(n));
  return sodium.randombytes_buf(n);
}

function kdfSalt(id: number): Uint8Array {
  // crypto_kdf_derive_from_key's salt: the subkey id as u64 little-endian, zero-padded to 16 bytes.
  const salt = new Uint8Array(16);
  new DataView(salt.buffer).setBigUint64(0, BigInt(id), true);
  return salt;
}
const saltCache = new Map<number, Uint8Array>();

export async function loadWasmBackend(): Promise<SodiumBackend> {
  await sodium.ready;
  const s = sodium;
  const backend: SodiumBackend = {
    name: 'libsodium-wrappers-sumo',

    signSeedKeypair(seed): KeyPair {
      const kp = s.crypto_sign_seed_keypair(seed);
      return { publicKey: kp.publicKey, secretKey: kp.privateKey };
    },
    sign: (message, secretKey) => s.crypto_sign_detached(message, secretKey),
    verify(signature, message, publicKey) {
      if (signature.length !== 64 || publicKey.length !== 32) return false;
      try {
        return s.crypto_sign_verify_detached(signature, message, publicKey);
      } catch {
        return false;
      }
    },

    boxSeedKeypair(seed): KeyPair {
      const kp = s.crypto_box_seed_keypair(seed);
      return { publicKey: kp.publicKey, secretKey: kp.privateKey };
    },
    boxPublicKey: (secretKey) => s.crypto_scalarmult_base(secretKey),
    boxSeal(message, recipientPublicKey) {
      const seed = webRandom(32);
      const eph = s.crypto_box_seed_keypair(seed);
      s.memzero(seed);
      const both = new Uint8Array(64);
      both.set(eph.publicKey);
      both.set(recipientPublicKey, 32);
      const nonce = s.crypto_generichash(24, both, null);
      const c = s.crypto_box_easy(message, nonce, recipientPublicKey, eph.privateKey);
      s.memzero(eph.privateKey);
      const out = new Uint8Array(32 + c.length);
      out.set(eph.publicKey);
      out.set(c, 32);
      return out;
    },
    boxSealOpen(sealed, publicKey, secretKey) {
      if (sealed.length < 48) return null;
      try {
        return s.crypto_box_seal_open(sealed, publicKey, secretKey);
      } catch {
        return null;
      }
    },

    aeadEncrypt: (message, ad, nonce, key) => s.crypto_aead_xchacha20poly1305_ietf_encrypt(message, ad, null, nonce, key),
    aeadEncryptInto(out, message, ad, nonce, key) {
      if (out.length !== message.length + 16) throw new RangeError('aeadEncryptInto: out must be message.length + 16 bytes');
      const c = s.crypto_aead_xchacha20poly1305_ietf_encrypt(message, ad, null, nonce, key);
      out.set(c);
    },
    aeadDecrypt(ciphertext, ad, nonce, key) {
      if (ciphertext.length < 16) return null;
      try {
        return s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, ad, nonce, key);
      } catch {
        return null;
      }
    },

    kdfDerive(subkeyId, context, key) {
      let salt = saltCache.get(subkeyId);
      if (!salt) saltCache.set(subkeyId, (salt = kdfSalt(subkeyId)));
      const personal = new Uint8Array(16);
      personal.set(context.subarray(0, 8));
      return s.crypto_generichash_blake2b_salt_personal(32, key, salt, personal);
    },
    generichash: (outLength, data, key) => s.crypto_generichash(outLength, data, key ?? null),
    hashInit(outLength) {
      const st = s.crypto_generichash_init(null, outLength);
      return { st, outLength } as unknown as HashState;
    },
    hashUpdate(state, data) {
      s.crypto_generichash_update((state as unknown as { st: WasmHashState }).st, data);
    },
    hashFinal(state) {
      const { st, outLength } = state as unknown as { st: WasmHashState; outLength: number };
      return s.crypto_generichash_final(st, outLength);
    },
    sha256: (data) => s.crypto_hash_sha256(data),

    pad: (buf, block) => s.pad(buf, block),
    unpad(buf, block) {
      try {
        return s.unpad(buf, block);
      } catch {
        return null;
      }
    },

    secretboxEasy: (message, nonce, key) => s.crypto_secretbox_easy(message, nonce, key),
    secretboxOpenEasy(box, nonce, key) {
      if (box.length < 16 || nonce.length !== 24 || key.length !== 32) return null;
      try {
        return s.crypto_secretbox_open_easy(box, nonce, key);
      } catch {
        return null;
      }
    },

    secretstreamInitPush(key) {
      const { state, header } = s.crypto_secretstream_xchacha20poly1305_init_push(key);
      return { state: state as unknown as SecretstreamState, header };
    },
    secretstreamPush: (state, message, tag) => s.crypto_secretstream_xchacha20poly1305_push(state as unknown as WasmStreamState, message, null, tag),
    secretstreamInitPull(header, key) {
      if (header.length !== 24) return null;
      try {
        return s.crypto_secretstream_xchacha20poly1305_init_pull(header, key) as unknown as SecretstreamState;
      } catch {
        return null;
      }
    },
    secretstreamPull(state, chunk) {
      if (chunk.length < 17) return null;
      try {
        const r = s.crypto_secretstream_xchacha20poly1305_pull(state as unknown as WasmStreamState, chunk, null);
        return r ? { message: r.message, tag: r.tag } : null;
      } catch {
        return null;
      }
    },
    // libsodium.js keeps the state inside the wasm heap and exposes no call to wipe or free it.
    secretstreamWipe: () => {},

    pwhash: (outLength, password, salt, opsLimit, memLimit) => s.crypto_pwhash(outLength, password, salt, opsLimit, memLimit, PWHASH.ALG_ARGON2ID13),

    randomBytes: webRandom,
    memzero: (buf) => s.memzero(buf),
  };
  return backend;
}

/** The raw libsodium.js instance, for tests that want a second opinion on a backend's bytes. */
export async function wasmSodium(): Promise<typeof sodium> {
  await sodium.ready;
  return sodium;
}
