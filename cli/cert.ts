/**
 * `sealrelay cert`: the authority certifies a device (tenant, user, both public
 * keys, a validity window). Takes the device's .pub, so the device secret never
 * has to leave the device; a .key works too.
 */
import { cryptoReady, deviceFingerprint, issueCertificate } from '../crypto/index.ts';
import { intOption, need, paint, parse, say, type CommandDef } from './args.ts';
import { groups, loadAuthority, loadDevicePublic, writeNew } from './files.ts';

const DAY_MS = 24 * 3600_000;
/** Backdated so a device whose clock runs a little behind the authority's can use a certificate at once. */
const CLOCK_SKEW_MS = 5 * 60_000;

const DEF = {
  name: 'cert',
  usage: 'cert --authority authority.key --device device.pub --tenant T --user U [--days N] --out device.cert',
  help: `
Issue a device certificate, signed by the tenant authority.

options:
  --authority FILE                 the authority key (from "keygen authority")
  --authority-password-env VAR     its password, if the key file is encrypted
  --device FILE                    the device's device.pub (or device.key / an old certificate)
  --password-env VAR               password of --device when it is an encrypted device.key
  --tenant T                       the carrier or shipper tenant, e.g. acme-logistics
  --user U                         the user who holds the device, e.g. courier-0042
  --days N                         validity in days (default 90)
  --out FILE                       where to write the certificate
  --force                          replace an existing --out file
  -h, --help                       this text

example:
  sealrelay cert --authority authority.key --device courier.pub --tenant acme --user courier-0042 --out courier.cert
`,
  options: {
    authority: { type: 'string' },
    'authority-password-env': { type: 'string' },
    device: { type: 'string' },
    'password-env': { type: 'string' },
    tenant: { type: 'string' },
    user: { type: 'string' },
    days: { type: 'string' },
    out: { type: 'string', short: 'o' },
    force: { type: 'boolean' },
  },
} satisfies CommandDef<Record<string, { type: 'string' | 'boolean'; short?: string }>>;

export async function cert(argv: string[]): Promise<number> {
  const p = parse(DEF, argv);
  if (!p) return 0;
  const v = p.values;
  const authorityPath = need(v.authority, 'authority', 'the authority key file that signs the certificate');
  const devicePath = need(v.device, 'device', "the device's device.pub (or device.key)");
  const tenant = need(v.tenant, 'tenant', 'the tenant the device belongs to, e.g. --tenant acme-logistics');
  const user = need(v.user, 'user', 'the user holding the device, e.g. --user courier-0042');
  const out = need(v.out, 'out', 'where to write the certificate, e.g. --out device.cert');
  const days = intOption(v.days, 'days', 1, 3650) ?? 90;
  await cryptoReady();
  const authority = await loadAuthority(authorityPath, v['authority-password-env']);
  const device = await loadDevicePublic(devicePath, v['password-env']);
  const now = Date.now();
  const notAfter = now + days * DAY_MS;
  const bytes = issueCertificate(authority, {
    tenant,
    userId: user,
    deviceId: device.deviceId,
    signPublicKey: device.signPublicKey,
    boxPublicKey: device.boxPublicKey,
    notBefore: now - CLOCK_SKEW_MS,
    notAfter,
  });
  authority.wipe();
  await writeNew(out, bytes, { force: v.force === true, what: 'a certificate' });
  say(`${paint.bold('certified')}    ${device.deviceId} as ${user} of ${tenant}, valid until ${new Date(notAfter).toISOString()}`);
  say(`${paint.bold('fingerprint')}  ${groups(deviceFingerprint(device.signPublicKey))}`);
  say(`wrote ${out}`);
  return 0;
}
