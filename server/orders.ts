/**
 * Order operations shared by the WebSocket sessions and the HTTP API: each
 * checks authorization against the verified roster chain, then talks to the
 * store. Every refusal is a ProtocolError with a code from protocol/errors.ts.
 */
import { createHash } from 'node:crypto';
import { ProtocolError } from '../protocol/errors.ts';
import type { DeliveredMessage } from '../protocol/frames.ts';
import { MAX_DELIVER_BATCH } from '../protocol/limits.ts';
import { wire } from './bytes.ts';
import type { RelayContext } from './context.ts';
import type { AppendResult, KeyPackageRecord } from './store/types.ts';
import { decodeEnvelopeHeader, decodeKeyPackageHeader, mayPublish, mayRead, type EnvelopeHeader, type VerifiedRoster } from './trust.ts';

async function currentRoster(ctx: RelayContext, order: string): Promise<VerifiedRoster> {
  const roster = await ctx.rosters.current(order);
  if (!roster) throw new ProtocolError('ORDER_UNKNOWN', order);
  return roster;
}

/** The current roster, after checking `device` is a member of it. */
export async function requireMember(ctx: RelayContext, order: string, device: string): Promise<VerifiedRoster> {
  const roster = await currentRoster(ctx, order);
  if (!roster.memberByDevice(device)) throw new ProtocolError('NOT_A_MEMBER', `${device} in ${order} epoch ${roster.epoch}`);
  return roster;
}

export interface ValidatedPublish {
  readonly order: string;
  readonly device: string;
  readonly clientMsgId: string;
  readonly envelope: Uint8Array;
  readonly header: EnvelopeHeader;
}

/**
 * Check a publish against the clear envelope header and the current roster:
 * header order and sender match, the epoch is current, the sender is a member,
 * and its role may publish this kind into this scope.
 */
export async function validatePublish(ctx: RelayContext, device: string, order: string, clientMsgId: string, envelope: Uint8Array): Promise<ValidatedPublish> {
  let header: EnvelopeHeader;
  try {
    header = decodeEnvelopeHeader(envelope);
  } catch (err) {
    throw new ProtocolError('BAD_FRAME', `envelope: ${(err as Error).message.slice(0, 160)}`);
  }
  if (header.orderId !== order) throw new ProtocolError('ENVELOPE_MISMATCH', 'the envelope is sealed for another order');
  if (header.senderDeviceId !== device) throw new ProtocolError('ENVELOPE_MISMATCH', 'the envelope names another sender device');
  let roster = await currentRoster(ctx, order);
  if (header.epoch > roster.epoch) {
    // Another relay node may have accepted a newer roster.
    await ctx.rosters.refresh(order);
    roster = await currentRoster(ctx, order);
  }
  if (header.epoch < roster.epoch) throw new ProtocolError('EPOCH_STALE', `sealed for epoch ${header.epoch}, current is ${roster.epoch}`);
  if (header.epoch > roster.epoch) throw new ProtocolError('ENVELOPE_MISMATCH', `epoch ${header.epoch} does not exist yet (current ${roster.epoch})`);
  const member = roster.memberByDevice(device);
  if (!member) throw new ProtocolError('NOT_A_MEMBER', `${device} in ${order} epoch ${roster.epoch}`);
  if (!mayPublish(roster.policy, member.role, header.kind, header.scope)) {
    throw new ProtocolError('ROLE_FORBIDDEN', `${member.role} may not publish ${header.kind.slice(0, 32)} into ${header.scope.slice(0, 32)}`);
  }
  return { order, device, clientMsgId, envelope, header };
}

/** Append a validated publish durably; resolves only when the store has it. STORE_UNAVAILABLE on store failure. */
export function appendPublish(ctx: RelayContext, p: ValidatedPublish, via: 'ws' | 'http'): Promise<AppendResult> {
  const append = ctx.metrics.timeStore('append', () =>
    ctx.store.append({ order: p.order, device: p.device, clientMsgId: p.clientMsgId, envelope: p.envelope, epoch: p.header.epoch, scope: p.header.scope, at: ctx.now() }),
  );
  return ctx.inFlight.track(
    append.then(
      (r) => {
        ctx.metrics.publishes.labels(r.duplicate ? 'duplicate' : 'accepted', via).inc();
        if (r.duplicate) ctx.metrics.dedupHits.inc();
        return r;
      },
      (err: unknown) => {
        ctx.log.error({ err, order: p.order }, 'store append failed');
        throw new ProtocolError('STORE_UNAVAILABLE', 'append failed');
      },
    ),
  );
}

