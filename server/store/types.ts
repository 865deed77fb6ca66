/**
 * The storage contract of the relay. Two implementations: `memory` (the embedded
 * default, one process) and `redis` (durable, shared by several relay nodes).
 * Both are tested by the same contract suite (test/server/store-contract.ts).
 *
 * Delivery contract: `append` resolves only once the message is durable in this
 * store (for Redis: the script has run and, with AOF, is fsynced per Redis's
 * policy); a publish is acknowledged to the client only after that. Not acked
 * means the client retries with the same clientMsgId, and the store answers the
 * original seq with `duplicate: true` for DEDUP_WINDOW_MS.
 */
import { ProtocolError } from '../../protocol/errors.ts';

/**
 * The store could not be reached or could not complete the operation. For `append`
 * this means the message was NOT acknowledged (it may or may not have been stored:
 * the client's retry with the same clientMsgId is answered by dedup either way).
 * A ProtocolError, so the relay sends it as STORE_UNAVAILABLE without a mapping table.
 */
export class StoreUnavailableError extends ProtocolError {
  constructor(operation: string, cause?: unknown) {
    super('STORE_UNAVAILABLE', `${operation}: ${cause instanceof Error ? cause.message : String(cause ?? 'unavailable')}`);
    this.name = 'StoreUnavailableError';
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/**
 * The append named a roster epoch other than the order's current one in this store
 * (another relay node accepted a newer roster, or the sender is behind). Checked
 * atomically with the append, so no node with a stale roster cache can store a
 * message for an old epoch. A ProtocolError: the client sees EPOCH_STALE.
 */
export class EpochStaleError extends ProtocolError {
  constructor(
    readonly sealedFor: number,
    readonly currentEpoch: number,
  ) {
    super('EPOCH_STALE', `sealed for epoch ${sealedFor}, the order's current epoch is ${currentEpoch}`);
    this.name = 'EpochStaleError';
  }
}

/** What the relay learned from the clear envelope header, stored beside the bytes. */
export interface StoredMessage {
  /** Gapless per-order sequence number, starting at 1. */
  readonly seq: number;
  /** The sealed envelope exactly as the sender sent it. */
  readonly envelope: Uint8Array;
  /** Relay receive time, ms since the epoch. */
  readonly at: number;
  /** Roster epoch the envelope was sealed for. */
  readonly epoch: number;
  /** Scope (channel) the envelope belongs to: decides who may read it. */
  readonly scope: string;
  /** Sender device id (equal to the authenticated publisher). */
  readonly sender: string;
}

/**
 * `epoch` must be the order's current roster epoch in this store (as stored by
 * putRoster), else append rejects with EpochStaleError and stores nothing. An
 * order without any roster in the store accepts every epoch (stores used
 * without rosters: benchmarks, delivery tests); the relay never appends to
 * such an order (ORDER_UNKNOWN first). A dedup hit is answered before the
 * epoch check: a retry of a message stored before a roster change still
 * learns its seq.
 */
export interface AppendInput {
  readonly order: string;
  readonly device: string;
  readonly clientMsgId: string;
  readonly envelope: Uint8Array;
  readonly epoch: number;
  readonly scope: string;
  readonly at: number;
}

export interface AppendResult {
  readonly seq: number;
  /** True when (device, clientMsgId) was appended before: nothing new was stored. */
  readonly duplicate: boolean;
}

export interface RosterRecord {
  readonly epoch: number;
  readonly bytes: Uint8Array;
  /** The order's head seq when this roster was accepted (informational). */
  readonly acceptedAtSeq: number;
}

export interface KeyPackageRecord {
  readonly recipient: string;
  readonly epoch: number;
  /** Sender device and scope: with recipient and epoch they form the group that `keep` caps. */
  readonly sender: string;
  readonly scope: string;
  readonly bytes: Uint8Array;
}

/**
 * Key packages kept per (recipient, sender, epoch, scope); the newest win. A sender
 * makes one per recipient and scope each time it rotates its sender key (every 100
 * messages or a week, crypto/README.md), so 16 cover 1,600 of one sender's messages
 * in one epoch and scope for a reader that was offline all along, while a member
 * flooding a victim with packages can pin at most 16 × 2 KiB per group.
 */
export const KEY_PACKAGES_KEPT_PER_GROUP = 16;

/** Called when a message was appended (on any node, for the Redis store). A hint: may be late, lost or repeated. */
export type AppendListener = (order: string, message: StoredMessage) => void;

/** Called when roster `epoch` of `order` was stored (by any node watching it, for Redis). A hint, like AppendListener. */
export type RosterListener = (order: string, epoch: number) => void;

export interface RetentionPolicy {
  /** Messages older than this are trimmed (ms). */
  readonly maxAgeMs: number;
  /** At most this many messages are kept per order. */
  readonly maxLength: number;
}

export interface MessageStore {
  readonly kind: 'memory' | 'redis';

  /**
   * Append durably with dedup on (device, clientMsgId); assigns the next seq.
   * Rejects with EpochStaleError when `input.epoch` is not the order's current roster epoch.
   */
  append(input: AppendInput): Promise<AppendResult>;
  /** Messages with seq > afterSeq, ascending, at most `limit`. */
  read(order: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;
  /** Highest seq assigned in `order` (0 if none). */
  head(order: string): Promise<number>;
  /** Lowest seq still held (head+1 if the order is empty or fully trimmed). */
  oldest(order: string): Promise<number>;

  /**
   * Store roster `epoch` iff the current epoch is `epoch - 1` (compare-and-set, so
   * two relay nodes cannot both accept different rosters for the same epoch).
   * Returns false when another roster won. On success every roster listener of
   * every node watching the order hears of it (Redis: SPUBLISH on the order's
   * shard channel; memory: at once).
   */
  putRoster(order: string, epoch: number, bytes: Uint8Array): Promise<boolean>;
  /** The order's current roster epoch (0 when it has none): one cheap read, the source of truth across nodes. */
  currentEpoch(order: string): Promise<number>;
  /** Rosters with epoch ≥ fromEpoch, ascending. */
  rosters(order: string, fromEpoch: number): Promise<RosterRecord[]>;
  /** The newest roster, if any. */
  currentRoster(order: string): Promise<RosterRecord | undefined>;

  /**
   * Store key packages (opaque bytes) by recipient; returns how many were new. Keeps
   * at most `keep` (default KEY_PACKAGES_KEPT_PER_GROUP) per (recipient, sender,
   * epoch, scope), dropping the oldest stored first, atomically per call.
   */
  putKeyPackages(order: string, packages: readonly KeyPackageRecord[], keep?: number): Promise<number>;
  /** Packages addressed to `recipient`, optionally of one epoch. */
  keyPackages(order: string, recipient: string, epoch?: number): Promise<Uint8Array[]>;

  /** Advance (never lower) the cumulative-ack cursor of a device in an order. */
  setCursor(order: string, device: string, seq: number): Promise<void>;
  cursor(order: string, device: string): Promise<number>;

  /**
   * Register for append hints; returns an unsubscribe function. Appends made through
   * this store instance are announced for every order; appends made by other nodes
   * only for watched orders. Listeners must tolerate repeated and skipped seqs
   * (back-fill with `read` when a hint's seq is beyond what they delivered).
   */
  onAppend(listener: AppendListener): () => void;
  /** Register for roster-change hints (same delivery rules as onAppend: local at once, other nodes' for watched orders). */
  onRoster(listener: RosterListener): () => void;
  /**
   * Remember `key` for `ttlMs`; true if it was new, false if it was already
   * remembered (a replay) OR the store cannot remember more right now (the
   * memory store is bounded and refuses rather than evicts, so a flood cannot
   * push real nonces out and reopen their replay window). Shared by every node
   * of a Redis deployment (SET NX PX).
   */
  rememberNonce(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Tell the store this node has local subscribers of `order` (Redis: SSUBSCRIBE its
   * channel). Reference-counted: each watch needs one unwatch. Once subscribed, the
   * Redis store emits a synthetic hint of the current head (and again after its
   * subscriber reconnects), so appends racing the subscription are not missed; the
   * memory store needs none, it announces every append.
   * Rejects with StoreUnavailableError when the store cannot be reached.
   */
  watch(order: string): Promise<void>;
  unwatch(order: string): Promise<void>;

  /** Health for /readyz. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Encrypted attachments. Content-addressed by the SHA-256 of the ciphertext (node:crypto on the relay, libsodium crypto_hash_sha256 on clients). */
export interface BlobStore {
  /**
   * Store `data` whose SHA-256 is `hash` (verified); returns the blob id. `device` is
   * the uploader, for per-device quotas (the memory store; the others ignore it).
   */
  put(order: string, hash: Uint8Array, data: Uint8Array, ttlMs: number, device?: string): Promise<string>;
  get(blobId: string): Promise<{ order: string; data: Uint8Array } | undefined>;
  close(): Promise<void>;
}
