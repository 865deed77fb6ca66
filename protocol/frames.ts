/**
 * Every frame between a client and the relay, defined once as a zod schema; the
 * TypeScript types are inferred from the schemas. The wire layout (MessagePack
 * maps with these field names) is specified in protocol/README.md.
 *
 * Frames are split by direction so that each side validates only what the other
 * may send: a client can never make the relay accept a `deliver`.
 */
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from './errors.ts';
import {
  CHALLENGE_BYTES,
  MAX_BLOB_FRAME_BYTES,
  MAX_CERTIFICATE_BYTES,
  MAX_CLIENT_MSG_ID_BYTES,
  MAX_DELIVER_BATCH,
  MAX_ENVELOPE_BYTES,
  MAX_ID_BYTES,
  MAX_KEY_PACKAGE_BYTES,
  MAX_KEY_PACKAGES_PER_PUT,
  MAX_REQUEST_ID,
  MAX_ROSTER_BYTES,
  MAX_ROSTERS_PER_GET,
} from './limits.ts';

/**
 * Bytes of `s` as UTF-8 (what TextEncoder would produce: a lone surrogate becomes
 * U+FFFD, 3 bytes), counted without allocating. TextEncoder.encode cost ~1.3 µs per
 * id here, paid twice on every publish.
 */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
/**
 * A surrogate half without its partner: not valid Unicode, and its UTF-8 form (what
 * node-redis or a TextEncoder writes) is U+FFFD, so two such ids could name one key.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The rule of idString as a plain predicate (the codec's fast paths use it; same answer as the schema). */
export function isIdString(s: unknown, max: number): s is string {
  return typeof s === 'string' && s.length >= 1 && s.length <= max && utf8Length(s) <= max && !CONTROL.test(s) && !LONE_SURROGATE.test(s);
}

/** A non-empty UTF-8 string of at most `max` bytes, without control characters. */
function idString(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .refine((s) => isIdString(s, max), {
      message: `must be 1..${max} UTF-8 bytes of well-formed text without control characters`,
    });
}

/** Raw bytes (MessagePack `bin`), never base64, with a size cap checked by the schema. */
function bytes(max: number, min = 0) {
  return z
    .instanceof(Uint8Array)
    .refine((b) => b.byteLength >= min && b.byteLength <= max, { message: `must be ${min}..${max} bytes` });
}

export const Id = idString(MAX_ID_BYTES);
export const ClientMsgId = idString(MAX_CLIENT_MSG_ID_BYTES);
/** Per-order sequence numbers: 1, 2, 3 … (0 means "before the first"). */
export const Seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const RequestId = z.number().int().min(0).max(MAX_REQUEST_ID);
const Epoch = z.number().int().min(1).max(0xffff_ffff);
const Millis = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Envelope = bytes(MAX_ENVELOPE_BYTES, 1);
const Hash32 = bytes(32, 32);

// ---------------------------------------------------------------- client → relay

/** Opens the handshake. With a valid `ticket` the relay answers `welcome` at once; otherwise `challenge`. */
export const ConnectFrame = z.object({
  t: z.literal('connect'),
  v: z.number().int().min(1).max(0xffff),
  deviceId: Id,
  ticket: bytes(1024, 1).optional(),
});

/** Answers the challenge: the device certificate and an Ed25519 signature over the challenge transcript. */
export const AuthFrame = z.object({
  t: z.literal('auth'),
  certificate: bytes(MAX_CERTIFICATE_BYTES, 1),
  signature: bytes(64, 64),
});

/** Follow an order from `afterSeq` (exclusive): the relay replays from its store, then goes live. */
export const SubFrame = z.object({ t: z.literal('sub'), rid: RequestId.optional(), order: Id, afterSeq: Seq });
export const UnsubFrame = z.object({ t: z.literal('unsub'), rid: RequestId.optional(), order: Id });

/** Publish one sealed envelope; retried with the same `clientMsgId` until a `puback` arrives. */
export const PubFrame = z.object({ t: z.literal('pub'), order: Id, clientMsgId: ClientMsgId, envelope: Envelope });

/** Cumulative acknowledgement: every message of `order` up to and including `seq` was handed to the application. */
export const AckFrame = z.object({ t: z.literal('ack'), order: Id, seq: Seq });

