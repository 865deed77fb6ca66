/**
 * Keys, made only through named factories (generate / fromSeed / deserialize).
 *
 * A device has an Ed25519 signing key and a *separate*, independently random
 * X25519 box key: the box key is never converted from the signing key, so a
 * weakness in one use cannot leak into the other.
 */
import { CryptoError } from './errors.ts';
import { Reader, Writer, base32, bytesEqual } from './encoding.ts';
import { be } from './backend.ts';
import { hash32, randomBytes, wipe } from './sodium.ts';

const TAG_AUTHORITY = 'sealrelay/authority-key/v1';
const TAG_DEVICE = 'sealrelay/device-keys/v1';
const TAG_DEVICE_ID = 'sealrelay/device-id/v1';
const TAG_FINGERPRINT = 'sealrelay/fingerprint/v1';
const TAG_CHALLENGE = 'sealrelay/challenge/v1';

/** The tenant authority: signs device certificates and order rosters. In production it lives in a KMS/HSM. */
export class AuthorityKey {
  private constructor(readonly publicKey: Uint8Array, private readonly secretKey: Uint8Array) {}

  static generate(): AuthorityKey {
    const kp = signKeypair();
    return new AuthorityKey(kp.publicKey, kp.secretKey);
  }

  /** Deterministic key from a 32-byte seed (test vectors, KMS-derived keys). */
  static fromSeed(seed: Uint8Array): AuthorityKey {
    if (seed.length !== 32) throw new CryptoError('INVALID_ARGUMENT', 'seed must be 32 bytes');
    const kp = be().signSeedKeypair(seed);
    return new AuthorityKey(kp.publicKey, kp.secretKey);
  }

  /** Secret bytes: store only inside an encrypted keystore or a KMS. */
  serialize(): Uint8Array {
    return new Writer(TAG_AUTHORITY).bytes(this.secretKey).finish();
  }

  static deserialize(bytes: Uint8Array): AuthorityKey {
    const r = new Reader(bytes, 'authority key');
    r.tag(TAG_AUTHORITY);
    const sk = r.fixed(64);
    r.end();
    return new AuthorityKey(sk.slice(32), sk);
  }

  /** Detached Ed25519 signature over already domain-tagged bytes. */
  sign(message: Uint8Array): Uint8Array {
    return be().sign(message, this.secretKey);
  }

  wipe(): void {
    wipe(this.secretKey);
  }
}

/** A fresh Ed25519 key pair; the seed is wiped (the secret key holds it anyway). */
function signKeypair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const seed = randomBytes(32);
  const kp = be().signSeedKeypair(seed);
  wipe(seed);
  return kp;
}

/** A device's two key pairs. `deviceId` is derived from the signing public key. */
export class DeviceKeys {
  readonly deviceId: string;

  private constructor(
    readonly signPublicKey: Uint8Array,
    private readonly signSecretKey: Uint8Array,
    readonly boxPublicKey: Uint8Array,
    private readonly boxSecretKey: Uint8Array,
  ) {
    this.deviceId = deviceIdFromSigningKey(signPublicKey);
  }

  static generate(): DeviceKeys {
    const s = signKeypair();
    const seed = randomBytes(32);
    const b = be().boxSeedKeypair(seed);
    wipe(seed);
    return new DeviceKeys(s.publicKey, s.secretKey, b.publicKey, b.secretKey);
  }

  /** Deterministic keys from two independent 32-byte seeds (test vectors only). */
  static fromSeeds(signSeed: Uint8Array, boxSeed: Uint8Array): DeviceKeys {
    if (signSeed.length !== 32 || boxSeed.length !== 32) throw new CryptoError('INVALID_ARGUMENT', 'seeds must be 32 bytes');
    const s = be().signSeedKeypair(signSeed);
    const b = be().boxSeedKeypair(boxSeed);
    return new DeviceKeys(s.publicKey, s.secretKey, b.publicKey, b.secretKey);
  }

  /** Secret bytes: seal them with sealKeystore(), never store them in clear. */
  serialize(): Uint8Array {
    return new Writer(TAG_DEVICE).bytes(this.signSecretKey).bytes(this.boxSecretKey).finish();
  }

  static deserialize(bytes: Uint8Array): DeviceKeys {
    const r = new Reader(bytes, 'device keys');
    r.tag(TAG_DEVICE);
    const ssk = r.fixed(64);
    const bsk = r.fixed(32);
    r.end();
    const bpk = be().boxPublicKey(bsk);
    return new DeviceKeys(ssk.slice(32), ssk, bpk, bsk);
  }

