/**
 * libsodium (sumo build: the only libsodium.js build with Argon2id) behind one
 * readiness gate. Everything else in crypto/ calls `na()` synchronously, which
 * fails with NOT_READY instead of a confusing wasm error if cryptoReady() was
 * never awaited.
 */
import sodium from 'libsodium-wrappers-sumo';
import { CryptoError } from './errors.ts';

let ready = false;

/** Resolve once libsodium's wasm is loaded. Idempotent; await it once at start-up. */
export async function cryptoReady(): Promise<void> {
  if (ready) return;
  await sodium.ready;
  ready = true;
}

/** The loaded libsodium instance; internal to crypto/. */
export function na(): typeof sodium {
  if (!ready) throw new CryptoError('NOT_READY');
  return sodium;
}

/** BLAKE2b-256 of `data`. */
export function hash32(data: Uint8Array): Uint8Array {
  return na().crypto_generichash(32, data, null);
}

/** Zero a secret buffer in place; tolerant of undefined. */
export function wipe(buf: Uint8Array | undefined): void {
  if (buf) na().memzero(buf);
}

/**
 * Random bytes from the platform CSPRNG (Web Crypto getRandomValues: Node ≥ 19,
 * browsers) when present, else libsodium's. libsodium.js draws its randomness
 * through a slow JS callback (~0.5 ms per call measured here), which alone
 * capped sealing at ~2,000 envelopes/s.
 */
export function randomBytes(n: number): Uint8Array {
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.getRandomValues && n <= 65536) return c.getRandomValues(new Uint8Array(n));
  return na().randombytes_buf(n);
}

/**
 * crypto_box_seal, byte-compatible with libsodium's (ephemeral X25519 key pair,
 * nonce = BLAKE2b-192(epk || pk), output epk || crypto_box(m)), but drawing the
 * ephemeral key from randomBytes(); opens with crypto_box_seal_open.
 */
export function boxSeal(message: Uint8Array, recipientPublicKey: Uint8Array): Uint8Array {
  const s = na();
  const seed = randomBytes(32);
  const eph = s.crypto_box_seed_keypair(seed);
  wipe(seed);
  const both = new Uint8Array(64);
  both.set(eph.publicKey);
  both.set(recipientPublicKey, 32);
  const nonce = s.crypto_generichash(24, both, null);
  const c = s.crypto_box_easy(message, nonce, recipientPublicKey, eph.privateKey);
  wipe(eph.privateKey);
  const out = new Uint8Array(32 + c.length);
  out.set(eph.publicKey);
  out.set(c, 32);
  return out;
}
