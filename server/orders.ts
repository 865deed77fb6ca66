/**
 * Order operations shared by the WebSocket sessions and the HTTP API: each
 * checks authorization against the verified roster chain, then talks to the
 * store. Every refusal is a ProtocolError with a code from protocol/errors.ts.
 */
import { createHash } from 'node:crypto';
import { ProtocolError } from '../protocol/errors.ts';
import type { DeliveredMessage } from '../protocol/frames.ts';
import { MAX_DELIVER_BATCH, MAX_FRAME_BYTES } from '../protocol/limits.ts';
import { wire } from './bytes.ts';
import type { RelayContext } from './context.ts';
import { EpochStaleError, type AppendResult, type KeyPackageRecord } from './store/types.ts';
import { decodeKeyPackageHeader, envelopeRoute, keyPackageSignatureValid, mayPublish, mayPublishAny, mayRead, type EnvelopeRoute, type VerifiedRoster } from './trust.ts';

/**
 * Payload bytes (key packages, rosters) in one `kp` / `rosters` reply: like
 * DELIVER_FRAME_BUDGET, the frame must stay under MAX_FRAME_BYTES with room for
 * per-item overhead, or the client cannot even decode it. The rest follows on
 * request (`next` / `nextEpoch`).
 */
export const REPLY_BYTES_BUDGET = MAX_FRAME_BYTES - 32 * 1024;

/** Key-package cursor: u32 epoch (BE) ‖ SHA-256 of the package; packages are served in this order. */
export const KEY_PACKAGE_CURSOR_BYTES = 36;

async function currentRoster(ctx: RelayContext, order: string): Promise<VerifiedRoster> {
  const roster = await ctx.rosters.current(order);
  if (!roster) throw new ProtocolError('ORDER_UNKNOWN', order);
  return roster;
}

/**
 * The current roster, after checking `device` is a member of it. Checks the store's
 * epoch first (one read): another node may have accepted a roster that removed `device`.
 */
export async function requireMember(ctx: RelayContext, order: string, device: string): Promise<VerifiedRoster> {
  const roster = await ctx.metrics.timeStore('currentEpoch', () => ctx.rosters.synced(order));
  if (!roster) throw new ProtocolError('ORDER_UNKNOWN', order);
  if (!roster.memberByDevice(device)) throw new ProtocolError('NOT_A_MEMBER', `${device} in ${order} epoch ${roster.epoch}`);
  return roster;
}

export interface ValidatedPublish {
  readonly order: string;
  readonly device: string;
  readonly clientMsgId: string;
  readonly envelope: Uint8Array;
  readonly header: EnvelopeRoute;
}

/**
 * Check a publish against the clear envelope header and the current roster:
 * header order and sender match, the epoch is current, the sender is a member,
 * and its role may publish this kind into this scope.
 */
export async function validatePublish(ctx: RelayContext, device: string, order: string, clientMsgId: string, envelope: Uint8Array): Promise<ValidatedPublish> {
  const header = publishHeader(order, device, envelope);
  let roster = await currentRoster(ctx, order);
  if (header.epoch > roster.epoch) {
    // Another relay node may have accepted a newer roster.
    await ctx.rosters.refresh(order);
    roster = await currentRoster(ctx, order);
  }
  return checkPublish(roster, device, order, clientMsgId, envelope, header);
}

/**
 * validatePublish without waiting, when this node's cached roster can decide (the
 * common case: the order is live here); undefined when it cannot (no roster
 * cached, or the envelope names a newer epoch), and the caller must use
 * validatePublish. Throws the same ProtocolErrors.
 */
export function validatePublishCached(ctx: RelayContext, device: string, order: string, clientMsgId: string, envelope: Uint8Array): ValidatedPublish | undefined {
  const roster = ctx.rosters.usedHead(order);
  if (!roster) return undefined;
  const header = publishHeader(order, device, envelope);
  if (header.epoch > roster.epoch) return undefined;
  return checkPublish(roster, device, order, clientMsgId, envelope, header);
}

