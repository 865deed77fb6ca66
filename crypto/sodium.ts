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
