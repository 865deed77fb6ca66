/**
 * Sender keys (per order, epoch, scope and sending device) and the key
 * packages that distribute them.
 *
 * Key package encoding (crypto/README.md):
 *   str('sealrelay/keypkg/v1') u32 version str orderId u32 epoch str scope
 *   str senderDeviceId str recipientDeviceId bytes(16 senderKeyId) bytes(sealed)
 *   | bytes(64 signature by the sender over all of the above)
 * sealed = crypto_box_seal(recipient X25519 key, inner) with
 *   inner = str('sealrelay/keypkg-inner/v1') str orderId u32 epoch str scope
 *           str senderDeviceId bytes(16 senderKeyId) u32 startIndex bytes(32 chainKey)
 * The outer signature authenticates the sender (a sealed box alone does not);
 * repeating the context inside the box binds the key to it even if a signing
 * key were ever shared between chains.
 */
import { CryptoError } from './errors.ts';
import { Reader, Writer, ZERO_HASH, bytesEqual } from './encoding.ts';
import { type DeviceKeys, verifySig } from './identity.ts';
import { mayPublishAny, mayRead } from './policy.ts';
import { type ReceivedSenderKey, type SenderKeyContext, ratchetStep } from './ratchet.ts';
import type { VerifiedRoster } from './roster.ts';
import { boxSeal, randomBytes, wipe } from './sodium.ts';

const TAG_KEYPKG = 'sealrelay/keypkg/v1';
const TAG_KEYPKG_INNER = 'sealrelay/keypkg-inner/v1';
const TAG_OUTBOUND = 'sealrelay/outbound-sender-key/v1';
export const KEY_PACKAGE_VERSION = 1;
/** Largest key package accepted (protocol MAX_KEY_PACKAGE_BYTES). */
export const MAX_KEY_PACKAGE_BYTES = 2048;
/** Sealed inner part: ~200 bytes of context and key plus 48 bytes of crypto_box_seal overhead. */
const MAX_SEALED_BYTES = 1024;
export const SENDER_KEY_ID_BYTES = 16;

/**
 * When a sender starts a new sender key (besides every epoch change, which is mandatory):
 * - maxMessages 100: Megolm's default; bounds what one leaked chain key exposes.
 * - maxAgeMs 24 h (Megolm: 1 week): couriers' phones are lost or seized far more often
 *   than desktops, and a leaked chain key reads every later message of the chain, so we
 *   cap that window at a day. It costs one key package per reader per sender per day.
 */
export interface SenderKeyRotation {
  readonly maxMessages: number;
  readonly maxAgeMs: number;
}
export const DEFAULT_ROTATION: SenderKeyRotation = Object.freeze({ maxMessages: 100, maxAgeMs: 24 * 60 * 60 * 1000 });

/** Scope names as policy data allows them (and as decoders accept them: at most 32 bytes). */
function checkScope(scope: string): void {
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(scope)) throw new CryptoError('INVALID_ARGUMENT', `invalid scope name ${JSON.stringify(scope)}`);
}

/** The sending side of one chain. Holds the current chain key; each message key is derived once and the old chain key wiped. */
export class OutboundSenderKey implements SenderKeyContext {
  private constructor(
    readonly orderId: string,
    readonly epoch: number,
    readonly scope: string,
    readonly senderDeviceId: string,
    readonly senderKeyId: Uint8Array,
    private chainKey: Uint8Array,
    private nextIndex: number,
    private readonly startIndex: number,
    readonly createdAt: number,
    private lastHash: Uint8Array,
  ) {}