function publishHeader(order: string, device: string, envelope: Uint8Array): EnvelopeRoute {
  let header: EnvelopeRoute;
  try {
    header = envelopeRoute(envelope);
  } catch (err) {
    throw new ProtocolError('BAD_FRAME', `envelope: ${(err as Error).message.slice(0, 160)}`);
  }
  if (header.orderId !== order) throw new ProtocolError('ENVELOPE_MISMATCH', 'the envelope is sealed for another order');
  if (header.senderDeviceId !== device) throw new ProtocolError('ENVELOPE_MISMATCH', 'the envelope names another sender device');
  return header;
}

function checkPublish(roster: VerifiedRoster, device: string, order: string, clientMsgId: string, envelope: Uint8Array, header: EnvelopeRoute): ValidatedPublish {
  if (header.epoch < roster.epoch) throw new ProtocolError('EPOCH_STALE', `sealed for epoch ${header.epoch}, current is ${roster.epoch}`);
  if (header.epoch > roster.epoch) throw new ProtocolError('ENVELOPE_MISMATCH', `epoch ${header.epoch} does not exist yet (current ${roster.epoch})`);
  const member = roster.memberByDevice(device);
  if (!member) throw new ProtocolError('NOT_A_MEMBER', `${device} in ${order} epoch ${roster.epoch}`);
  if (!mayPublish(roster.policy, member.role, header.kind, header.scope)) {
    throw new ProtocolError('ROLE_FORBIDDEN', `${member.role} may not publish ${header.kind.slice(0, 32)} into ${header.scope.slice(0, 32)}`);
  }
  return { order, device, clientMsgId, envelope, header };
}

/**
 * Append a validated publish durably; resolves only when the store has it.
 * STORE_UNAVAILABLE on store failure. One reaction on the store's promise does the
 * latency, the outcome count and the in-flight count (this runs for every publish).
 */
export function appendPublish(ctx: RelayContext, p: ValidatedPublish, via: 'ws' | 'http'): Promise<AppendResult> {
  const started = ctx.metrics.storeStarted();
  const done = ctx.inFlight.begin();
  let append: Promise<AppendResult>;
  try {
    append = ctx.store.append({ order: p.order, device: p.device, clientMsgId: p.clientMsgId, envelope: p.envelope, epoch: p.header.epoch, scope: p.header.scope, at: ctx.now() });
  } catch (err) {
    append = Promise.reject(err);
  }
  return append.then(
    (r) => {
      done();
      ctx.metrics.storeFinished('append', started);
      ctx.metrics.published(r.duplicate ? 'duplicate' : 'accepted', via);
      return r;
    },
    (err: unknown) => {
      done();
      ctx.metrics.storeFinished('append', started);
      if (err instanceof EpochStaleError) return staleAppend(ctx, p, err, via);
      ctx.log.error({ err, order: p.order }, 'store append failed');
      throw new ProtocolError('STORE_UNAVAILABLE', 'append failed');
    },
  );
}

/**
 * The store refused the append: its roster epoch differs from the one this node
 * validated against (another node accepted a roster whose hint has not arrived).
 * Catch up, and tell a removed sender the truth (NOT_A_MEMBER) rather than "re-seal".
 */
async function staleAppend(ctx: RelayContext, p: ValidatedPublish, err: EpochStaleError, via: 'ws' | 'http'): Promise<never> {
  ctx.metrics.published('rejected', via);
  await ctx.rosters.refresh(p.order).catch((e: unknown) => ctx.log.warn({ err: e, order: p.order }, 'roster refresh failed'));
  const head = ctx.rosters.cachedHead(p.order);
  if (head && head.epoch >= err.currentEpoch && !head.memberByDevice(p.device)) {
    throw new ProtocolError('NOT_A_MEMBER', `${p.device} was removed in epoch ${head.epoch}`);
  }
  throw err;
}

/**
 * Check and store key packages uploaded by `device`. Returns how many were new.
 * Each must be for this order and its current epoch, from this device (its outer
 * signature verifies under the device's key pinned in the roster), for a scope
 * the sender's role may publish into, and addressed to a member whose role reads
 * that scope. One bad package refuses the whole frame (KEY_PACKAGE_INVALID).
 */
