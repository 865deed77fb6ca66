/**
 * The narrow libsodium surface crypto/ uses, and which library provides it.
 *
 * Two implementations behind one interface: `libsodium-wrappers-sumo` (wasm; runs
 * everywhere: browsers, WeChat mini-programs, Node) and `sodium-native` (the C
 * library through N-API; Node only, several times faster; see crypto/README.md
 * "Backends"). Both produce identical bytes for every deterministic operation (the
 * test vectors run under each), and what one seals the other opens.
 *
 * Selection, once, in cryptoReady(): SEALRELAY_CRYPTO_BACKEND=wasm|native forces one;
 * otherwise sodium-native when running in Node and it loads, else wasm.
 *
 * Conventions of every implementation: inputs are any Uint8Array view (a Node Buffer
 * is one); outputs are fresh, plain Uint8Arrays of their exact length (never Buffers
 * from Node's shared pool, so wiping one wipes nothing else and `toEqual` compares
 * bytes only). Checks of attacker-supplied data return false/null instead of throwing,
 * including for wrong lengths; the caller turns that into its CryptoError.
 */
import { CryptoError } from './errors.ts';

export type CryptoBackendName = 'libsodium-wrappers-sumo' | 'sodium-native';

/** Opaque per-backend state objects: a wasm heap address or a native state buffer. */
export type SecretstreamState = { readonly __secretstream: unique symbol };
export type HashState = { readonly __generichash: unique symbol };

export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** crypto_secretstream_xchacha20poly1305 tags (libsodium ABI constants, identical in both libraries). */
export const TAG_MESSAGE = 0;
export const TAG_FINAL = 3;

/** crypto_pwhash constants (libsodium ABI; test/crypto/backends.test.ts checks both libraries agree). */
export const PWHASH = {
  ALG_ARGON2ID13: 2,
  SALTBYTES: 16,
  OPSLIMIT_INTERACTIVE: 2,
  MEMLIMIT_INTERACTIVE: 64 * 1024 * 1024,
  OPSLIMIT_MODERATE: 3,
  MEMLIMIT_MODERATE: 256 * 1024 * 1024,
} as const;

export interface SodiumBackend {
  readonly name: CryptoBackendName;

  /** Ed25519 key pair from a 32-byte seed (secretKey = seed ‖ publicKey, 64 bytes). */
  signSeedKeypair(seed: Uint8Array): KeyPair;
  /** Detached Ed25519 signature (64 bytes). */
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  /** false on a bad signature or wrong-length input; libsodium rejects non-canonical signatures. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;

  /** X25519 key pair from a 32-byte seed (crypto_box_seed_keypair). */
  boxSeedKeypair(seed: Uint8Array): KeyPair;
  /** X25519 public key of a secret key (crypto_scalarmult_base). */
  boxPublicKey(secretKey: Uint8Array): Uint8Array;
  /** crypto_box_seal: epk ‖ crypto_box(m, nonce = BLAKE2b-192(epk ‖ pk)). */
  boxSeal(message: Uint8Array, recipientPublicKey: Uint8Array): Uint8Array;
  /** crypto_box_seal_open; null if it does not open with this key pair. */
  boxSealOpen(sealed: Uint8Array, publicKey: Uint8Array, secretKey: Uint8Array): Uint8Array | null;

