/**
 * The symmetric sender-key ratchet and the receiver's state.
 *
 *   messageKey_i   = crypto_kdf_derive_from_key(32, 1, 'srchain1', chainKey_i)
 *   chainKey_{i+1} = crypto_kdf_derive_from_key(32, 2, 'srchain1', chainKey_i)
 *
 * (BLAKE2b keyed KDF; subkey ids 1 and 2 make the two outputs independent).
 * chainKey_i is wiped once both are derived, so a device compromised later
 * cannot recompute past message keys (forward secrecy within a chain).
 */
import { CryptoError } from './errors.ts';
import { Reader, Writer, bytesEqual, fromHex, toHex, utf8Bytes } from './encoding.ts';
import { be } from './backend.ts';
import { hash32, wipe } from './sodium.ts';

export const KDF_CONTEXT = 'srchain1';
export const KDF_SUBKEY_MESSAGE = 1;
export const KDF_SUBKEY_CHAIN = 2;

/**
 * Largest forward jump a receiver derives in one go. The relay may lose or
 * delay a sender's messages; 2,000 covers the busiest chain between two key
 * rotations (100 messages by default) many times over, while bounding what a
 * single bad index can cost the receiver (2 × 2,000 BLAKE2b calls, ~2 ms).
 */
export const MAX_SKIP = 2000;

/**
 * Skipped (not yet received) message keys kept across all chains. Oldest are
 * evicted first and their messages then fail as REPLAY (too old). 4,000 keys
 * are 128 KiB of key material: fine on a low-end phone.
 */
export const MAX_SKIPPED_KEYS = 4000;

/**
 * Inbound sender chains kept at once. One chain per (order, epoch, scope, sender,
 * rotation): an order of 10 devices × 2 scopes × a few rotations is ~50 chains, so
 * 1,024 covers a device in dozens of active orders. Each chain is ~150 bytes in memory
 * and in the serialized state (at most ~400 with 128-byte ids), so the whole state stays
 * under ~0.5 MiB even when full. Beyond it, the least recently used chain of a
 * superseded epoch is retired first (late messages of an old epoch are the rarest),
 * then the least recently used chain overall.
 */
export const MAX_CHAINS = 1024;

/**
 * Retired chains (evicted or forgotten) remembered by their position only (a 16-byte
 * hash of the context and the next index, 20 bytes each), so that re-installing their
 * key package — which a relay can re-deliver at will — cannot rewind them and re-open
 * old messages. Oldest forgotten first; past this, only application-level de-duplication
 * (the relay's per-order seq the client commits) protects the oldest retired chains.
 */
export const MAX_RETIRED_CHAINS = 8192;

/** One ratchet step. Does not wipe `chainKey`: the caller owns it. */
export function ratchetStep(chainKey: Uint8Array): { messageKey: Uint8Array; nextChainKey: Uint8Array } {
  const s = be();
  if (chainKey.length !== 32) throw new CryptoError('INVALID_ARGUMENT', 'chain key must be 32 bytes');
  return {
    messageKey: s.kdfDerive(KDF_SUBKEY_MESSAGE, KDF_CONTEXT_BYTES, chainKey),
    nextChainKey: s.kdfDerive(KDF_SUBKEY_CHAIN, KDF_CONTEXT_BYTES, chainKey),
  };
}

/** crypto_kdf's context is exactly 8 bytes. */
const KDF_CONTEXT_BYTES = new TextEncoder().encode(KDF_CONTEXT);

/**
 * Identity of one sender chain: who sends, where, under which key id. A chain is named by
 * all five fields, never by `senderKeyId` alone: the id is in clear in every key package and
 * envelope header, so another member could copy it into its own (validly signed) chain.
 */
export interface SenderKeyContext {
  readonly orderId: string;
  readonly epoch: number;
  readonly scope: string;
  readonly senderDeviceId: string;
  readonly senderKeyId: Uint8Array;
}

/** A sender key received in a key package, ready for ReceiverState.install(). */
export interface ReceivedSenderKey extends SenderKeyContext {
  readonly startIndex: number;
  readonly chainKey: Uint8Array;
}

interface InboundChain extends SenderKeyContext {
  /** senderChainKey(this) */
  readonly key: string;
  chainKey: Uint8Array;
  nextIndex: number;
  /** Start index of the package first installed, and a commitment to its chain key. */
  readonly startIndex: number;
  readonly origin: Uint8Array;
}

/** A message key checked out for one index; commit() only after the message verified and decrypted. */
export interface MessageKeyLease {
  readonly key: Uint8Array;
  commit(): void;
  release(): void;
}

const TAG_RECEIVER = 'sealrelay/receiver-state/v2';
const TAG_ORIGIN = 'sealrelay/receiver-origin/v1';

