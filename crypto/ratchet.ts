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
import { Reader, Writer, toHex } from './encoding.ts';
import { be } from './backend.ts';
import { wipe } from './sodium.ts';

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

/** Identity of one sender chain: who sends, where, under which key id. */
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
  chainKey: Uint8Array;
  nextIndex: number;
}

/** A message key checked out for one index; commit() only after the message verified and decrypted. */
export interface MessageKeyLease {
  readonly key: Uint8Array;
  commit(): void;
  release(): void;
}

const TAG_RECEIVER = 'sealrelay/receiver-state/v1';

export function sameContext(a: SenderKeyContext, b: SenderKeyContext): boolean {
  return (
    a.orderId === b.orderId &&
    a.epoch === b.epoch &&
    a.scope === b.scope &&
    a.senderDeviceId === b.senderDeviceId &&
    toHex(a.senderKeyId) === toHex(b.senderKeyId)
  );
}

/**
 * All inbound sender chains of one device, with the bounded skipped-key cache.
 * A used index is a REPLAY; a jump past MAX_SKIP is TOO_FAR_AHEAD.
 */
export class ReceiverState {
  private readonly chains = new Map<string, InboundChain>();
  /** `${senderKeyIdHex}:${index}` → message key; insertion order = age. */
  private readonly skipped = new Map<string, Uint8Array>();

  /** Install a received sender key. Re-installing the same key is a no-op (it never rewinds a chain). */
  install(k: ReceivedSenderKey): void {
    const id = toHex(k.senderKeyId);
    const existing = this.chains.get(id);
    if (existing) {
      if (!sameContext(existing, k)) throw new CryptoError('WRONG_CONTEXT', 'a sender key id was reused for another chain');
      return;
    }
    this.chains.set(id, { ...k, senderKeyId: k.senderKeyId.slice(), chainKey: k.chainKey.slice(), nextIndex: k.startIndex });
  }

  /** The context of an installed chain, if any. */
  chain(senderKeyId: Uint8Array): SenderKeyContext | undefined {
    const c = this.chains.get(toHex(senderKeyId));
    return c && { orderId: c.orderId, epoch: c.epoch, scope: c.scope, senderDeviceId: c.senderDeviceId, senderKeyId: c.senderKeyId };
  }

  get chainCount(): number {
    return this.chains.size;
  }

  get skippedCount(): number {
    return this.skipped.size;
  }

  /** Check out the message key of `index` without changing state. */
  lease(senderKeyId: Uint8Array, index: number): MessageKeyLease {
    const id = toHex(senderKeyId);
    const chain = this.chains.get(id);
    if (!chain) throw new CryptoError('UNKNOWN_SENDER_KEY');
    if (index < chain.nextIndex) {
      const slot = `${id}:${index}`;
      const key = this.skipped.get(slot);
      if (!key) throw new CryptoError('REPLAY', `index ${index} of this sender chain`);
      return {
        key,
        commit: () => {
          this.skipped.delete(slot);
          wipe(key);
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
        skippedKeys.forEach((k, j) => this.remember(`${id}:${chain.nextIndex + j}`, k));
        wipe(chain.chainKey);
        chain.chainKey = last.nextChainKey;
        chain.nextIndex = index + 1;
        wipe(last.messageKey);
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

  private remember(slot: string, key: Uint8Array): void {
    this.skipped.set(slot, key);
    while (this.skipped.size > MAX_SKIPPED_KEYS) {
      const oldest = this.skipped.keys().next().value as string;
      wipe(this.skipped.get(oldest));
      this.skipped.delete(oldest);
    }
  }

  /** Drop (and wipe) every chain of `orderId` with an epoch below `epoch`. */
  forgetBefore(orderId: string, epoch: number): void {
    for (const [id, c] of this.chains) {
      if (c.orderId !== orderId || c.epoch >= epoch) continue;
      wipe(c.chainKey);
      this.chains.delete(id);
      for (const [slot, key] of this.skipped) {
        if (slot.startsWith(`${id}:`)) {
          wipe(key);
          this.skipped.delete(slot);
        }
      }
    }
  }

  /** Secret bytes: persist only inside sealKeystore(). */
  serialize(): Uint8Array {
    const w = new Writer(TAG_RECEIVER, 4096).u32(this.chains.size);
    for (const c of this.chains.values()) {
      w.id(c.orderId).u32(c.epoch).str(c.scope).id(c.senderDeviceId).bytes(c.senderKeyId).bytes(c.chainKey).u32(c.nextIndex);
    }
    w.u32(this.skipped.size);
    for (const [slot, key] of this.skipped) {
      const [id, idx] = slot.split(':') as [string, string];
      w.str(id).u32(Number(idx)).bytes(key);
    }
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): ReceiverState {
    const r = new Reader(bytes, 'receiver state');
    r.tag(TAG_RECEIVER);
    const st = new ReceiverState();
    const n = r.u32();
    for (let i = 0; i < n; i++) {
      const orderId = r.id();
      const epoch = r.u32();
      const scope = r.str(32);
      const senderDeviceId = r.id();
      const senderKeyId = r.fixed(16);
      const chainKey = r.fixed(32);
      const nextIndex = r.u32();
      st.chains.set(toHex(senderKeyId), { orderId, epoch, scope, senderDeviceId, senderKeyId, chainKey, nextIndex });
    }
    const m = r.u32();
    if (m > MAX_SKIPPED_KEYS) r.fail('too many skipped keys');
    for (let i = 0; i < m; i++) {
      const id = r.str(32);
      const idx = r.u32();
      st.skipped.set(`${id}:${idx}`, r.fixed(32));
    }
    r.end();
    return st;
  }
}