/** Store sender-key packages (opaque, signed by their sender) for the members they are addressed to. */
export const KeyPackagePutFrame = z.object({
  t: z.literal('kp_put'),
  rid: RequestId,
  order: Id,
  packages: z.array(bytes(MAX_KEY_PACKAGE_BYTES, 1)).min(1).max(MAX_KEY_PACKAGES_PER_PUT),
});
/** Key-package paging cursor (u32 epoch ‖ SHA-256 of the last package served): opaque to clients. */
const KeyPackageCursor = bytes(36, 36);

/**
 * Fetch the key packages addressed to this device (optionally only those of one
 * epoch). Replies are paged by size: pass the previous reply's `next` as `after`.
 */
export const KeyPackageGetFrame = z.object({ t: z.literal('kp_get'), rid: RequestId, order: Id, epoch: Epoch.optional(), after: KeyPackageCursor.optional() });

/** Put an authority-signed roster: the first of an order, or the next epoch of its chain. */
export const RosterPutFrame = z.object({ t: z.literal('roster_put'), rid: RequestId, order: Id, roster: bytes(MAX_ROSTER_BYTES, 1) });
/** Fetch the roster chain from `fromEpoch` (default 1). */
export const RosterGetFrame = z.object({ t: z.literal('roster_get'), rid: RequestId, order: Id, fromEpoch: Epoch.optional() });

/** Upload a small encrypted blob; `hash` is SHA-256 of `data`, checked by the relay. */
export const BlobPutFrame = z.object({ t: z.literal('blob_put'), rid: RequestId, order: Id, hash: Hash32, data: bytes(MAX_BLOB_FRAME_BYTES, 1) });
export const BlobGetFrame = z.object({ t: z.literal('blob_get'), rid: RequestId, blobId: Id });

export const PingFrame = z.object({ t: z.literal('ping'), n: z.number().int().min(0).max(MAX_REQUEST_ID).optional() });
export const PongFrame = z.object({ t: z.literal('pong'), n: z.number().int().min(0).max(MAX_REQUEST_ID).optional() });

export const ClientFrame = z.discriminatedUnion('t', [
  ConnectFrame,
  AuthFrame,
  SubFrame,
  UnsubFrame,
  PubFrame,
  AckFrame,
  KeyPackagePutFrame,
  KeyPackageGetFrame,
  RosterPutFrame,
  RosterGetFrame,
  BlobPutFrame,
  BlobGetFrame,
  PingFrame,
  PongFrame,
]);

// ---------------------------------------------------------------- relay → client

export const ChallengeFrame = z.object({
  t: z.literal('challenge'),
  nonce: bytes(CHALLENGE_BYTES, CHALLENGE_BYTES),
  relayId: Id,
  serverTime: Millis,
});

export const WelcomeFrame = z.object({
  t: z.literal('welcome'),
  deviceId: Id,
  connectionId: Id,
  /** Opaque resumption ticket: present it in the next `connect` to skip the challenge. */
  ticket: bytes(1024, 1),
  ticketExpiresAt: Millis,
  serverTime: Millis,
  /** True when this connection was authenticated by ticket rather than by signature. */
  resumed: z.boolean(),
  limits: z.object({ maxFrameBytes: z.number().int(), maxEnvelopeBytes: z.number().int(), heartbeatMs: z.number().int() }),
});

/** The subscription is live; messages `fromSeq..headSeq` follow as `deliver` frames, then live traffic. */
export const SubscribedFrame = z.object({
  t: z.literal('subscribed'),
  rid: RequestId.optional(),
  order: Id,
  epoch: Epoch,
  headSeq: Seq,
  fromSeq: Seq,
});

/** The subscription ended: on request (no `code`) or because of `code` (e.g. MEMBER_REMOVED). */
export const UnsubscribedFrame = z.object({
  t: z.literal('unsubscribed'),
  rid: RequestId.optional(),
  order: Id,
  code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]).optional(),
});

/** The publish is durable in the relay's store at `seq`. `duplicate`: it was already, from an earlier try. */
export const PubAckFrame = z.object({ t: z.literal('puback'), order: Id, clientMsgId: ClientMsgId, seq: Seq, duplicate: z.boolean() });

