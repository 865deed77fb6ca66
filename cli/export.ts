/**
 * `sealrelay export`: an order's history as the relay serves it to one device,
 * for an offline audit without content keys: the roster chain, the key packages
 * addressed to that device, and every envelope it may see (whole: the audit
 * checks their signatures), with their clear headers decoded for reading.
 *
 * Uses the HTTP history API (server/README.md): the relay hands each device only
 * what its role may read and only its own key packages, so the most complete
 * export comes from a device that reads every scope (an auditor or dispatcher
 * under the default policy) and belongs to every epoch. The file says whose view
 * it is, so `audit` can tell "missing" from "not visible to the exporter".
 */
import { cryptoReady, decodeEnvelopeHeader, decodeKeyPackageHeader, decodeRoster } from '../crypto/index.ts';
import { CliFailure, need, paint, parse, say, type CommandDef } from './args.ts';
import { DEVICE_OPTIONS, DEVICE_OPTIONS_HELP, loadDevice } from './device.ts';
import { writeNew } from './files.ts';
import { RelayHttp, httpBaseOf } from './relay-http.ts';

export const ORDER_LOG_FORMAT = 'sealrelay-order-log/v1';

export interface OrderLogFile {
  format: typeof ORDER_LOG_FORMAT;
  order: string;
  relay: string;
  exportedAt: string;
  exportedBy: { deviceId: string; userId: string; roles: Record<string, string> };
  /** The relay serves a device only the key packages addressed to it. */
  keyPackageView: 'addressed-to-exporter';
  headSeq: number;
  rosters: { epoch: number; issuedAt: number; members: number; bytes: string }[];
  keyPackages: { epoch: number; scope: string; sender: string; recipient: string; bytes: string }[];
  envelopes: { seq: number; at: number; epoch: number; scope: string; kind: string; sender: string; index: number; size: number; bytes: string }[];
}

const DEF = {
  name: 'export',
  usage: 'export --relay URL --device device.key --cert device.cert --order ID --out order-log.json',
  help: `
Export an order's history for an offline audit ("sealrelay audit"): roster chain,
key packages and sealed envelopes exactly as the relay serves them to this device.
Nothing is decrypted; the file holds no content key.

The relay shows each device only the scopes its role reads and only the key
packages addressed to it: export with a device that reads everything and is in
every epoch (an auditor, or the dispatcher under the default policy).

options:${DEVICE_OPTIONS_HELP}
  --order ID                 the order
  --out FILE                 where to write the JSON log
  --force                    replace an existing --out file
  -h, --help                 this text
`,
  options: {
    ...DEVICE_OPTIONS,
    order: { type: 'string' },
    out: { type: 'string', short: 'o' },
    force: { type: 'boolean' },
  },
} satisfies CommandDef<Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>;

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

export async function exportOrder(argv: string[]): Promise<number> {
  const p = parse(DEF, argv);
  if (!p) return 0;
  const v = p.values;
  const orderId = need(v.order, 'order', 'the order to export');
  const out = need(v.out, 'out', 'where to write the log, e.g. --out order-log.json');
  const device = await loadDevice(v);
  await cryptoReady();
  const http = new RelayHttp(httpBaseOf(device.relay), { keys: device.keys, certificate: device.cert.bytes });
  const rosters = await http.rosters(orderId);
  const keyPackages = await http.keyPackages(orderId);
  const history = await http.history(orderId, 0);

  const roles: Record<string, string> = {};
  const log: OrderLogFile = {
    format: ORDER_LOG_FORMAT,
    order: orderId,
    relay: device.relay,
    exportedAt: new Date().toISOString(),
    exportedBy: { deviceId: device.keys.deviceId, userId: device.cert.cert.userId, roles },
    keyPackageView: 'addressed-to-exporter',
    headSeq: history.headSeq,
    rosters: rosters.map((bytes) => {
      const r = decodeRoster(bytes);
      const me = r.members.find((m) => m.deviceId === device.keys.deviceId);
      if (me) roles[String(r.epoch)] = me.role;
      return { epoch: r.epoch, issuedAt: r.issuedAt, members: r.members.length, bytes: b64(bytes) };
    }),
    keyPackages: keyPackages.map((bytes) => {
      const h = decodeKeyPackageHeader(bytes);
      return { epoch: h.epoch, scope: h.scope, sender: h.senderDeviceId, recipient: h.recipientDeviceId, bytes: b64(bytes) };
    }),
    envelopes: history.messages.map((m) => {
      const h = decodeEnvelopeHeader(m.envelope);
      return { seq: m.seq, at: m.at, epoch: h.epoch, scope: h.scope, kind: h.kind, sender: h.senderDeviceId, index: h.index, size: m.envelope.length, bytes: b64(m.envelope) };
    }),
  };
  if (rosters.length === 0) throw new CliFailure(`the relay returned no roster for ${orderId}`);
  await writeNew(out, JSON.stringify(log, null, 1) + '\n', { force: v.force === true, what: 'an order log' });
  const hidden = history.headSeq - history.messages.length;
  say(`${paint.green('exported')} ${orderId} to ${out}: ${rosters.length} roster epoch${rosters.length === 1 ? '' : 's'}, ${keyPackages.length} key package${keyPackages.length === 1 ? '' : 's'}, ${history.messages.length} envelope${history.messages.length === 1 ? '' : 's'} (head seq ${history.headSeq})`);
  if (hidden > 0) say(paint.yellow(`${hidden} sequence number${hidden === 1 ? ' is' : 's are'} not visible to this device (scopes its role does not read, or epochs it was not in); export with an auditor device for the whole order`));
  say(paint.dim(`verify it offline: sealrelay audit ${out} --authority-pub authority.pub`));
  return 0;
}