  /** XChaCha20-Poly1305-IETF, combined mode (ciphertext ‖ 16-byte tag). */
  aeadEncrypt(message: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** aeadEncrypt written into `out` (exactly message.length + 16 bytes; may be a view into a larger buffer). */
  aeadEncryptInto(out: Uint8Array, message: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): void;
  /** null if it does not authenticate (or is shorter than its tag). */
  aeadDecrypt(ciphertext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null;

  /** crypto_kdf_derive_from_key(32, subkeyId, context (8 bytes), key (32 bytes)): BLAKE2b keyed, salt = id, personal = context. */
  kdfDerive(subkeyId: number, context: Uint8Array, key: Uint8Array): Uint8Array;
  /** BLAKE2b (crypto_generichash), optionally keyed. */
  generichash(outLength: number, data: Uint8Array, key?: Uint8Array): Uint8Array;
  hashInit(outLength: number): HashState;
  hashUpdate(state: HashState, data: Uint8Array): void;
  hashFinal(state: HashState): Uint8Array;
  /** SHA-256 (crypto_hash_sha256): the relay's blob addresses. */
  sha256(data: Uint8Array): Uint8Array;

  /**
   * sodium_pad / sodium_unpad. envelope.ts pads with its own byte-identical JS copy
   * (cheaper than a library call for a few bytes of marker); these are the reference
   * it is tested against under each backend. unpad returns null on bad padding.
   */
  pad(buf: Uint8Array, block: number): Uint8Array;
  unpad(buf: Uint8Array, block: number): Uint8Array | null;

  /**
   * crypto_secretbox_easy (XSalsa20-Poly1305): 16-byte tag ‖ ciphertext. Only for the
   * at-rest records that were written with it before crypto/ had sealState (client
   * self-keys); new formats use aeadEncrypt.
   */
  secretboxEasy(message: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** crypto_secretbox_open_easy; null if it does not authenticate (or any length is wrong). */
  secretboxOpenEasy(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null;

  /** crypto_secretstream_xchacha20poly1305. */
  secretstreamInitPush(key: Uint8Array): { state: SecretstreamState; header: Uint8Array };
  secretstreamPush(state: SecretstreamState, message: Uint8Array, tag: number): Uint8Array;
  /** null if the header is not 24 bytes. */
  secretstreamInitPull(header: Uint8Array, key: Uint8Array): SecretstreamState | null;
  /** null if the chunk does not authenticate. */
  secretstreamPull(state: SecretstreamState, chunk: Uint8Array): { message: Uint8Array; tag: number } | null;
  /** Wipe the stream state (it holds the stream key) once the stream is done. */
  secretstreamWipe(state: SecretstreamState): void;

  /** Argon2id13 (crypto_pwhash with ALG_ARGON2ID13); password as bytes so the caller can wipe them. */
  pwhash(outLength: number, password: Uint8Array, salt: Uint8Array, opsLimit: number, memLimit: number): Uint8Array;

  /** The library's CSPRNG. */
  randomBytes(n: number): Uint8Array;
  /** Zero in place (sodium_memzero natively; a plain fill under wasm, which has no better option). */
  memzero(buf: Uint8Array): void;
}

const NAMES = { wasm: 'libsodium-wrappers-sumo', native: 'sodium-native' } as const satisfies Record<string, CryptoBackendName>;
export type CryptoBackendChoice = keyof typeof NAMES;

let current: SodiumBackend | undefined;
const loaded = new Map<CryptoBackendName, SodiumBackend>();
let nativeError: unknown;

/** The backend in use; NOT_READY before cryptoReady(). Internal to crypto/ (and its tests). */
export function be(): SodiumBackend {
  if (!current) throw new CryptoError('NOT_READY');
  return current;
}

/**
 * Which library does the cryptography in this process, once cryptoReady() resolved.
 * @example await cryptoReady(); log.info({ backend: cryptoBackend() }, 'crypto ready');
 */
export function cryptoBackend(): CryptoBackendName {
  return be().name;
}

/** Load one backend (memoised). Throws CryptoError NOT_READY naming the cause if it cannot load. */
export async function loadBackend(choice: CryptoBackendChoice): Promise<SodiumBackend> {
  const name = NAMES[choice];
  const have = loaded.get(name);
  if (have) return have;
  let b: SodiumBackend;
  if (choice === 'wasm') {
    b = await (await import('./backend-wasm.ts')).loadWasmBackend();
  } else {
    try {
      b = await (await import('./backend-native.ts')).loadNativeBackend();
    } catch (e) {
      nativeError = e;
      throw new CryptoError('NOT_READY', `sodium-native did not load (${e instanceof Error ? e.message : String(e)}); install it for this platform or use SEALRELAY_CRYPTO_BACKEND=wasm`);
    }
  }
  loaded.set(name, b);
  return b;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

function requestedBackend(): CryptoBackendChoice | undefined {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.SEALRELAY_CRYPTO_BACKEND;
  if (v === undefined || v === '' || v === 'auto') return undefined;
  if (v === 'wasm' || v === 'native') return v;
  throw new CryptoError('INVALID_ARGUMENT', `SEALRELAY_CRYPTO_BACKEND=${v}; use wasm, native or leave it unset`);
}

/** Select the backend once (see the file comment); later calls return at once. */
export async function selectBackend(): Promise<SodiumBackend> {
  if (current) return current;
  const forced = requestedBackend();
  if (forced) {
    current = await loadBackend(forced);
  } else if (isNode()) {
    current = await loadBackend('native').catch(() => loadBackend('wasm'));
  } else {
    current = await loadBackend('wasm');
  }
  return current;
}

/**
 * Switch the process to another backend (tests and the benchmark only: objects that
 * hold backend state, i.e. an unfinished AttachmentSealer/Opener, keep the backend
 * they were created with).
 */
export async function useBackend(choice: CryptoBackendChoice): Promise<void> {
  current = await loadBackend(choice);
}

/**
 * The libraries loaded in this process so far (diagnostics, and the test that Node with
 * sodium-native never loads the ~7 MiB wasm instance it does not use).
 */
export function loadedBackends(): CryptoBackendName[] {
  return [...loaded.keys()];
}

/** Why sodium-native did not load, if it was tried and failed (diagnostics). */
export function nativeLoadError(): unknown {
  return nativeError;
}
