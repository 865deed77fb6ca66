/**
 * `sealrelay fingerprint`: this device's 30-digit fingerprint and, with --peer,
 * the 60-digit safety number of the pair, to compare out of band (read aloud,
 * shown side by side) so a substituted key is noticed.
 */
import { cryptoReady, deviceFingerprint, safetyNumber } from '../crypto/index.ts';
import { need, paint, parse, say, type CommandDef } from './args.ts';
import { groups, loadDevicePublic } from './files.ts';

const DEF = {
  name: 'fingerprint',
  usage: 'fingerprint --device device.key [--peer other.cert]',
  help: `
Print a device's id and fingerprint; with --peer, the safety number of the two
devices. Both sides compute the same safety number; compare it in person or over
a call. If it differs, one of the keys is not the one you think it is.

options:
  --device FILE          this device: device.key, device.pub or its certificate
  --password-env VAR     password of --device, if it is an encrypted device.key
  --peer FILE            the other device: its certificate or device.pub
  -h, --help             this text
`,
  options: {
    device: { type: 'string' },
    'password-env': { type: 'string' },
    peer: { type: 'string' },
  },
} satisfies CommandDef<Record<string, { type: 'string' | 'boolean'; short?: string }>>;

export async function fingerprint(argv: string[]): Promise<number> {
  const p = parse(DEF, argv);
  if (!p) return 0;
  const devicePath = need(p.values.device, 'device', 'the device to fingerprint (device.key, device.pub or a certificate)');
  await cryptoReady();
  const me = await loadDevicePublic(devicePath, p.values['password-env']);
  say(`${paint.bold('device id')}      ${me.deviceId}`);
  say(`${paint.bold('fingerprint')}    ${groups(deviceFingerprint(me.signPublicKey))}`);
  if (p.values.peer !== undefined) {
    const peer = await loadDevicePublic(p.values.peer);
    const sn = safetyNumber(me.signPublicKey, peer.signPublicKey).split(' ');
    say(`${paint.bold('peer')}           ${peer.deviceId}`);
    say(`${paint.bold('safety number')}  ${sn.slice(0, 6).join(' ')}`);
    say(`               ${sn.slice(6).join(' ')}`);
  }
  return 0;
}