/** Check and store key packages uploaded by `device`. Returns how many were new. */
export async function putKeyPackages(ctx: RelayContext, device: string, order: string, packages: readonly Uint8Array[]): Promise<number> {
  await requireMember(ctx, order, device);
  const records: KeyPackageRecord[] = [];
  for (const bytes of packages) {
    let h;
    try {
      h = decodeKeyPackageHeader(bytes);
    } catch (err) {
      throw new ProtocolError('KEY_PACKAGE_INVALID', (err as Error).message.slice(0, 160));
    }
    if (h.orderId !== order) throw new ProtocolError('KEY_PACKAGE_INVALID', 'package for another order');
    if (h.senderDeviceId !== device) throw new ProtocolError('KEY_PACKAGE_INVALID', 'package from another sender');
    await ctx.rosters.ensureEpoch(order, h.epoch);
    const roster = ctx.rosters.cachedAt(order, h.epoch);
    if (!roster) throw new ProtocolError('KEY_PACKAGE_INVALID', `epoch ${h.epoch} does not exist`);
    if (!roster.memberByDevice(device)) throw new ProtocolError('KEY_PACKAGE_INVALID', `sender not a member of epoch ${h.epoch}`);
    const recipient = roster.memberByDevice(h.recipientDeviceId);
    if (!recipient || !mayRead(roster.policy, recipient.role, h.scope)) {
      throw new ProtocolError('KEY_PACKAGE_INVALID', `recipient may not read ${h.scope.slice(0, 32)} in epoch ${h.epoch}`);
    }
    records.push({ recipient: h.recipientDeviceId, epoch: h.epoch, bytes });
  }
  return ctx.metrics.timeStore('putKeyPackages', () => ctx.store.putKeyPackages(order, records));
}

/** Key packages addressed to `device` (and only those). */
export function fetchKeyPackages(ctx: RelayContext, device: string, order: string, epoch?: number): Promise<Uint8Array[]> {
  return ctx.metrics.timeStore('keyPackages', () => ctx.store.keyPackages(order, device, epoch));
}

/** Accept a roster (any authenticated device may carry one: the authority's signature is what counts). */
export async function putRoster(ctx: RelayContext, order: string, bytes: Uint8Array): Promise<VerifiedRoster> {
  return ctx.metrics.timeStore('putRoster', () => ctx.rosters.put(order, bytes));
}

/** The roster chain from `fromEpoch`, for devices that appear in it. */
export async function fetchRosters(ctx: RelayContext, device: string, order: string, fromEpoch: number, max: number): Promise<Uint8Array[]> {
  const head = await currentRoster(ctx, order);
  let member = false;
  for (let e = head.epoch; e >= 1 && !member; e--) member = !!ctx.rosters.cachedAt(order, e)?.memberByDevice(device);
  if (!member) throw new ProtocolError('NOT_A_MEMBER', `${device} never belonged to ${order}`);
  const records = await ctx.metrics.timeStore('rosters', () => ctx.store.rosters(order, fromEpoch));
  return records.slice(0, max).map((r) => r.bytes);
}

/** History after `afterSeq` as `device` may see it (same visibility and `prev` links as a subscription). */
export async function readHistory(ctx: RelayContext, device: string, order: string, afterSeq: number, limit: number): Promise<{ messages: DeliveredMessage[]; headSeq: number; nextAfterSeq: number }> {
  await requireMember(ctx, order, device);
  const oldest = await ctx.metrics.timeStore('oldest', () => ctx.store.oldest(order));
  if (afterSeq + 1 < oldest) throw Object.assign(new ProtocolError('HISTORY_TRIMMED', `oldest held is ${oldest}`), { oldestSeq: oldest });
  const batch = await ctx.metrics.timeStore('read', () => ctx.store.read(order, afterSeq, Math.min(limit, MAX_DELIVER_BATCH)));
  const maxEpoch = batch.reduce((e, m) => Math.max(e, m.epoch), 0);
  if (maxEpoch > 0) await ctx.rosters.ensureEpoch(order, maxEpoch);
  const messages: DeliveredMessage[] = [];
  let prev = afterSeq;
  for (const m of batch) {
    if (!ctx.rosters.canRead(order, m.epoch, m.scope, device)) continue;
    messages.push({ seq: m.seq, prev, envelope: wire(m.envelope), at: m.at });
    prev = m.seq;
  }
  const headSeq = await ctx.store.head(order);
  return { messages, headSeq, nextAfterSeq: batch.length > 0 ? batch[batch.length - 1]!.seq : afterSeq };
}

export function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest();
}

/** Store an encrypted attachment for an order the device belongs to. */
export async function putBlob(ctx: RelayContext, device: string, order: string, hash: Uint8Array, data: Uint8Array): Promise<string> {
  await requireMember(ctx, order, device);
  if (data.byteLength > ctx.config.blobs.maxBytes) throw new ProtocolError('PAYLOAD_TOO_LARGE', `blob over ${ctx.config.blobs.maxBytes} bytes`);
  if (Buffer.compare(sha256(data), hash) !== 0) throw new ProtocolError('BLOB_HASH_MISMATCH');
  return ctx.metrics.timeStore('blobPut', () => ctx.blobs.put(order, hash, data, ctx.config.blobs.ttlMs));
}

/** Fetch an attachment; only current members of its order may. */
export async function getBlob(ctx: RelayContext, device: string, blobId: string): Promise<Uint8Array> {
  const blob = await ctx.metrics.timeStore('blobGet', () => ctx.blobs.get(blobId));
  if (!blob) throw new ProtocolError('BLOB_NOT_FOUND');
  const roster = await ctx.rosters.current(blob.order);
  // Same answer as a missing blob: do not reveal that an id exists to outsiders.
  if (!roster?.memberByDevice(device)) throw new ProtocolError('BLOB_NOT_FOUND');
  return blob.data;
}
