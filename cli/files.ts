/**
 * Key, public-key and certificate files as the CLI reads and writes them.
 *
 *   authority.key  crypto's AuthorityKey.serialize() bytes, or a keystore (Argon2id) around them
 *   authority.pub  one line: the Ed25519 public key in hex (what the relay's SEALRELAY_TRUSTED_AUTHORITIES takes)
 *   device.key     crypto's DeviceKeys.serialize() bytes, or sealDeviceKeystore() output (Argon2id)
 *   device.pub     JSON {type, deviceId, signPublicKey, boxPublicKey, fingerprint}: what the device owner
 *                  hands to the authority to get a certificate, without revealing a secret
 *   device.cert    the certificate bytes exactly as crypto issues them
 *
 * Each binary format starts with crypto's domain tag, so a file's kind is read
 * from its first bytes, and handing the wrong file gets a sentence, not a stack.
 * Secrets are written with mode 0600 and never over an existing file without --force.
 */
import { constants } from 'node:fs';
import { chmod, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  AuthorityKey,
  DeviceKeys,
  decodeCertificate,
  deviceFingerprint,
  deviceIdFromSigningKey,
  isCryptoError,
  openDeviceKeystore,
  openKeystore,
  type Certificate,
} from '../crypto/index.ts';
import { CliFailure, UsageError } from './args.ts';

const TAGS = {
  authority: 'sealrelay/authority-key/v1',
  device: 'sealrelay/device-keys/v1',
  keystore: 'sealrelay/keystore/v1',
  certificate: 'sealrelay/cert/v1',
} as const;

/** The domain tag a crypto encoding starts with (u32 length, then UTF-8), or undefined. */
export function tagOf(bytes: Uint8Array): string | undefined {
  if (bytes.length < 4) return undefined;
  const n = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  if (n === 0 || n > 64 || bytes.length < 4 + n) return undefined;
  const s = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(4, 4 + n));
  return /^sealrelay\/[a-z-]+\/v\d+$/.test(s) ? s : undefined;
}

export async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliFailure(`${what} ${path} does not exist; check the path (or create it first)`);
    if (code === 'EACCES') throw new CliFailure(`${what} ${path} is not readable by this user; check its permissions`);
    if (code === 'EISDIR') throw new CliFailure(`${what} ${path} is a directory; name the file itself`);
    throw new CliFailure(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/**
 * Write a file that must not be clobbered by accident: refuses an existing path
 * unless `force`, writes to a temp file with `mode` and renames it into place
 * (a crash leaves the old file or the new one, never half of one).
 */
export async function writeNew(path: string, data: Uint8Array | string, opts: { force?: boolean; mode?: number; what: string }): Promise<void> {
  const mode = opts.mode ?? 0o644;
  if (!opts.force) {
    try {
      const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await chmod(path, mode); // the umask may have narrowed or, for 0644, nothing; be exact
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new CliFailure(`${path} already exists; refusing to overwrite ${opts.what} (pass --force to replace it; the old one is then gone for good)`);
      if (code === 'ENOENT') throw new CliFailure(`cannot write ${path}: its directory ${dirname(path)} does not exist`);
      throw new CliFailure(`cannot write ${path}: ${(e as Error).message}`);
    }
  }
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new CliFailure(`cannot write ${path}: ${(e as Error).message}`);
  }
}

/** The password held by the environment variable named with --password-env. */
export function passwordFrom(envName: string | undefined, flag = 'password-env'): string | undefined {
  if (envName === undefined) return undefined;
  const pw = process.env[envName];
  if (pw === undefined || pw === '') throw new UsageError(`--${flag} names ${envName}, but that environment variable is unset or empty; export it first`);
  return pw;
}

function openSealed(bytes: Uint8Array, password: string | undefined, path: string, flag: string): Uint8Array {
  if (password === undefined) {
    throw new UsageError(`${path} is encrypted: pass --${flag} VAR, naming an environment variable that holds its password`);
  }
  try {
    if (tagOf(bytes) !== TAGS.keystore) throw new Error('not a keystore');
    return openKeystore(bytes, password);
  } catch (e) {
    if (isCryptoError(e, 'BAD_PASSWORD')) throw new CliFailure(`wrong password for ${path} (or the file was altered); check the variable named by --${flag}`);
    throw new CliFailure(`${path} is not a sealrelay keystore: ${(e as Error).message}`);
  }
}

export async function loadAuthority(path: string, passwordEnv?: string): Promise<AuthorityKey> {
  const bytes = await readBytes(path, 'authority key');
  const tag = tagOf(bytes);
  try {
    if (tag === TAGS.authority) return AuthorityKey.deserialize(bytes);
    if (tag === TAGS.keystore) return AuthorityKey.deserialize(openSealed(bytes, passwordFrom(passwordEnv, 'authority-password-env'), path, 'authority-password-env'));
  } catch (e) {
    if (e instanceof CliFailure || e instanceof UsageError) throw e;
    throw new CliFailure(`${path} is not a valid authority key: ${(e as Error).message}`);
  }
  throw new CliFailure(`${path} is not an authority key (${tag === undefined ? 'unknown format' : `it holds ${tag}`}); create one with "sealrelay keygen authority"`);
}

