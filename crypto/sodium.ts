/**
 * The readiness gate and the small helpers every crypto/ file shares. The
 * primitives themselves come from the selected backend (backend.ts: sodium-native
 * in Node, libsodium-wrappers-sumo elsewhere); everything here calls `be()`
 * synchronously, which fails with NOT_READY instead of a confusing wasm or N-API
 * error if cryptoReady() was never awaited.
 */
import { be, selectBackend } from './backend.ts';
import { CryptoError } from './errors.ts';

/**
 * Resolve once the crypto backend is loaded. Idempotent; await it once at start-up.
 * Only the selected library is loaded: in Node with sodium-native, never the wasm one.
 * @example await cryptoReady(); console.log(cryptoBackend()); // 'sodium-native' in Node
 */
export async function cryptoReady(): Promise<void> {
  await selectBackend();
}

/** BLAKE2b-256 of `data`. */
export function hash32(data: Uint8Array): Uint8Array {
  return be().generichash(32, data);
}

/**
 * BLAKE2b (crypto_generichash) of `data`, `outLength` 16..64 bytes, keyed when `key` (16..64 bytes) is given.
 * @example const subkey = blake2b(32, utf8('my/domain/v1'), masterKey);
 */
export function blake2b(outLength: number, data: Uint8Array, key?: Uint8Array): Uint8Array {
  if (!Number.isInteger(outLength) || outLength < 16 || outLength > 64) throw new CryptoError('INVALID_ARGUMENT', 'BLAKE2b output is 16..64 bytes');
  if (key && (key.length < 16 || key.length > 64)) throw new CryptoError('INVALID_ARGUMENT', 'BLAKE2b key is 16..64 bytes');
  return be().generichash(outLength, data, key);
}

/** crypto_secretbox nonce and tag sizes (libsodium ABI). */
export const SECRETBOX_NONCE_BYTES = 24;
export const SECRETBOX_TAG_BYTES = 16;

/**
 * A random nonce ‖ crypto_secretbox_easy(plain) under a 32-byte key (XSalsa20-Poly1305).
 * Kept for at-rest records first written in this format (client self-keys); new
 * formats use sealState (keystore.ts), which also binds a label.
 * @example storage.set(k, secretboxSeal(key, plain)); const back = secretboxOpen(key, await storage.get(k));
 */
export function secretboxSeal(key: Uint8Array, plain: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new CryptoError('INVALID_ARGUMENT', 'secretbox key must be 32 bytes');
  const nonce = randomBytes(SECRETBOX_NONCE_BYTES);
  const box = be().secretboxEasy(plain, nonce, key);
  const out = new Uint8Array(nonce.length + box.length);
  out.set(nonce);
  out.set(box, nonce.length);
  return out;
}

/** Open secretboxSeal() output; null if it is too short, altered, or sealed under another key. */
export function secretboxOpen(key: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  if (key.length !== 32 || sealed.length < SECRETBOX_NONCE_BYTES + SECRETBOX_TAG_BYTES) return null;
  return be().secretboxOpenEasy(sealed.subarray(SECRETBOX_NONCE_BYTES), sealed.subarray(0, SECRETBOX_NONCE_BYTES), key);
}

/**
 * SHA-256 of `data` (the relay addresses blobs by it).
 * @example const address = sha256(ciphertext);
 */
export function sha256(data: Uint8Array): Uint8Array {
  return be().sha256(data);
}

/** Zero a secret buffer in place; tolerant of undefined. */
export function wipe(buf: Uint8Array | undefined): void {
  if (buf) be().memzero(buf);
}

/**
 * Random bytes from the backend's CSPRNG (libsodium's natively; Web Crypto
 * getRandomValues under wasm, see backend-wasm.ts).
 * @example const nonce = randomBytes(24);
 */
export function randomBytes(n: number): Uint8Array {
  return be().randomBytes(n);
}

/** crypto_box_seal to an X25519 public key; opens with DeviceKeys.openSealed (crypto_box_seal_open). */
export function boxSeal(message: Uint8Array, recipientPublicKey: Uint8Array): Uint8Array {
  return be().boxSeal(message, recipientPublicKey);
}