  /**
   * A fresh random chain key and a random 16-byte key id (random, not derived
   * from the key, so the id reveals nothing about it).
   * @example const sk = OutboundSenderKey.create({ orderId, epoch: roster.epoch, scope: 'shared', senderDeviceId: me.deviceId, now: Date.now() });
   */
  static create(ctx: { orderId: string; epoch: number; scope: string; senderDeviceId: string; now: number }): OutboundSenderKey {
    checkScope(ctx.scope);
    return new OutboundSenderKey(ctx.orderId, ctx.epoch, ctx.scope, ctx.senderDeviceId, randomBytes(SENDER_KEY_ID_BYTES), randomBytes(32), 0, 0, ctx.now, ZERO_HASH);
  }

  /** A chain from known secrets (test vectors, interop tests). */
  static fromSecret(ctx: SenderKeyContext & { chainKey: Uint8Array; index?: number; createdAt?: number }): OutboundSenderKey {
    if (ctx.chainKey.length !== 32 || ctx.senderKeyId.length !== SENDER_KEY_ID_BYTES) throw new CryptoError('INVALID_ARGUMENT', 'chain key 32 bytes, key id 16 bytes');
    checkScope(ctx.scope);
    const idx = ctx.index ?? 0;
    return new OutboundSenderKey(ctx.orderId, ctx.epoch, ctx.scope, ctx.senderDeviceId, ctx.senderKeyId.slice(), ctx.chainKey.slice(), idx, idx, ctx.createdAt ?? 0, ZERO_HASH);
  }

  /** Index the next message will use. */
  get index(): number {
    return this.nextIndex;
  }

  /** Messages sent with this key. */
  get messageCount(): number {
    return this.nextIndex - this.startIndex;
  }

  /** envelopeHash of the last envelope sent on this chain (zeros before the first). */
  get prevHash(): Uint8Array {
    return this.lastHash;
  }

  /** @internal the current chain key and index, for key packages. */
  snapshot(): { chainKey: Uint8Array; index: number } {
    return { chainKey: this.chainKey.slice(), index: this.nextIndex };
  }

  /** @internal advance: returns message key of the current index and wipes the old chain key. */
  advance(): { index: number; messageKey: Uint8Array } {
    const { messageKey, nextChainKey } = ratchetStep(this.chainKey);
    wipe(this.chainKey);
    this.chainKey = nextChainKey;
    return { index: this.nextIndex++, messageKey };
  }

  /** @internal record the hash of the envelope just sent, for the next prevHash. */
  recordSent(hash: Uint8Array): void {
    this.lastHash = hash;
  }

  /** Secret bytes: persist only inside sealKeystore(). */
  serialize(): Uint8Array {
    return new Writer(TAG_OUTBOUND, 256)
      .id(this.orderId).u32(this.epoch).str(this.scope).id(this.senderDeviceId).bytes(this.senderKeyId)
      .bytes(this.chainKey).u32(this.nextIndex).u32(this.startIndex).u64(this.createdAt).bytes(this.lastHash)
      .finish();
  }

  static deserialize(bytes: Uint8Array): OutboundSenderKey {
    const r = new Reader(bytes, 'outbound sender key');
    r.tag(TAG_OUTBOUND);
    const k = new OutboundSenderKey(r.id(), r.u32(), r.str(32), r.id(), r.fixed(16), r.fixed(32), r.u32(), r.u32(), r.u64(), r.fixed(32));
    r.end();
    return k;
  }

  wipe(): void {
    wipe(this.chainKey);
  }
}

/**
 * Must the sender start a new sender key before its next message? True after
 * rule.maxMessages messages, after rule.maxAgeMs, or when the roster epoch moved.
 */
export function needsRotation(key: OutboundSenderKey, now: number, opts: { epoch?: number; rule?: SenderKeyRotation } = {}): boolean {
  const rule = opts.rule ?? DEFAULT_ROTATION;
  if (opts.epoch !== undefined && opts.epoch !== key.epoch) return true;
  return key.messageCount >= rule.maxMessages || now - key.createdAt >= rule.maxAgeMs;
}

export interface KeyPackageHeader {
  readonly version: number;
  readonly orderId: string;
  readonly epoch: number;
  readonly scope: string;
  readonly senderDeviceId: string;
  readonly recipientDeviceId: string;
  readonly senderKeyId: Uint8Array;
}