/** The map key of a sender chain: (orderId, epoch, scope, senderDeviceId, senderKeyId), unambiguous. */
export function senderChainKey(c: SenderKeyContext): string {
  return JSON.stringify([c.orderId, c.epoch, c.scope, c.senderDeviceId, toHex(c.senderKeyId)]);
}

export function sameContext(a: SenderKeyContext, b: SenderKeyContext): boolean {
  return (
    a.orderId === b.orderId &&
    a.epoch === b.epoch &&
    a.scope === b.scope &&
    a.senderDeviceId === b.senderDeviceId &&
    bytesEqual(a.senderKeyId, b.senderKeyId)
  );
}

/** 16 bytes naming a retired chain (BLAKE2b of its context key): its key material is gone, only its position stays. */
function retiredId(key: string): string {
  return toHex(hash32(utf8Bytes(key)).subarray(0, 16));
}

/** Commitment to a package's (startIndex, chainKey): recognises a re-delivery of the same package. */
function originOf(startIndex: number, chainKey: Uint8Array): Uint8Array {
  const b = new Writer(TAG_ORIGIN, 96).u32(startIndex).bytes(chainKey).finish();
  try {
    return hash32(b);
  } finally {
    wipe(b);
  }
}

/** Ratchet `chainKey` (not wiped) forward by `steps`; returns a fresh chain key. */
function fastForward(chainKey: Uint8Array, steps: number): Uint8Array {
  let ck: Uint8Array = chainKey.slice();
  for (let i = 0; i < steps; i++) {
    const { messageKey, nextChainKey } = ratchetStep(ck);
    wipe(messageKey);
    wipe(ck);
    ck = nextChainKey;
  }
  return ck;
}

function publicContext(c: SenderKeyContext): SenderKeyContext {
  return { orderId: c.orderId, epoch: c.epoch, scope: c.scope, senderDeviceId: c.senderDeviceId, senderKeyId: c.senderKeyId.slice() };
}

/**
 * All inbound sender chains of one device, with the bounded skipped-key cache.
 * A used index is a REPLAY; a jump past MAX_SKIP is TOO_FAR_AHEAD.
 *
 * Chains are keyed by their whole context (order, epoch, scope, sender device, key id), so a
 * member who copies another sender's key id only installs a chain of its own beside it.
 * Persist it across restarts (serialize() inside sealState() or the device keystore):
 * otherwise a relay can re-deliver old envelopes after a restart and they open again.
 */
export class ReceiverState {
  /** senderChainKey → chain; insertion order = least recently used first. */
  private readonly chains = new Map<string, InboundChain>();
  /** `${senderChainKey}#${index}` → message key; insertion order = age. */
  private readonly skipped = new Map<string, Uint8Array>();
  /** retiredId → next index of a retired chain; insertion order = age. */
  private readonly retired = new Map<string, number>();

  /**
   * Install a received sender key. Re-installing the same package is a no-op (it never
   * rewinds a chain), also after the chain was retired (it resumes where it stopped).
   * The same context with other key material is KEY_ID_COLLISION (the sender itself
   * handed out two keys under one id: report it, keep the first).
   */
  install(k: ReceivedSenderKey): void {
    if (k.chainKey.length !== 32 || k.senderKeyId.length !== 16) throw new CryptoError('INVALID_ARGUMENT', 'chain key 32 bytes, key id 16 bytes');
    if (!Number.isInteger(k.startIndex) || k.startIndex < 0 || k.startIndex > 0xffff_ffff) throw new CryptoError('INVALID_ARGUMENT', 'start index must be a u32');
    const key = senderChainKey(k);
    const existing = this.chains.get(key);
    if (existing) {
      this.checkSameChain(existing, k);
      return;
    }
    const rid = retiredId(key);
    const resumeAt = this.retired.get(rid);
    let nextIndex = k.startIndex;
    let chainKey: Uint8Array;
    if (resumeAt !== undefined && resumeAt > k.startIndex) {
      if (resumeAt - k.startIndex > MAX_SKIP) throw new CryptoError('REPLAY', `this sender chain was retired at index ${resumeAt}`);
      chainKey = fastForward(k.chainKey, resumeAt - k.startIndex);
      nextIndex = resumeAt;
    } else {
      chainKey = k.chainKey.slice();
    }
    this.retired.delete(rid);
    this.chains.set(key, {
      ...publicContext(k), key, chainKey, nextIndex, startIndex: k.startIndex, origin: originOf(k.startIndex, k.chainKey),
    });
    this.evictChains();
  }

