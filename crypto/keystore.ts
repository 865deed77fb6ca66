/**
 * Device keystore at rest: secrets and state encrypted under a key derived from
 * a password with Argon2id (crypto_pwhash), XChaCha20-Poly1305-IETF.
 *
 *   str('sealrelay/keystore/v1') u32 version u32 alg u32 opsLimit u64 memLimit
 *   bytes(16 salt) bytes(24 nonce) | bytes(ciphertext)
 * The parameters before the ciphertext are its associated data, so they cannot
 * be swapped (a downgrade attempt fails as BAD_PASSWORD).
 *
 * Default cost: OPSLIMIT_INTERACTIVE (2) with MEMLIMIT_INTERACTIVE (64 MiB).
 * MODERATE (256 MiB) is out of reach of WeChat mini-programs and low-end
 * Android phones under wasm; servers and desktops can pass KEYSTORE_STRONG.
 */
import { CryptoError } from './errors.ts';
import { Reader, Writer } from './encoding.ts';
import { DeviceKeys } from './identity.ts';
import { be, PWHASH } from './backend.ts';
import { randomBytes, wipe } from './sodium.ts';

const TAG_KEYSTORE = 'sealrelay/keystore/v1';
const TAG_CONTENTS = 'sealrelay/keystore-contents/v1';
export const KEYSTORE_VERSION = 1;

export interface KeystoreCost {
  readonly opsLimit: number;
  readonly memLimit: number;
}

/** The default: Argon2id interactive limits (see above for why not moderate). */
export function keystoreInteractive(): KeystoreCost {
  return { opsLimit: PWHASH.OPSLIMIT_INTERACTIVE, memLimit: PWHASH.MEMLIMIT_INTERACTIVE };
}

/** Argon2id moderate limits (256 MiB): for servers and desktops. */
export function keystoreStrong(): KeystoreCost {
  return { opsLimit: PWHASH.OPSLIMIT_MODERATE, memLimit: PWHASH.MEMLIMIT_MODERATE };
}

/**
 * Argon2id bounds, enforced when sealing and when opening:
 * - minimum 2 passes / 64 MiB = libsodium's INTERACTIVE limits, our default. Below it a stolen
 *   keystore is cheaper to attack than libsodium's own floor for interactive logins (and than
 *   what every device we target can afford), so such a file is neither produced nor accepted.
 * - maximum 8 passes / 256 MiB = MODERATE's memory (keystoreStrong) with headroom in passes.
 *   Opening a file is driven by its header, and the header is only authenticated *after* the
 *   key is derived: without a cap a tampered file makes a phone try to allocate 1 GiB or more
 *   (SENSITIVE), which kills a mini-program or a low-end Android app under wasm.
 * Out of range on open is MALFORMED, on seal INVALID_ARGUMENT.
 */
export const KEYSTORE_MIN_OPS = PWHASH.OPSLIMIT_INTERACTIVE;
export const KEYSTORE_MIN_MEM = PWHASH.MEMLIMIT_INTERACTIVE;
export const KEYSTORE_MAX_OPS = 8;
export const KEYSTORE_MAX_MEM = 256 * 1024 * 1024;

function costInRange(c: KeystoreCost): boolean {
  return (
    Number.isInteger(c.opsLimit) && Number.isInteger(c.memLimit) &&
    c.opsLimit >= KEYSTORE_MIN_OPS && c.opsLimit <= KEYSTORE_MAX_OPS &&
    c.memLimit >= KEYSTORE_MIN_MEM && c.memLimit <= KEYSTORE_MAX_MEM
  );
}

function deriveKey(password: string, salt: Uint8Array, cost: KeystoreCost): Uint8Array {
  // UTF-8, as libsodium.js did with a string password, but in a buffer we can wipe.
  const pw = new TextEncoder().encode(password);
  try {
    return be().pwhash(32, pw, salt, cost.opsLimit, cost.memLimit);
  } finally {
    wipe(pw);
  }
}

