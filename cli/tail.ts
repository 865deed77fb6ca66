/**
 * `sealrelay tail`: an order's conversation as this device may read it,
 * decrypted and verified by the SDK, one line per message in sequence order.
 * Without --follow it stops at the relay's head (learned from the history API
 * first, so "done" is a sequence number, not a guess from silence).
 *
 * Warnings (a sender chain gap, a forged or replayed envelope, a policy
 * violation) are never printed as messages: for people they go to stderr,
 * flagged; with --json they are objects of `"type":"warning"`.
 */
import type { OrderWarning, ReceivedMessage } from '../client/index.ts';
import { decodeEnvelopeHeader } from '../crypto/index.ts';
import { CliFailure, intOption, need, paint, parse, say, warnLine, type CommandDef } from './args.ts';
import { DEVICE_OPTIONS, DEVICE_OPTIONS_HELP, connectDevice, explainOpenError, loadDevice, within } from './device.ts';
import { messageJson, messageLine, warningJson, warningLine } from './format.ts';
import { RelayHttp, httpBaseOf } from './relay-http.ts';

/** How long the SDK gets to verify a removal the relay announced before the CLI reports the announcement itself. */
const REMOVAL_VERIFY_MS = 2_000;

const DEF = {
  name: 'tail',
  usage: 'tail --relay URL --device device.key --cert device.cert --order ID [--json] [--from-seq N] [--follow]',
  help: `
Print an order's messages as this device may read them, decrypted and verified:
time (relay receive time, UTC), sequence number, sender role and user, kind, summary.
Messages of scopes this device's role may not read never reach it (the relay does
not deliver them, and it could not decrypt them anyway).

Warnings — a gap or break in a sender's hash chain, a forged, replayed or
undecryptable envelope, a policy violation — are printed on stderr as WARNING
lines (with --json: objects with "type":"warning" on stdout), never as messages.

options:${DEVICE_OPTIONS_HELP}
  --order ID                 the order
  --from-seq N               start after sequence number N (default 0: the whole history)
  --follow                   keep printing new messages until interrupted (Ctrl-C)
  --json                     one JSON object per line: {"type":"message"|"warning"|"roster"|"removed", ...}
  --timeout SECONDS          without --follow: give up if the history is not read within this (default 30)
  -h, --help                 this text

exit status: 0 after the history (or, with --follow, on Ctrl-C); 1 when the device
is not, or stops being, a member of the order (e.g. a reassigned courier).
`,
  options: {
    ...DEVICE_OPTIONS,
    order: { type: 'string' },
    'from-seq': { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
    json: { type: 'boolean' },
    timeout: { type: 'string' },
  },
} satisfies CommandDef<Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>;

export async function tail(argv: string[]): Promise<number> {
  const p = parse(DEF, argv);
  if (!p) return 0;
  const v = p.values;
  const orderId = need(v.order, 'order', 'the order to read, e.g. --order SO-1042');
  const fromSeq = intOption(v['from-seq'], 'from-seq', 0) ?? 0;
  const timeoutMs = (intOption(v.timeout, 'timeout', 1, 3600) ?? 30) * 1000;
  const json = v.json === true;
  const follow = v.follow === true;
  const device = await loadDevice(v);

  // Where the history ends for this reader: the last sequence number it may see.
  let target = fromSeq;
  /** Clear headers by seq, to say at least what an unreadable message was. */
  const headers = new Map<number, { kind: string; scope: string; at: number }>();
  if (!follow) {
    const http = new RelayHttp(httpBaseOf(device.relay), { keys: device.keys, certificate: device.cert.bytes });
    try {
      const h = await http.history(orderId, fromSeq);
      target = h.messages.length > 0 ? h.messages[h.messages.length - 1]!.seq : fromSeq;
      for (const m of h.messages) {
        try {
          const hd = decodeEnvelopeHeader(m.envelope);
          headers.set(m.seq, { kind: hd.kind, scope: hd.scope, at: m.at });
        } catch {
          // An undecodable envelope is the SDK's to report, as a warning.
        }
      }
    } catch (e) {
      const code = (e as { relayCode?: string }).relayCode;
      if (code === 'NOT_A_MEMBER' || code === 'ORDER_UNKNOWN') throw explainOpenError({ code, message: (e as Error).message }, orderId, device.keys.deviceId);
      throw e;
    }
  }

  const opened = await connectDevice(device, 'tail');
  const { client } = opened;
  let seenUpTo = fromSeq;
  const sendersSeen = new Set<string>();
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const progress = (seq: number | undefined): void => {
    if (seq !== undefined && seq > seenUpTo) seenUpTo = seq;
    if (!follow && seenUpTo >= target) finish(0);
  };

  const onMessage = (m: ReceivedMessage): void => {
    sendersSeen.add(m.sender.deviceId);
    say(json ? messageJson(m) : messageLine(m));
    progress(m.seq);
  };
  const onWarning = (w: OrderWarning): void => {
    // Starting mid-history, each sender chain's first message "skips" what came before --from-seq: expected, not an attack.
    const expectedGap = fromSeq > 0 && w.code === 'CHAIN_GAP' && w.sender !== undefined && !sendersSeen.has(w.sender);
    const ownEarlier = w.code === 'KEY_PACKAGE_MISSING' && w.sender === device.keys.deviceId;
    const h = w.seq === undefined ? undefined : headers.get(w.seq);
    if (json) {
      const extra = ownEarlier && h ? { kind: h.kind, scope: h.scope, time: new Date(h.at).toISOString() } : {};
      say(expectedGap || ownEarlier ? JSON.stringify({ ...JSON.parse(warningJson(w)), type: 'note', ...extra }) : warningJson(w));
    } else if (ownEarlier) {
      const when = h ? new Date(h.at).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : ' '.repeat(20);
      const what = h ? `${h.kind.padEnd(17)} ` : '';
      say(`${paint.dim(when)}  ${paint.bold(`#${w.seq ?? '?'}`.padEnd(5))} ${paint.cyan('me'.padEnd(15))} ${' '.repeat(16)} ${what}${paint.dim('(sent by this device, but its sender key is not in this --state directory: another install, or a lost state dir; content cannot be shown)')}`);
    } else if (!expectedGap) {
      warnLine(warningLine(w));
    }
    if (!w.code.startsWith('CHAIN_')) progress(w.seq);
  };

  try {
    const session = await within(timeoutMs, `order ${orderId} to open`, opened, client.openOrder(orderId, { afterSeq: fromSeq })).catch((e: unknown) => {
      throw explainOpenError(e, orderId, device.keys.deviceId);
    });
    session.on('message', onMessage);
    session.on('warning', onWarning);
    session.on('roster', (r) => {
      if (json) say(JSON.stringify({ type: 'roster', epoch: r.epoch, members: r.members.map((m) => ({ role: m.role, userId: m.userId, deviceId: m.deviceId })) }));
      else say(paint.blue(`── roster epoch ${r.epoch}: ${r.members.map((m) => `${m.role} ${m.userId}`).join(', ')}`));
    });
    let removed = false;
    session.on('removed', ({ epoch }) => {
      removed = true;
      if (json) say(JSON.stringify({ type: 'removed', epoch, code: 'MEMBER_REMOVED', verified: true }));
      else warnLine(`REMOVED: epoch ${epoch} of ${orderId} no longer includes this device (MEMBER_REMOVED); it receives nothing further and cannot decrypt what follows`);
      finish(1);
    });
    // The SDK reports removal once it has verified the roster that removed us. A relay that
    // does not serve that roster to the removed device leaves only its word (the
    // `unsubscribed` frame); say so, marked unverified, rather than hang on a dead subscription.
    client.connection.on('frame', (f) => {
      if (f.t !== 'unsubscribed' || f.order !== orderId || f.code !== 'MEMBER_REMOVED') return;
      setTimeout(() => {
        if (removed) return;
        if (json) say(JSON.stringify({ type: 'removed', epoch: null, code: 'MEMBER_REMOVED', verified: false }));
        else warnLine(`REMOVED: the relay ended this device's subscription to ${orderId} (MEMBER_REMOVED) but did not serve the roster that removed it, so this is the relay's word, not a verified roster; nothing further arrives`);
        finish(1);
      }, REMOVAL_VERIFY_MS).unref();
    });
    progress(undefined);
    if (follow) {
      const stop = (): void => finish(0);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return await Promise.race([finished, opened.refused]);
    }
    return await within(timeoutMs, `the history of ${orderId} up to seq ${target}`, opened, finished);
  } catch (e) {
    if (e instanceof CliFailure) throw e;
    throw explainOpenError(e, orderId, device.keys.deviceId);
  } finally {
    client.close();
  }
}