export interface DecodedKeyPackage {
  readonly header: KeyPackageHeader;
  readonly sealed: Uint8Array;
  readonly signature: Uint8Array;
  /** The signed bytes (everything before the signature). */
  readonly signedBytes: Uint8Array;
}

/** Parse a whole key package without keys or sodium. Throws MALFORMED. */
export function decodeKeyPackage(bytes: Uint8Array): DecodedKeyPackage {
  const r = new Reader(bytes, 'key package');
  if (bytes.length > MAX_KEY_PACKAGE_BYTES) r.fail('too large');
  r.tag(TAG_KEYPKG);
  const version = r.u32();
  if (version !== KEY_PACKAGE_VERSION) r.fail(`unsupported version ${version}`);
  const header: KeyPackageHeader = {
    version,
    orderId: r.id(),
    epoch: r.u32(),
    scope: r.str(32),
    senderDeviceId: r.id(),
    recipientDeviceId: r.id(),
    senderKeyId: r.fixed(SENDER_KEY_ID_BYTES),
  };
  const sealed = r.bytes(MAX_SEALED_BYTES);
  const signedBytes = r.sliceFrom(0);
  const signature = r.fixed(64);
  r.end();
  return { header, sealed, signature, signedBytes };
}

/**
 * The clear routing header of a key package; needs neither keys nor sodium, so the relay can call it on every upload.
 * @example const { orderId, epoch, recipientDeviceId } = decodeKeyPackageHeader(bytes);
 */
export function decodeKeyPackageHeader(bytes: Uint8Array): KeyPackageHeader {
  return decodeKeyPackage(bytes).header;
}

/** @internal encode and sign a key package from its parts (used by createKeyPackages and the test vectors). */
export function encodeKeyPackage(header: Omit<KeyPackageHeader, 'version'>, sealed: Uint8Array, sender: DeviceKeys): Uint8Array {
  const w = new Writer(TAG_KEYPKG, 512)
    .u32(KEY_PACKAGE_VERSION)
    .id(header.orderId, 'orderId')
    .u32(header.epoch)
    .str(header.scope)
    .id(header.senderDeviceId, 'senderDeviceId')
    .id(header.recipientDeviceId, 'recipientDeviceId')
    .bytes(header.senderKeyId)
    .bytes(sealed);
  return w.bytes(sender.sign(w.finish())).finish();
}

function encodeInner(ctx: SenderKeyContext, startIndex: number, chainKey: Uint8Array): Uint8Array {
  return new Writer(TAG_KEYPKG_INNER, 256)
    .id(ctx.orderId).u32(ctx.epoch).str(ctx.scope).id(ctx.senderDeviceId).bytes(ctx.senderKeyId).u32(startIndex).bytes(chainKey)
    .finish();
}

export interface KeyPackageOut {
  readonly recipientDeviceId: string;
  readonly bytes: Uint8Array;
}

/**
 * Seal the sender key's current chain key to every roster member allowed to
 * read its scope (except the sender itself), each package signed by the sender.
 * @example const pkgs = createKeyPackages(sk, me, roster); relay.putKeyPackages(pkgs.map(p => p.bytes));
 */