/**
 * Encrypt `contents` under `password`. `contents` is left untouched; wipe it yourself if it is a secret copy.
 * @example const file = sealKeystore(secrets, pw);
 */
export function sealKeystore(contents: Uint8Array, password: string, cost: KeystoreCost = keystoreInteractive()): Uint8Array {
  const s = be();
  if (password.length === 0) throw new CryptoError('INVALID_ARGUMENT', 'empty password');
  if (!costInRange(cost)) {
    throw new CryptoError('INVALID_ARGUMENT', `Argon2id cost must be ${KEYSTORE_MIN_OPS}..${KEYSTORE_MAX_OPS} passes and ${KEYSTORE_MIN_MEM}..${KEYSTORE_MAX_MEM} bytes`);
  }
  const salt = randomBytes(PWHASH.SALTBYTES);
  const nonce = randomBytes(24);
  const w = new Writer(TAG_KEYSTORE, contents.length + 256)
    .u32(KEYSTORE_VERSION)
    .u32(PWHASH.ALG_ARGON2ID13)
    .u32(cost.opsLimit)
    .u64(cost.memLimit)
    .bytes(salt)
    .bytes(nonce);
  const ad = w.finish();
  const key = deriveKey(password, salt, cost);
  try {
    return w.bytes(s.aeadEncrypt(contents, ad, nonce, key)).finish();
  } finally {
    wipe(key);
  }
}

/** @internal A keystore's parsed parts, checked (parameters in range) but not opened: no key derived. */
export function decodeKeystore(bytes: Uint8Array): { cost: KeystoreCost; salt: Uint8Array; nonce: Uint8Array; ad: Uint8Array; ciphertext: Uint8Array } {
  const r = new Reader(bytes, 'keystore');
  r.tag(TAG_KEYSTORE);
  if (r.u32() !== KEYSTORE_VERSION) r.fail('unsupported version');
  if (r.u32() !== PWHASH.ALG_ARGON2ID13) r.fail('unsupported algorithm');
  const opsLimit = r.u32();
  const memLimit = r.u64();
  // Checked before anything is derived or allocated: the header is only authenticated by the key it yields.
  if (!costInRange({ opsLimit, memLimit })) r.fail(`Argon2id parameters out of range (${opsLimit} passes, ${memLimit} bytes)`);
  const salt = r.fixed(PWHASH.SALTBYTES);
  const nonce = r.fixed(24);
  const ad = r.sliceFrom(0);
  const ciphertext = r.bytes(bytes.length);
  r.end();
  return { cost: { opsLimit, memLimit }, salt, nonce, ad, ciphertext };
}

/** Decrypt a keystore; a wrong password (or any alteration) is BAD_PASSWORD, bad structure or out-of-range parameters MALFORMED. */
export function openKeystore(bytes: Uint8Array, password: string): Uint8Array {
  const s = be();
  const { cost, salt, nonce, ad, ciphertext } = decodeKeystore(bytes);
  const key = deriveKey(password, salt, cost);
  const plain = s.aeadDecrypt(ciphertext, ad, nonce, key);
  wipe(key);
  if (!plain) throw new CryptoError('BAD_PASSWORD');
  return plain;
}

/** What a device keeps at rest: its keys plus opaque application state (sender keys, receiver state, roster pins). */
export interface DeviceSecrets {
  deviceKeys: DeviceKeys;
  /** Named opaque blobs, e.g. { 'receiver': ReceiverState.serialize(), 'out:o1:shared': OutboundSenderKey.serialize() }. */
  state: Map<string, Uint8Array>;
}

/** Seal device keys and state; intermediate plaintext copies are wiped. */
export function sealDeviceKeystore(secrets: DeviceSecrets, password: string, cost?: KeystoreCost): Uint8Array {
  const keys = secrets.deviceKeys.serialize();
  const w = new Writer(TAG_CONTENTS, 1024).bytes(keys).u32(secrets.state.size);
  for (const [name, blob] of secrets.state) w.str(name).bytes(blob);
  const plain = w.finish();
  try {
    return sealKeystore(plain, password, cost);
  } finally {
    wipe(keys);
    wipe(plain);
  }
}