  private checkSameChain(existing: InboundChain, k: ReceivedSenderKey): void {
    const collision = (): never => {
      throw new CryptoError('KEY_ID_COLLISION', `${k.senderDeviceId} handed out two different keys under one sender key id in ${k.orderId}#${k.epoch}/${k.scope}`);
    };
    if (k.startIndex === existing.startIndex) {
      if (!bytesEqual(originOf(k.startIndex, k.chainKey), existing.origin)) collision();
      return;
    }
    // A package for a later index of the chain (e.g. sent to a member added mid-chain): check it
    // against ours when we can still derive that far; an earlier one cannot be checked, and is harmless.
    if (k.startIndex >= existing.nextIndex && k.startIndex - existing.nextIndex <= MAX_SKIP) {
      const ours = fastForward(existing.chainKey, k.startIndex - existing.nextIndex);
      const same = bytesEqual(ours, k.chainKey);
      wipe(ours);
      if (!same) collision();
    }
  }

  private resolve(ref: SenderKeyContext | Uint8Array): InboundChain | undefined {
    if (!(ref instanceof Uint8Array)) return this.chains.get(senderChainKey(ref));
    let found: InboundChain | undefined;
    for (const c of this.chains.values()) {
      if (!bytesEqual(c.senderKeyId, ref)) continue;
      if (found) return undefined; // ambiguous: the caller must name the whole context
      found = c;
    }
    return found;
  }

  /**
   * The context of an installed chain, if any. Pass the envelope or key-package header (both are
   * SenderKeyContexts). A bare key id (deprecated) finds a chain only if exactly one has that id.
   */
  chain(ref: SenderKeyContext | Uint8Array): SenderKeyContext | undefined {
    const c = this.resolve(ref);
    return c && publicContext(c);
  }

  get chainCount(): number {
    return this.chains.size;
  }

  get skippedCount(): number {
    return this.skipped.size;
  }

  get retiredCount(): number {
    return this.retired.size;
  }

  /** Check out the message key of `index` of the chain named by `ref` (see chain()) without changing state. */
  lease(ref: SenderKeyContext | Uint8Array, index: number): MessageKeyLease {
    const chain = this.resolve(ref);
    if (!chain) throw new CryptoError('UNKNOWN_SENDER_KEY');
    const id = chain.key;
    if (index < chain.nextIndex) {
      const slot = `${id}#${index}`;
      const key = this.skipped.get(slot);
      if (!key) throw new CryptoError('REPLAY', `index ${index} of this sender chain`);
      return {
        key,
        commit: () => {
          this.skipped.delete(slot);
          wipe(key);
          this.touch(chain);
        },
        release: () => {},
      };
    }
    if (index - chain.nextIndex > MAX_SKIP) {
      throw new CryptoError('TOO_FAR_AHEAD', `index ${index} is ${index - chain.nextIndex} ahead of ${chain.nextIndex}`);
    }
    const skippedKeys: Uint8Array[] = [];
    let ck = chain.chainKey;
    for (let i = chain.nextIndex; i < index; i++) {
      const step = ratchetStep(ck);
      skippedKeys.push(step.messageKey);
      if (ck !== chain.chainKey) wipe(ck);
      ck = step.nextChainKey;
    }
    const last = ratchetStep(ck);
    if (ck !== chain.chainKey) wipe(ck);
    let done = false;
    return {
      key: last.messageKey,
      commit: () => {
        if (done) return;
        done = true;
        if (this.chains.get(id) !== chain) {
          // The chain was retired meanwhile: nothing to advance.
          skippedKeys.forEach(wipe);
          wipe(last.messageKey);
          wipe(last.nextChainKey);
          return;
        }
        skippedKeys.forEach((k, j) => this.remember(`${id}#${chain.nextIndex + j}`, k));
        wipe(chain.chainKey);
        chain.chainKey = last.nextChainKey;
        chain.nextIndex = index + 1;
        wipe(last.messageKey);
        this.touch(chain);
      },
      release: () => {
        if (done) return;
        done = true;
        skippedKeys.forEach(wipe);
        wipe(last.messageKey);
        wipe(last.nextChainKey);
      },
    };
  }

  /** Mark `chain` as the most recently used. */
  private touch(chain: InboundChain): void {
    if (this.chains.get(chain.key) !== chain) return;
    this.chains.delete(chain.key);
    this.chains.set(chain.key, chain);
  }

  private remember(slot: string, key: Uint8Array): void {
    this.skipped.set(slot, key);
    while (this.skipped.size > MAX_SKIPPED_KEYS) {
      const oldest = this.skipped.keys().next().value as string;
      wipe(this.skipped.get(oldest));
      this.skipped.delete(oldest);
    }
  }

  /** Wipe a chain's keys and remember only where it stopped. */
  private retire(chain: InboundChain): void {
    wipe(chain.chainKey);
    this.chains.delete(chain.key);
    const prefix = `${chain.key}#`;
    for (const [slot, key] of this.skipped) {
      if (slot.startsWith(prefix)) {
        wipe(key);
        this.skipped.delete(slot);
      }
    }
    const rid = retiredId(chain.key);
    this.retired.delete(rid);
    this.retired.set(rid, chain.nextIndex);
    while (this.retired.size > MAX_RETIRED_CHAINS) this.retired.delete(this.retired.keys().next().value as string);
  }