export function createKeyPackages(senderKey: OutboundSenderKey, sender: DeviceKeys, roster: VerifiedRoster): KeyPackageOut[] {
  if (senderKey.senderDeviceId !== sender.deviceId) throw new CryptoError('INVALID_ARGUMENT', 'sender key belongs to another device');
  if (roster.orderId !== senderKey.orderId || roster.epoch !== senderKey.epoch) {
    throw new CryptoError('WRONG_CONTEXT', `sender key of ${senderKey.orderId}#${senderKey.epoch} with roster ${roster.orderId}#${roster.epoch}`);
  }
  const me = roster.memberByDevice(sender.deviceId);
  if (!me) throw new CryptoError('NOT_A_MEMBER', `${sender.deviceId} in ${roster.orderId}#${roster.epoch}`);
  if (!mayPublishAny(roster.policy, me.role, senderKey.scope)) throw new CryptoError('POLICY_DENIED', `${me.role} publishes nothing into ${senderKey.scope}`);
  const { chainKey, index } = senderKey.snapshot();
  const inner = encodeInner(senderKey, index, chainKey);
  wipe(chainKey);
  try {
    const out: KeyPackageOut[] = [];
    for (const m of roster.readersOf(senderKey.scope)) {
      if (m.deviceId === sender.deviceId) continue;
      const sealed = boxSeal(inner, m.boxPublicKey);
      const bytes = encodeKeyPackage(
        { orderId: senderKey.orderId, epoch: senderKey.epoch, scope: senderKey.scope, senderDeviceId: sender.deviceId, recipientDeviceId: m.deviceId, senderKeyId: senderKey.senderKeyId },
        sealed,
        sender,
      );
      out.push({ recipientDeviceId: m.deviceId, bytes });
    }
    return out;
  } finally {
    wipe(inner);
  }
}

/**
 * Check that a key package is for `roster`'s order and epoch, to me, from a
 * member allowed to publish in its scope, and that I may read that scope; then
 * open it. Install the result with ReceiverState.install().
 * @example state.install(openKeyPackage(bytes, me, chain.rosterAt(hdr.epoch)!));
 */
export function openKeyPackage(bytes: Uint8Array, me: DeviceKeys, roster: VerifiedRoster): ReceivedSenderKey {
  const { header, sealed, signature, signedBytes } = decodeKeyPackage(bytes);
  if (header.recipientDeviceId !== me.deviceId) throw new CryptoError('WRONG_RECIPIENT', `addressed to ${header.recipientDeviceId}`);
  if (header.orderId !== roster.orderId || header.epoch !== roster.epoch) {
    throw new CryptoError('WRONG_CONTEXT', `key package of ${header.orderId}#${header.epoch} checked against roster ${roster.orderId}#${roster.epoch}`);
  }
  const sender = roster.memberByDevice(header.senderDeviceId);
  if (!sender) throw new CryptoError('NOT_A_MEMBER', `sender ${header.senderDeviceId}`);
  if (!verifySig(signature, signedBytes, sender.signPublicKey)) throw new CryptoError('BAD_SIGNATURE', `key package from ${header.senderDeviceId}`);
  const mine = roster.memberByDevice(me.deviceId);
  if (!mine) throw new CryptoError('NOT_A_MEMBER', `recipient ${me.deviceId}`);
  if (!mayRead(roster.policy, mine.role, header.scope)) throw new CryptoError('POLICY_DENIED', `${mine.role} may not read ${header.scope}`);
  if (!mayPublishAny(roster.policy, sender.role, header.scope)) throw new CryptoError('POLICY_DENIED', `${sender.role} may not publish into ${header.scope}`);
  const inner = me.openSealed(sealed);
  try {
    const r = new Reader(inner, 'key package contents');
    r.tag(TAG_KEYPKG_INNER);
    const ctx = { orderId: r.id(), epoch: r.u32(), scope: r.str(32), senderDeviceId: r.id(), senderKeyId: r.fixed(SENDER_KEY_ID_BYTES) };
    const startIndex = r.u32();
    const chainKey = r.fixed(32);
    r.end();
    if (
      ctx.orderId !== header.orderId || ctx.epoch !== header.epoch || ctx.scope !== header.scope ||
      ctx.senderDeviceId !== header.senderDeviceId || !bytesEqual(ctx.senderKeyId, header.senderKeyId)
    ) {
      wipe(chainKey);
      throw new CryptoError('WRONG_CONTEXT', 'sealed contents do not match the package header');
    }
    return { ...ctx, startIndex, chainKey };
  } finally {
    wipe(inner);
  }
}