export function openDeviceKeystore(bytes: Uint8Array, password: string): DeviceSecrets {
  const plain = openKeystore(bytes, password);
  try {
    const r = new Reader(plain, 'keystore contents');
    r.tag(TAG_CONTENTS);
    const deviceKeys = DeviceKeys.deserialize(r.bytes(1024));
    const n = r.u32();
    const state = new Map<string, Uint8Array>();
    for (let i = 0; i < n; i++) state.set(r.str(256), r.bytes(plain.length).slice());
    r.end();
    return { deviceKeys, state };
  } finally {
    wipe(plain);
  }
}

const TAG_STATE = 'sealrelay/state/v1';
const TAG_STORAGE_KEY = 'sealrelay/device-storage-key/v1';
const STATE_KDF_CONTEXT = new TextEncoder().encode('srstate1');

/**
 * A 32-byte key for sealState(), derived from the device's own secret keys (BLAKE2b-256 of their serialized
 * secret keys after a domain tag). It adds no secret to protect: whoever can read
 * it already holds the device keys, which live in the Argon2id keystore. Wipe it when done.
 * @example const k = deviceStorageKey(me); storage.set('receiver/o1', sealState(k, 'receiver/o1', state.serialize()));
 */
export function deviceStorageKey(deviceKeys: DeviceKeys): Uint8Array {
  const secret = deviceKeys.serialize();
  const input = new Writer(TAG_STORAGE_KEY, secret.length + 64).bytes(secret).finish();
  try {
    return be().generichash(32, input);
  } finally {
    wipe(secret);
    wipe(input);
  }
}

/**
 * Encrypt secret application state (ReceiverState.serialize(), ChainTracker.serialize(), …) at rest:
 * XChaCha20-Poly1305-IETF under a subkey of `storageKey` (crypto_kdf, context 'srstate1'), a random
 * nonce, and `label` (e.g. `receiver/${orderId}`) authenticated as associated data, so a blob cannot
 * be moved to another label.
 *
 *   str('sealrelay/state/v1') str label bytes(24 nonce) | bytes(ciphertext)   (AD = all before the ciphertext)
 *
 * It does not stop whoever controls the storage from putting back an older blob of the same label.
 */
export function sealState(storageKey: Uint8Array, label: string, plain: Uint8Array): Uint8Array {
  if (storageKey.length !== 32) throw new CryptoError('INVALID_ARGUMENT', 'storage key must be 32 bytes');
  const nonce = randomBytes(24);
  const w = new Writer(TAG_STATE, plain.length + 128).str(label).bytes(nonce);
  const ad = w.finish();
  const key = be().kdfDerive(1, STATE_KDF_CONTEXT, storageKey);
  try {
    return w.bytes(be().aeadEncrypt(plain, ad, nonce, key)).finish();
  } finally {
    wipe(key);
  }
}

/** Decrypt sealState() output: another label is WRONG_CONTEXT, another key or any alteration DECRYPT_FAILED. */
export function openState(storageKey: Uint8Array, label: string, sealed: Uint8Array): Uint8Array {
  if (storageKey.length !== 32) throw new CryptoError('INVALID_ARGUMENT', 'storage key must be 32 bytes');
  const r = new Reader(sealed, 'sealed state');
  r.tag(TAG_STATE);
  const got = r.str(1024);
  const nonce = r.fixed(24);
  const ad = r.sliceFrom(0);
  const ct = r.bytes(sealed.length);
  r.end();
  if (got !== label) throw new CryptoError('WRONG_CONTEXT', `state sealed as ${JSON.stringify(got)}, opened as ${JSON.stringify(label)}`);
  const key = be().kdfDerive(1, STATE_KDF_CONTEXT, storageKey);
  const plain = be().aeadDecrypt(ct, ad, nonce, key);
  wipe(key);
  if (!plain) throw new CryptoError('DECRYPT_FAILED', 'sealed state');
  return plain;
}