export async function putKeyPackages(ctx: RelayContext, device: string, order: string, packages: readonly Uint8Array[]): Promise<number> {
  const roster = await requireMember(ctx, order, device);
  const sender = roster.memberByDevice(device)!;
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
    if (h.epoch !== roster.epoch) throw new ProtocolError('KEY_PACKAGE_INVALID', `package for epoch ${h.epoch}; the current epoch is ${roster.epoch}`);
    if (!mayPublishAny(roster.policy, sender.role, h.scope)) {
      throw new ProtocolError('KEY_PACKAGE_INVALID', `${sender.role} may not publish into ${h.scope.slice(0, 32)}`);
    }
    const recipient = roster.memberByDevice(h.recipientDeviceId);
    if (!recipient || !mayRead(roster.policy, recipient.role, h.scope)) {
      throw new ProtocolError('KEY_PACKAGE_INVALID', `recipient may not read ${h.scope.slice(0, 32)} in epoch ${h.epoch}`);
    }
    if (!keyPackageSignatureValid(bytes, sender.signPublicKey)) throw new ProtocolError('KEY_PACKAGE_INVALID', 'the package signature does not verify under the sender key');
    records.push({ recipient: h.recipientDeviceId, epoch: h.epoch, sender: device, scope: h.scope, bytes });
  }
  return ctx.metrics.timeStore('putKeyPackages', () => ctx.store.putKeyPackages(order, records));
}

function keyPackageCursor(epoch: number, bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(KEY_PACKAGE_CURSOR_BYTES);
  out.writeUInt32BE(epoch);
  out.set(sha256(bytes), 4);
  return out;
}

/**
 * Key packages addressed to `device` (and only those), one page of at most
 * REPLY_BYTES_BUDGET bytes. Served in (epoch, SHA-256) order so that a cursor
 * stays valid while packages are added or dropped; `next` is present when more
 * follow: ask again with `after = next`.
 */
export async function fetchKeyPackages(ctx: RelayContext, device: string, order: string, epoch?: number, after?: Uint8Array): Promise<{ packages: Uint8Array[]; next?: Uint8Array }> {
  const all = await ctx.metrics.timeStore('keyPackages', () => ctx.store.keyPackages(order, device, epoch));
  const keyed = all.map((bytes) => ({ bytes, key: keyPackageCursor(decodeKeyPackageHeader(bytes).epoch, bytes) })).sort((a, b) => Buffer.compare(a.key, b.key));
  const from = after ? keyed.filter((p) => Buffer.compare(p.key, after) > 0) : keyed;
  const packages: Uint8Array[] = [];
  let bytes = 0;
  let last: Uint8Array | undefined;
  for (const p of from) {
    if (last && (bytes + p.bytes.byteLength > REPLY_BYTES_BUDGET || packages.length >= MAX_KEY_PACKAGES_PER_REPLY)) return { packages, next: last };
    packages.push(p.bytes);
    bytes += p.bytes.byteLength;
    last = p.key;
  }
  return { packages };
}

/** Matches the `kp` frame schema's array cap. */
const MAX_KEY_PACKAGES_PER_REPLY = 4096;

/** Accept a roster (any authenticated device may carry one: the authority's signature is what counts). */
export async function putRoster(ctx: RelayContext, order: string, bytes: Uint8Array): Promise<VerifiedRoster> {
  return ctx.metrics.timeStore('putRoster', () => ctx.rosters.put(order, bytes));
}

/**
 * The roster chain from `fromEpoch`, for devices that appear in it, one page of at
 * most `max` rosters and REPLY_BYTES_BUDGET bytes (`nextEpoch` when more follow).
 * A removed member gets the chain only up to the last epoch that included it:
 * later rosters would tell it who replaced it.
 */
export async function fetchRosters(ctx: RelayContext, device: string, order: string, fromEpoch: number, max: number): Promise<{ rosters: Uint8Array[]; nextEpoch?: number }> {
  const head = await ctx.rosters.synced(order);
  if (!head) throw new ProtocolError('ORDER_UNKNOWN', order);
  let lastMember = 0;
  for (let e = head.epoch; e >= 1 && lastMember === 0; e--) if (ctx.rosters.cachedAt(order, e)?.memberByDevice(device)) lastMember = e;
  if (lastMember === 0) throw new ProtocolError('NOT_A_MEMBER', `${device} never belonged to ${order}`);
  const records = await ctx.metrics.timeStore('rosters', () => ctx.store.rosters(order, fromEpoch));
  const rosters: Uint8Array[] = [];
  let bytes = 0;
  for (const r of records) {
    if (r.epoch > lastMember) break;
    if (rosters.length > 0 && (rosters.length >= max || bytes + r.bytes.byteLength > REPLY_BYTES_BUDGET)) return { rosters, nextEpoch: r.epoch };
    rosters.push(r.bytes);
    bytes += r.bytes.byteLength;
  }
  return { rosters };
}