export const DeliveredMessage = z.object({
  seq: Seq.min(1),
  /**
   * The sequence number of the previous message of this order that THIS reader may
   * see (0 if none). Roles see different subsets (scopes, epochs of membership), so
   * a reader's sequence has holes; `prev` lets it tell a policy hole from a loss:
   * if `prev` is above the last sequence it handed to the application, something
   * is missing and it re-subscribes from there.
   */
  prev: Seq,
  envelope: Envelope,
  /** Relay receive time (ms since epoch); informational, not authenticated. */
  at: Millis,
});

/** Messages of one order in ascending `seq` order, each linked to the previous visible one by `prev`. */
export const DeliverFrame = z.object({
  t: z.literal('deliver'),
  order: Id,
  messages: z.array(DeliveredMessage).min(1).max(MAX_DELIVER_BATCH),
});

export const KeyPackagePutOkFrame = z.object({ t: z.literal('kp_ok'), rid: RequestId, order: Id, stored: z.number().int().min(0) });
export const KeyPackagesFrame = z.object({
  t: z.literal('kp'),
  rid: RequestId,
  order: Id,
  packages: z.array(bytes(MAX_KEY_PACKAGE_BYTES, 1)).max(4096),
  /** Present when more packages follow: send `kp_get` again with `after: next`. */
  next: KeyPackageCursor.optional(),
});

export const RosterOkFrame = z.object({ t: z.literal('roster_ok'), rid: RequestId, order: Id, epoch: Epoch, hash: Hash32 });
export const RostersFrame = z.object({
  t: z.literal('rosters'),
  rid: RequestId,
  order: Id,
  rosters: z.array(bytes(MAX_ROSTER_BYTES, 1)).max(MAX_ROSTERS_PER_GET),
  /** Present when more rosters follow (the reply is paged by size): send `roster_get` with `fromEpoch: nextEpoch`. */
  nextEpoch: Epoch.optional(),
});
/** Pushed to subscribers when a new roster epoch is accepted. */
export const RosterPushFrame = z.object({ t: z.literal('roster'), order: Id, roster: bytes(MAX_ROSTER_BYTES, 1) });

export const BlobOkFrame = z.object({ t: z.literal('blob_ok'), rid: RequestId, blobId: Id });
export const BlobFrame = z.object({ t: z.literal('blob'), rid: RequestId, blobId: Id, data: bytes(MAX_BLOB_FRAME_BYTES, 1) });

export const ErrorFrame = z.object({
  t: z.literal('error'),
  code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]),
  message: z.string().max(1024),
  rid: RequestId.optional(),
  order: Id.optional(),
  clientMsgId: ClientMsgId.optional(),
  detail: z.string().max(1024).optional(),
  retryAfterMs: Millis.optional(),
  /** With HISTORY_TRIMMED: the oldest sequence the relay still holds. */
  oldestSeq: Seq.optional(),
});

export const ServerFrame = z.discriminatedUnion('t', [
  ChallengeFrame,
  WelcomeFrame,
  SubscribedFrame,
  UnsubscribedFrame,
  PubAckFrame,
  DeliverFrame,
  KeyPackagePutOkFrame,
  KeyPackagesFrame,
  RosterOkFrame,
  RostersFrame,
  RosterPushFrame,
  BlobOkFrame,
  BlobFrame,
  ErrorFrame,
  PingFrame,
  PongFrame,
]);

export type ClientFrame = z.infer<typeof ClientFrame>;
export type ServerFrame = z.infer<typeof ServerFrame>;
export type ClientFrameType = ClientFrame['t'];
export type ServerFrameType = ServerFrame['t'];
export type ClientFrameOf<T extends ClientFrameType> = Extract<ClientFrame, { t: T }>;
export type ServerFrameOf<T extends ServerFrameType> = Extract<ServerFrame, { t: T }>;
export type DeliveredMessage = z.infer<typeof DeliveredMessage>;

export const CLIENT_FRAME_TYPES = ClientFrame.options.map((o) => o.shape.t.value) as ClientFrameType[];
export const SERVER_FRAME_TYPES = ServerFrame.options.map((o) => o.shape.t.value) as ServerFrameType[];