export async function loadDeviceKeys(path: string, passwordEnv?: string): Promise<DeviceKeys> {
  const bytes = await readBytes(path, 'device key');
  const tag = tagOf(bytes);
  if (tag === TAGS.device) {
    try {
      return DeviceKeys.deserialize(bytes);
    } catch (e) {
      throw new CliFailure(`${path} is not a valid device key: ${(e as Error).message}`);
    }
  }
  if (tag === TAGS.keystore) {
    const pw = passwordFrom(passwordEnv);
    if (pw === undefined) throw new UsageError(`${path} is encrypted: pass --password-env VAR, naming an environment variable that holds its password`);
    try {
      return openDeviceKeystore(bytes, pw).deviceKeys;
    } catch (e) {
      if (isCryptoError(e, 'BAD_PASSWORD')) throw new CliFailure(`wrong password for ${path} (or the file was altered); check the variable named by --password-env`);
      throw new CliFailure(`${path} is not a device keystore: ${(e as Error).message}`);
    }
  }
  throw new CliFailure(`${path} is not a device key (${tag === undefined ? 'unknown format' : `it holds ${tag}`}); create one with "sealrelay keygen device"`);
}

export interface LoadedCertificate {
  readonly bytes: Uint8Array;
  readonly cert: Certificate;
}

export async function loadCertificate(path: string): Promise<LoadedCertificate> {
  const bytes = await readBytes(path, 'certificate');
  if (tagOf(bytes) !== TAGS.certificate) throw new CliFailure(`${path} is not a device certificate; issue one with "sealrelay cert"`);
  try {
    return { bytes, cert: decodeCertificate(bytes) };
  } catch (e) {
    throw new CliFailure(`${path} is not a valid certificate: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------- public files

export interface DevicePublic {
  readonly deviceId: string;
  readonly signPublicKey: Uint8Array;
  readonly boxPublicKey: Uint8Array;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

export function devicePublicJson(keys: DevicePublic): string {
  return (
    JSON.stringify(
      {
        type: 'sealrelay-device-public/v1',
        deviceId: keys.deviceId,
        signPublicKey: hex(keys.signPublicKey),
        boxPublicKey: hex(keys.boxPublicKey),
        fingerprint: groups(deviceFingerprint(keys.signPublicKey)),
      },
      null,
      2,
    ) + '\n'
  );
}

/**
 * The public half of a device from any file that has it: device.pub, device.cert,
 * or device.key (the last needs its password when it is encrypted).
 */
export async function loadDevicePublic(path: string, passwordEnv?: string): Promise<DevicePublic> {
  const bytes = await readBytes(path, 'device file');
  const tag = tagOf(bytes);
  if (tag === TAGS.device || tag === TAGS.keystore) return loadDeviceKeys(path, passwordEnv);
  if (tag === TAGS.certificate) {
    const { cert } = await loadCertificate(path);
    return cert;
  }
  let json: { type?: unknown; signPublicKey?: unknown; boxPublicKey?: unknown; deviceId?: unknown };
  try {
    json = JSON.parse(new TextDecoder().decode(bytes)) as typeof json;
  } catch {
    throw new CliFailure(`${path} is neither a device.pub, a device.key nor a device certificate`);
  }
  const ok = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
  if (json.type !== 'sealrelay-device-public/v1' || !ok(json.signPublicKey) || !ok(json.boxPublicKey)) {
    throw new CliFailure(`${path} is not a sealrelay device.pub (expected the JSON written by "sealrelay keygen device")`);
  }
  const signPublicKey = unhex(json.signPublicKey);
  const deviceId = deviceIdFromSigningKey(signPublicKey);
  if (json.deviceId !== undefined && json.deviceId !== deviceId) throw new CliFailure(`${path}: its deviceId does not match its signing key; the file was edited`);
  return { deviceId, signPublicKey, boxPublicKey: unhex(json.boxPublicKey) };
}

/** An authority public key from hex, base64, or a file holding either (authority.pub). */
export async function loadAuthorityPub(arg: string): Promise<Uint8Array> {
  const parse = (s: string): Uint8Array | undefined => {
    const t = s.trim();
    if (/^[0-9a-fA-F]{64}$/.test(t)) return unhex(t.toLowerCase());
    if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
      const b = new Uint8Array(Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64'));
      if (b.length === 32) return b;
    }
    return undefined;
  };
  const direct = parse(arg);
  if (direct) return direct;
  const fromFile = parse(new TextDecoder().decode(await readBytes(arg, 'authority public key file')));
  if (!fromFile) throw new CliFailure(`${arg} does not hold an Ed25519 public key (64 hex digits or base64, as written to authority.pub)`);
  return fromFile;
}

/** 30 digits as 6 groups of 5, the way people read them aloud. */
export function groups(digits: string): string {
  return (digits.match(/.{1,5}/g) ?? []).join(' ');
}

export { hex as toHex };
