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
  readonly bytes: Uint8Array;
}

/** Called when a message was appended (on any node, for the Redis store). A hint: may be late, lost or repeated. */
export type AppendListener = (order: string, message: StoredMessage) => void;

export interface RetentionPolicy {
  /** Messages older than this are trimmed (ms). */
  readonly maxAgeMs: number;
  /** At most this many messages are kept per order. */
  readonly maxLength: number;
}

export interface MessageStore {
  readonly kind: 'memory' | 'redis';

  /** Append durably with dedup on (device, clientMsgId); assigns the next seq. */
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
   * Returns false when another roster won.
   */
  putRoster(order: string, epoch: number, bytes: Uint8Array): Promise<boolean>;
  /** Rosters with epoch ≥ fromEpoch, ascending. */
  rosters(order: string, fromEpoch: number): Promise<RosterRecord[]>;
  /** The newest roster, if any. */
  currentRoster(order: string): Promise<RosterRecord | undefined>;

  /** Store key packages (opaque bytes) by recipient; returns how many were new. */
  putKeyPackages(order: string, packages: readonly KeyPackageRecord[]): Promise<number>;
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
  /** Store `data` whose SHA-256 is `hash` (verified); returns the blob id. */
  put(order: string, hash: Uint8Array, data: Uint8Array, ttlMs: number): Promise<string>;
  get(blobId: string): Promise<{ order: string; data: Uint8Array } | undefined>;
  close(): Promise<void>;
}