  /** Over MAX_CHAINS: retire the least recently used chain of a superseded epoch, else the least recently used one. */
  private evictChains(): void {
    while (this.chains.size > MAX_CHAINS) {
      const newest = new Map<string, number>();
      for (const c of this.chains.values()) newest.set(c.orderId, Math.max(newest.get(c.orderId) ?? 0, c.epoch));
      let victim: InboundChain | undefined;
      for (const c of this.chains.values()) {
        if (c.epoch < (newest.get(c.orderId) ?? 0)) {
          victim = c;
          break;
        }
      }
      this.retire(victim ?? (this.chains.values().next().value as InboundChain));
    }
  }

  /** Retire (wipe) every chain of `orderId` with an epoch below `epoch`; re-installing one later cannot rewind it. */
  forgetBefore(orderId: string, epoch: number): void {
    for (const c of [...this.chains.values()]) {
      if (c.orderId === orderId && c.epoch < epoch) this.retire(c);
    }
  }

  /**
   * SECRET bytes (current chain keys and skipped message keys): persist them only encrypted —
   * with sealState() under the device's storage key, or inside sealDeviceKeystore() — and
   * overwrite the stored copy after every batch of opened messages (what is not saved can be
   * replayed after a crash). Bounded: at most MAX_CHAINS chains, MAX_SKIPPED_KEYS skipped keys
   * and MAX_RETIRED_CHAINS retired positions (well under 1 MiB). Used indexes are implicit: below
   * a chain's next index and not among its skipped keys.
   *
   *   str(tag) u32 n { str orderId u32 epoch str scope str sender bytes(16) keyId u32 startIndex
   *   bytes(32) origin bytes(32) chainKey u32 nextIndex }*n u32 m { u32 chain u32 index bytes(32) key }*m
   *   u32 r { bytes(16) retiredId u32 nextIndex }*r
   */
  serialize(): Uint8Array {
    const w = new Writer(TAG_RECEIVER, 4096).u32(this.chains.size);
    const ordinal = new Map<string, number>();
    for (const c of this.chains.values()) {
      ordinal.set(c.key, ordinal.size);
      w.id(c.orderId).u32(c.epoch).str(c.scope).id(c.senderDeviceId).bytes(c.senderKeyId)
        .u32(c.startIndex).bytes(c.origin).bytes(c.chainKey).u32(c.nextIndex);
    }
    w.u32(this.skipped.size);
    for (const [slot, key] of this.skipped) {
      const at = slot.lastIndexOf('#');
      w.u32(ordinal.get(slot.slice(0, at)) as number).u32(Number(slot.slice(at + 1))).bytes(key);
    }
    w.u32(this.retired.size);
    for (const [rid, next] of this.retired) w.bytes(fromHex(rid)).u32(next);
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): ReceiverState {
    const r = new Reader(bytes, 'receiver state');
    r.tag(TAG_RECEIVER);
    const st = new ReceiverState();
    const n = r.u32();
    if (n > MAX_CHAINS) r.fail('too many chains');
    const byOrdinal: InboundChain[] = [];
    for (let i = 0; i < n; i++) {
      const ctx = { orderId: r.id(), epoch: r.u32(), scope: r.str(32), senderDeviceId: r.id(), senderKeyId: r.fixed(16) };
      const startIndex = r.u32();
      const origin = r.fixed(32);
      const chainKey = r.fixed(32);
      const nextIndex = r.u32();
      if (nextIndex < startIndex) r.fail('chain position before its start');
      const key = senderChainKey(ctx);
      if (st.chains.has(key)) r.fail('duplicate chain');
      const c: InboundChain = { ...ctx, key, chainKey, nextIndex, startIndex, origin };
      st.chains.set(key, c);
      byOrdinal.push(c);
    }
    const m = r.u32();
    if (m > MAX_SKIPPED_KEYS) r.fail('too many skipped keys');
    for (let i = 0; i < m; i++) {
      const c = byOrdinal[r.u32()];
      const idx = r.u32();
      const key = r.fixed(32);
      if (!c || idx >= c.nextIndex) return r.fail('skipped key outside its chain');
      const slot = `${c.key}#${idx}`;
      if (st.skipped.has(slot)) r.fail('duplicate skipped key');
      st.skipped.set(slot, key);
    }
    const k = r.u32();
    if (k > MAX_RETIRED_CHAINS) r.fail('too many retired chains');
    for (let i = 0; i < k; i++) {
      const rid = toHex(r.fixed(16));
      st.retired.set(rid, r.u32());
    }
    r.end();
    return st;
  }
}
