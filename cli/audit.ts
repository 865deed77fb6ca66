/**
 * `sealrelay audit`: verify an exported order log offline with crypto's
 * `auditOrder` (public keys only: roster chain and certificates, key-package and
 * envelope signatures, policy compliance, per-sender hash chains) and print a
 * report a reviewer can read. Exit 1 when anything is wrong.
 *
 * One adjustment to crypto's verdict: the relay serves a device only the key
 * packages addressed to it, so a MISSING_KEY_PACKAGE for another recipient says
 * nothing about the order, only about the export's view. Those are listed as
 * "not checkable from this export", not as anomalies.
 */
import { auditOrder, cryptoReady, type AuditAnomaly } from '../crypto/index.ts';
import { CliFailure, UsageError, need, paint, parse, say, type CommandDef } from './args.ts';
import { loadAuthorityPub, readBytes } from './files.ts';
import { ORDER_LOG_FORMAT, type OrderLogFile } from './export.ts';
import { fromB64 } from './relay-http.ts';

const DEF = {
  name: 'audit',
  usage: 'audit order-log.json --authority-pub authority.pub [--json]',
  help: `
Verify an exported order log (from "sealrelay export") without any content key:
  - the roster chain: authority signatures, hash links (no fork, no rollback), member certificates
  - every key package: sender signature, sender may publish and recipient may read its scope
  - every envelope: sender signature, policy (role may publish this kind into this scope),
    and each sender's hash chain (gaps, reorders, duplicates, breaks)
Prints a report; exit status 0 when nothing is wrong, 1 when anything is.

options:
  --authority-pub KEY    the tenant authority public key (hex, base64, or authority.pub); repeatable
  --json                 print the report as one JSON object
  -h, --help             this text
`,
  options: {
    'authority-pub': { type: 'string', multiple: true },
    json: { type: 'boolean' },
  },
  positionals: true,
} satisfies CommandDef<Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>;

function readLog(text: string, path: string): OrderLogFile {
  let log: OrderLogFile;
  try {
    log = JSON.parse(text) as OrderLogFile;
  } catch (e) {
    throw new CliFailure(`${path} is not JSON (${(e as Error).message}); pass a file written by "sealrelay export"`);
  }
  if (log?.format !== ORDER_LOG_FORMAT || !Array.isArray(log.rosters) || !Array.isArray(log.keyPackages) || !Array.isArray(log.envelopes)) {
    throw new CliFailure(`${path} is not a ${ORDER_LOG_FORMAT} file; pass a file written by "sealrelay export"`);
  }
  return log;
}

function bytesOf(items: { bytes: string }[], what: string): Uint8Array[] {
  return items.map((x, i) => {
    if (typeof x?.bytes !== 'string') throw new CliFailure(`${what}[${i}] has no bytes; the file is damaged`);
    return fromB64(x.bytes);
  });
}

export async function audit(argv: string[]): Promise<number> {
  const p = parse(DEF, argv);
  if (!p) return 0;
  const path = p.positionals[0];
  if (path === undefined) throw new UsageError('name the exported log to audit, e.g. sealrelay audit order-log.json --authority-pub authority.pub');
  if (p.positionals.length > 1) throw new UsageError(`one log at a time (got ${p.positionals.length} files)`);
  const pubs = need(p.values['authority-pub'], 'authority-pub', 'the authority public key the order must be signed by (hex or authority.pub)');
  await cryptoReady();
  const trusted = await Promise.all(pubs.map(loadAuthorityPub));
  const log = readLog(new TextDecoder().decode(await readBytes(path, 'order log')), path);

  const report = auditOrder(
    { rosters: bytesOf(log.rosters, 'rosters'), keyPackages: bytesOf(log.keyPackages, 'keyPackages'), envelopes: bytesOf(log.envelopes, 'envelopes') },
    { trustedAuthorities: trusted, now: Date.now() },
  );
  const exporter = log.exportedBy?.deviceId ?? '';
  // crypto's detail reads "<role> <recipient> never got the key of <sender> for <scope>#<epoch>".
  const recipientOf = (a: AuditAnomaly): string | undefined => /^\S+ (\S+) never got the key/.exec(a.detail)?.[1];
  const outOfView = (a: AuditAnomaly): boolean =>
    a.code === 'MISSING_KEY_PACKAGE' && log.keyPackageView === 'addressed-to-exporter' && recipientOf(a) !== undefined && recipientOf(a) !== exporter;
  const anomalies = report.anomalies.filter((a) => !outOfView(a));
  const notCheckable = report.anomalies.filter(outOfView);
  const ok = anomalies.length === 0;
  const hidden = Math.max(0, (log.headSeq ?? 0) - log.envelopes.length);

  if (p.values.json) {
    say(JSON.stringify({ ok, order: log.order, anomalies, notCheckable: notCheckable.length, hiddenSeqs: hidden, stats: report.stats }));
    return ok ? 0 : 1;
  }
  const s = report.stats;
  say(`${paint.bold('audit of order')} ${log.order} — exported ${log.exportedAt} from ${log.relay} by ${exporter} (${log.exportedBy?.userId ?? '?'})`);
  say(`  rosters        ${s.rosters} (${s.epochs} verified epoch${s.epochs === 1 ? '' : 's'}: signatures, hash links, certificates)`);
  say(`  key packages   ${s.keyPackages} (signatures and policy; only those addressed to the exporter are in an export)`);
  say(`  envelopes      ${s.envelopes} from ${s.senders} sender${s.senders === 1 ? '' : 's'} in ${s.senderChains} sender chain${s.senderChains === 1 ? '' : 's'} (signatures, policy, hash chains)`);
  if (hidden > 0) say(paint.yellow(`  not in export  ${hidden} sequence number${hidden === 1 ? '' : 's'} the exporting device may not see (other scopes or epochs); they were not audited`));
  if (notCheckable.length > 0) say(paint.dim(`  not checkable  ${notCheckable.length} key-package deliveries to other members (the relay shows each device only its own packages)`));
  if (ok) {
    say(`${paint.green('OK')}: no anomaly found.`);
    return 0;
  }
  say(`${paint.red('FAILED')}: ${anomalies.length} anomal${anomalies.length === 1 ? 'y' : 'ies'}:`);
  for (const a of anomalies) {
    const seq = /^envelope\[(\d+)\]$/.exec(a.where);
    const where = seq ? `${a.where} (seq ${log.envelopes[Number(seq[1])]?.seq ?? '?'})` : a.where;
    say(`  ${paint.red(a.code.padEnd(20))} ${where}: ${a.detail}`);
  }
  return 1;
}
