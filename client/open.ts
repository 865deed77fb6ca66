/**
 * Opening one delivered envelope: find the roster of its epoch (fetching newer
 * rosters if needed), the sender key (fetching key packages once if needed),
 * then verify, decrypt and schema-check. Every failure becomes a coded result
 * the session raises as a warning; nothing unverified reaches the application.
 */
import {
  decodeEnvelopeHeader,
  decodeKeyPackageHeader,
  isCryptoError,
  openEnvelope,
  openKeyPackage,
  sha256,
  type DeviceKeys,
  type EnvelopeHeader,
  type ReceiverState,
} from '../crypto/index.ts';
import type { DeliveredMessage } from '../protocol/index.ts';
import { wire } from './bytes.ts';
import { decodeBody, type MessageKind } from './messages.ts';
import type { Sender } from './order-types.ts';
import type { RosterSync } from './roster-sync.ts';

export type KeyFetcher = (epoch: number) => Promise<void>;

export interface OpenDeps {
  readonly orderId: string;
  readonly me: string;
  readonly receiver: ReceiverState;
  readonly rosters: RosterSync;
  refreshRosters(): Promise<void>;
  /** Fetch key packages of an epoch; called at most once per unknown sender key. */
  fetchKeys: KeyFetcher;
}

export type Opened =
  | {
      readonly ok: true;
      readonly header: EnvelopeHeader;
      readonly hash: Uint8Array;
      readonly message: { epoch: number; scope: string; kind: MessageKind; body: unknown; sender: Sender; self: boolean };
    }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly sender?: string };

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

export async function openDelivered(m: DeliveredMessage, deps: OpenDeps): Promise<Opened> {
  let header: EnvelopeHeader;
  try {
    header = decodeEnvelopeHeader(m.envelope);
  } catch (e) {
    return { ok: false, code: 'MALFORMED', message: `seq ${m.seq}: ${(e as Error).message}` };
  }
  const sender = header.senderDeviceId;
  if (header.orderId !== deps.orderId) return { ok: false, code: 'WRONG_CONTEXT', sender, message: `seq ${m.seq} carries an envelope of order ${header.orderId}` };
  let roster = deps.rosters.rosterAt(header.epoch);
  if (!roster && header.epoch > deps.rosters.head.epoch) {
    await deps.refreshRosters();
    roster = deps.rosters.rosterAt(header.epoch);
  }
  if (!roster) return { ok: false, code: 'ROSTER_MISSING', sender, message: `no verified roster for epoch ${header.epoch} of seq ${m.seq}` };

  const attempt = () => openEnvelope(wire(m.envelope), { roster: roster!, receiverState: deps.receiver, expectedOrderId: deps.orderId });
  let opened: ReturnType<typeof openEnvelope>;
  try {
    try {
      opened = attempt();
    } catch (e) {
      if (!isCryptoError(e, 'UNKNOWN_SENDER_KEY')) throw e;
      await deps.fetchKeys(header.epoch);
      opened = attempt();
    }
  } catch (e) {
    if (isCryptoError(e, 'UNKNOWN_SENDER_KEY')) {
      const why = sender === deps.me ? 'it was sent by this device with state this storage does not hold (another install, or a lost state directory)' : 'the sender has not published a key package for this device';
      return { ok: false, code: 'KEY_PACKAGE_MISSING', sender, message: `cannot open seq ${m.seq}: ${why}` };
    }
    if (isCryptoError(e)) return { ok: false, code: e.code, sender, message: `seq ${m.seq} from ${sender}: ${e.message}` };
    throw e;
  }
  const decoded = decodeBody(header.kind, opened.body);
  if (!decoded.ok) return { ok: false, code: 'INVALID_MESSAGE', sender, message: `seq ${m.seq} from ${sender}: ${decoded.reason}` };
  const member = roster.memberByDevice(sender)!;
  return {
    ok: true,
    header,
    hash: opened.hash,
    message: {
      epoch: header.epoch,
      scope: header.scope,
      kind: decoded.kind,
      body: decoded.body,
      sender: { deviceId: member.deviceId, userId: member.userId, role: member.role },
      self: sender === deps.me,
    },
  };
}

/**
 * Install the sender keys in `packages` that this device can open. Returns a
 * warning per package that is addressed to us but does not verify (forged, for
 * another epoch, from a member who may not publish there).
 */
export function installKeyPackages(
  packages: readonly Uint8Array[],
  keys: DeviceKeys,
  rosters: RosterSync,
  receiver: ReceiverState,
  rejected: Set<string>,
): { code: string; message: string; sender?: string }[] {
  const warnings: { code: string; message: string; sender?: string }[] = [];
  for (const bytes of packages) {
    let h;
    try {
      h = decodeKeyPackageHeader(bytes);
    } catch {
      warnings.push({ code: 'KEY_PACKAGE_INVALID', message: 'the relay returned a key package that does not decode' });
      continue;
    }
    // By the whole context (order, epoch, scope, sender, key id), never the bare id: another
    // member's package squatting this id must not make us skip the genuine sender's one.
    if (receiver.chain(h)) continue;
    const roster = rosters.rosterAt(h.epoch);
    if (!roster) continue; // a newer epoch than we know: fetched again once its roster is accepted
    // Remember the rejected package itself: keyed by its id, a forgery naming the genuine
    // sender's key would make us skip the genuine package too.
    const id = hex(sha256(bytes));
    if (rejected.has(id)) continue;
    try {
      receiver.install(openKeyPackage(wire(bytes), keys, roster));
    } catch (e) {
      rejected.add(id);
      warnings.push({ code: 'KEY_PACKAGE_INVALID', sender: h.senderDeviceId, message: `key package from ${h.senderDeviceId} for epoch ${h.epoch}/${h.scope}: ${(e as Error).message}` });
    }
  }
  return warnings;
}