/**
 * Envelope bytes in one HTTP history page. Without it one signed GET could make the
 * relay build 256 × 96 KiB of envelopes as base64 JSON (~33 MiB) in memory; 1 MiB
 * (~1.4 MiB of JSON) still carries hundreds of typical chat messages.
 */
export const HISTORY_BYTES_BUDGET = 1024 * 1024;

/**
 * History after `afterSeq` as `device` may see it (same visibility and `prev` links
 * as a subscription), at most `limit` messages read and HISTORY_BYTES_BUDGET envelope
 * bytes returned; page on with `after = nextAfterSeq` (always at least one message
 * further, so paging ends).
 */
export async function readHistory(
  ctx: RelayContext,
  device: string,
  order: string,
  afterSeq: number,
  limit: number,
  budgetBytes = HISTORY_BYTES_BUDGET,
): Promise<{ messages: DeliveredMessage[]; headSeq: number; nextAfterSeq: number }> {
  await requireMember(ctx, order, device);
  const oldest = await ctx.metrics.timeStore('oldest', () => ctx.store.oldest(order));
  if (afterSeq + 1 < oldest) throw Object.assign(new ProtocolError('HISTORY_TRIMMED', `oldest held is ${oldest}`), { oldestSeq: oldest });
  const batch = await ctx.metrics.timeStore('read', () => ctx.store.read(order, afterSeq, Math.min(limit, MAX_DELIVER_BATCH)));
  const maxEpoch = batch.reduce((e, m) => Math.max(e, m.epoch), 0);
  if (maxEpoch > 0) await ctx.rosters.ensureEpoch(order, maxEpoch);
  const messages: DeliveredMessage[] = [];
  let prev = afterSeq;
  let dealtWith = afterSeq;
  let bytes = 0;
  for (const m of batch) {
    if (ctx.rosters.canRead(order, m.epoch, m.scope, device)) {
      if (messages.length > 0 && bytes + m.envelope.byteLength > budgetBytes) break;
      messages.push({ seq: m.seq, prev, envelope: wire(m.envelope), at: m.at });
      bytes += m.envelope.byteLength;
      prev = m.seq;
    }
    dealtWith = m.seq;
  }
  const headSeq = await ctx.store.head(order);
  return { messages, headSeq, nextAfterSeq: dealtWith };
}

export function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest();
}

/** Store an encrypted attachment for an order the device belongs to. */
export async function putBlob(ctx: RelayContext, device: string, order: string, hash: Uint8Array, data: Uint8Array): Promise<string> {
  await requireMember(ctx, order, device);
  if (data.byteLength > ctx.config.blobs.maxBytes) throw new ProtocolError('PAYLOAD_TOO_LARGE', `blob over ${ctx.config.blobs.maxBytes} bytes`);
  if (Buffer.compare(sha256(data), hash) !== 0) throw new ProtocolError('BLOB_HASH_MISMATCH');
  return ctx.metrics.timeStore('blobPut', () => ctx.blobs.put(order, hash, data, ctx.config.blobs.ttlMs, device));
}

/** Fetch an attachment; only current members of its order may. */
export async function getBlob(ctx: RelayContext, device: string, blobId: string): Promise<Uint8Array> {
  const blob = await ctx.metrics.timeStore('blobGet', () => ctx.blobs.get(blobId));
  if (!blob) throw new ProtocolError('BLOB_NOT_FOUND');
  // Against the store's epoch: a member removed on another node must not fetch it here.
  const roster = await ctx.rosters.synced(blob.order);
  // Same answer as a missing blob: do not reveal that an id exists to outsiders.
  if (!roster?.memberByDevice(device)) throw new ProtocolError('BLOB_NOT_FOUND');
  return blob.data;
}
