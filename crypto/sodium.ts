/**
 * The readiness gate and the small helpers every crypto/ file shares. The
 * primitives themselves come from the selected backend (backend.ts: sodium-native
 * in Node, libsodium-wrappers-sumo elsewhere); everything here calls `be()`
 * synchronously, which fails with NOT_READY instead of a confusing wasm or N-API
 * error if cryptoReady() was never awaited.
 */
import type sodium from 'libsodium-wrappers-sumo';
import { be, selectBackend } from './backend.ts';
import { wasmSodium } from './backend-wasm.ts';
import { CryptoError } from './errors.ts';

let wasm: typeof sodium | undefined;

/**
 * Resolve once the crypto backend is loaded. Idempotent; await it once at start-up.
 * @example await cryptoReady(); console.log(cryptoBackend()); // 'sodium-native' in Node
 */
export async function cryptoReady(): Promise<void> {
  // The wasm instance is loaded too, in parallel, only because na() promised it to
  // code outside crypto/ (client/attachments.ts). Drop this once nothing calls na().
  const [, w] = await Promise.all([selectBackend(), wasm ? Promise.resolve(wasm) : wasmSodium()]);
  wasm = w;
}

/**
 * The loaded libsodium.js (wasm) instance, whatever backend is selected.
 * @deprecated Use the functions of crypto/ (sha256, randomBytes, …) so the fast
 * backend is used; kept for callers outside crypto/ written before backends existed.
 */
export function na(): typeof sodium {
  if (!wasm) throw new CryptoError('NOT_READY');
  return wasm;
}

/** BLAKE2b-256 of `data`. */
export function hash32(data: Uint8Array): Uint8Array {
  return be().generichash(32, data);
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