  /** Detached Ed25519 signature over already domain-tagged bytes (internal to crypto/). */
  sign(message: Uint8Array): Uint8Array {
    return be().sign(message, this.signSecretKey);
  }

  /** Open a crypto_box_seal addressed to this device's X25519 key. */
  openSealed(sealed: Uint8Array): Uint8Array {
    const plain = be().boxSealOpen(sealed, this.boxPublicKey, this.boxSecretKey);
    if (!plain) throw new CryptoError('DECRYPT_FAILED', 'sealed box does not open with this device key');
    return plain;
  }

  wipe(): void {
    wipe(this.signSecretKey);
    wipe(this.boxSecretKey);
  }
}

/**
 * Self-certifying device id: 'd_' + base32(first 16 bytes of
 * BLAKE2b-256(str('sealrelay/device-id/v1') || bytes(signPublicKey))), 28 chars.
 * 128 bits make a second key with the same id a 2^128 search.
 */
export function deviceIdFromSigningKey(signPublicKey: Uint8Array): string {
  if (!(signPublicKey instanceof Uint8Array) || signPublicKey.length !== 32) {
    throw new CryptoError('INVALID_ARGUMENT', 'signing public key must be 32 bytes');
  }
  const h = hash32(new Writer(TAG_DEVICE_ID, 64).bytes(signPublicKey).finish());
  return 'd_' + base32(h.subarray(0, 16));
}

/** Iterations of the fingerprint hash: makes grinding for a look-alike fingerprint costlier (Signal uses 5,200 SHA-512). */
export const FINGERPRINT_ITERATIONS = 1024;

/**
 * A device's 30-digit fingerprint: BLAKE2b-512 iterated FINGERPRINT_ITERATIONS
 * times over tag || signPublicKey; the first 30 bytes as six 5-byte big-endian
 * numbers, each mod 100000, as 5 digits.
 */
export function deviceFingerprint(signPublicKey: Uint8Array): string {
  const s = be();
  const input = new Writer(TAG_FINGERPRINT, 64).bytes(signPublicKey).finish();
  let h = s.generichash(64, input);
  for (let i = 1; i < FINGERPRINT_ITERATIONS; i++) {
    const next = new Uint8Array(h.length + input.length);
    next.set(h);
    next.set(input, h.length);
    h = s.generichash(64, next);
  }
  let out = '';
  for (let c = 0; c < 6; c++) {
    let v = 0;
    for (let j = 0; j < 5; j++) v = v * 256 + (h[c * 5 + j] as number);
    out += String(v % 100000).padStart(5, '0');
  }
  return out;
}

/**
 * Safety number of a pair of devices: both 30-digit fingerprints, sorted so the
 * number is the same on both sides, as 12 groups of 5 digits. Compare it out of
 * band (read aloud, QR code) to rule out a substituted key.
 */
export function safetyNumber(signPublicKeyA: Uint8Array, signPublicKeyB: Uint8Array): string {
  const [x, y] = [deviceFingerprint(signPublicKeyA), deviceFingerprint(signPublicKeyB)].sort();
  const digits = `${x}${y}`;
  return (digits.match(/.{5}/g) ?? []).join(' ');
}

function challengeMessage(challenge: Uint8Array): Uint8Array {
  return new Writer(TAG_CHALLENGE, 64 + challenge.length).bytes(challenge).finish();
}

/** Device side of challenge-response authentication. The tag keeps this signature from meaning anything else. */
export function signChallenge(deviceKeys: DeviceKeys, challenge: Uint8Array): Uint8Array {
  return deviceKeys.sign(challengeMessage(challenge));
}

/** Relay side: true iff `signature` is `signPublicKey`'s signature over the tagged challenge. Never throws on bad input. */
export function verifyChallenge(signature: Uint8Array, challenge: Uint8Array, signPublicKey: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  if (!(signPublicKey instanceof Uint8Array) || signPublicKey.length !== 32) return false;
  if (!(challenge instanceof Uint8Array)) return false;
  const s = be(); // NOT_READY is a programming error: let it surface, not read as "bad signature"
  return s.verify(signature, challengeMessage(challenge), signPublicKey);
}

/** Verify a detached signature; false (never a throw) on any malformed input. Internal helper. */
export function verifySig(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  return be().verify(signature, message, publicKey);
}

export function containsKey(keys: readonly Uint8Array[], key: Uint8Array): boolean {
  return keys.some((k) => bytesEqual(k, key));
}
