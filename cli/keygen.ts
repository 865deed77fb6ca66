/**
 * `sealrelay keygen authority|device`: make a tenant authority key or a device's
 * two key pairs, write the secret (0600, never over an existing file without
 * --force) and its public half beside it, and print what to hand to whom.
 */
import { AuthorityKey, DeviceKeys, cryptoReady, deviceFingerprint, sealDeviceKeystore, sealKeystore } from '../crypto/index.ts';
import { UsageError, need, paint, parse, say, type CommandDef } from './args.ts';
import { devicePublicJson, groups, passwordFrom, toHex, writeNew } from './files.ts';

const DEF = {
  name: 'keygen',
  usage: 'keygen authority --out authority.key [--password-env VAR] [--force]\n       sealrelay keygen device --out device.key [--password-env VAR] [--force]',
  help: `
Make a new key.

  authority   the tenant authority (Ed25519): certifies devices and signs order rosters.
              Writes the secret to --out and the public key (hex) to <out minus .key>.pub;
              give the public key to the relay (SEALRELAY_TRUSTED_AUTHORITIES or --trust).
  device      a device's Ed25519 signing key and separate X25519 box key. Writes the
              secret to --out and device.pub (public keys, JSON) beside it; hand the .pub
              to the authority for "sealrelay cert". Prints the device id and fingerprint.

options:
  --out FILE            where to write the secret key (mode 0600)
  --password-env VAR    encrypt the key file with the password in environment variable VAR
                        (Argon2id, crypto's keystore); without it the file is in clear
  --force               replace an existing key file (the old key is lost for good)
  -h, --help            this text

examples:
  sealrelay keygen authority --out authority.key
  SR_PW=... sealrelay keygen device --out courier.key --password-env SR_PW
`,
  options: {
    out: { type: 'string', short: 'o' },
    'password-env': { type: 'string' },
    force: { type: 'boolean' },
  },
  positionals: true,
} satisfies CommandDef<Record<string, { type: 'string' | 'boolean'; short?: string }>>;

function pubPathOf(out: string): string {
  return out.endsWith('.key') ? out.slice(0, -4) + '.pub' : out + '.pub';
}

export async function keygen(argv: string[]): Promise<number> {
  const p = parse(DEF, argv);
  if (!p) return 0;
  const what = p.positionals[0];
  if (what !== 'authority' && what !== 'device') {
    throw new UsageError(what === undefined ? 'say what to make: "keygen authority" or "keygen device"' : `unknown key type "${what}": use "authority" or "device"`);
  }
  if (p.positionals.length > 1) throw new UsageError(`unexpected argument "${p.positionals[1]}"`);
  const out = need(p.values.out, 'out', 'the file to write the secret key to, e.g. --out device.key');
  const password = passwordFrom(p.values['password-env']);
  const force = p.values.force === true;
  await cryptoReady();
  const pubPath = pubPathOf(out);

  if (what === 'authority') {
    const key = AuthorityKey.generate();
    const secret = key.serialize();
    const file = password === undefined ? secret : sealKeystore(secret, password);
    const pkHex = toHex(key.publicKey);
    await writeNew(out, file, { force, mode: 0o600, what: 'an authority key' });
    secret.fill(0);
    await writeNew(pubPath, pkHex + '\n', { force, what: 'a public key' });
    key.wipe();
    say(`${paint.bold('authority public key')}  ${pkHex}`);
    say(`${paint.bold('fingerprint')}           ${groups(deviceFingerprint(key.publicKey))}`);
    say(`wrote ${out} (secret, mode 0600${password === undefined ? ', NOT encrypted: keep it offline or pass --password-env' : ', encrypted with Argon2id'}) and ${pubPath}`);
    say(`trust it on the relay: SEALRELAY_TRUSTED_AUTHORITIES=${pkHex} sealrelay serve`);
    return 0;
  }

  const keys = DeviceKeys.generate();
  const file = password === undefined ? keys.serialize() : sealDeviceKeystore({ deviceKeys: keys, state: new Map() }, password);
  await writeNew(out, file, { force, mode: 0o600, what: 'a device key' });
  file.fill(0);
  await writeNew(pubPath, devicePublicJson(keys), { force, what: 'a device public key' });
  say(`${paint.bold('device id')}    ${keys.deviceId}`);
  say(`${paint.bold('fingerprint')}  ${groups(deviceFingerprint(keys.signPublicKey))}`);
  say(`wrote ${out} (secret, mode 0600${password === undefined ? ', NOT encrypted: pass --password-env to protect it' : ', encrypted with Argon2id'}) and ${pubPath}`);
  say(`next: the authority issues a certificate: sealrelay cert --authority authority.key --device ${pubPath} --tenant T --user U --out ${out.replace(/\.key$/, '')}.cert`);
  keys.wipe();
  return 0;
}
