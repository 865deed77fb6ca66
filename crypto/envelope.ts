/**
 * Envelopes: one encrypted, signed message. Encoding (crypto/README.md):
 *
 *   header = str('sealrelay/envelope/v1') u32 version str orderId u32 epoch str scope
 *            str kind str senderDeviceId bytes(16 senderKeyId) u32 index bytes(32 prevHash)
 *   envelope = header bytes(24 nonce) bytes(ciphertext) | bytes(64 signature)
 *
 * ciphertext = XChaCha20-Poly1305-IETF(messageKey_index, nonce, AD = header,
 *              sodium_pad(body, bucket)) with body = str('sealrelay/body/v1') str kind bytes(payload).
 * The signature (sender's Ed25519 key) covers header, nonce and ciphertext.
 */
import { CryptoError } from './errors.ts';
import { MAX_ID_BYTES, Reader, Writer, bytesEqual, toHex, utf8Bytes } from './encoding.ts';
import { type DeviceKeys, verifySig } from './identity.ts';
import { isKind, mayPublish, type Kind } from './policy.ts';
import { type ReceiverState, MAX_CHAINS, senderChainKey } from './ratchet.ts';
import type { VerifiedRoster } from './roster.ts';
import type { OutboundSenderKey } from './senderkey.ts';
import { be } from './backend.ts';
import { hash32, randomBytes, wipe } from './sodium.ts';

const TAG_ENVELOPE = 'sealrelay/envelope/v1';
const TAG_BODY = 'sealrelay/body/v1';
export const ENVELOPE_VERSION = 1;
/** Largest envelope (protocol MAX_ENVELOPE_BYTES). */
export const MAX_ENVELOPE_BYTES = 96 * 1024;
/** Largest application payload: 64 KiB; bigger things are attachments. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
const NONCE_BYTES = 24;

export interface EnvelopeHeader {
  readonly version: number;
  readonly orderId: string;
  readonly epoch: number;
  readonly scope: string;
  readonly kind: string;
  readonly senderDeviceId: string;
  readonly senderKeyId: Uint8Array;
  readonly index: number;
  readonly prevHash: Uint8Array;
}

export interface DecodedEnvelope {
  readonly header: EnvelopeHeader;
  readonly headerBytes: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly signedBytes: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * Padding block for a body of `n` bytes: 64 below 1 KiB, 512 below 16 KiB, 4 KiB
 * above. sodium_pad always adds 1..block bytes, so a body's length is only known
 * to its bucket. The receiver derives the block from the padded length; since it
 * is never smaller than the sender's, unpad still finds the marker.
 */
export function paddingBlock(n: number): number {
  return n < 1024 ? 64 : n < 16 * 1024 ? 512 : 4096;
}

/**
 * sodium_pad / sodium_unpad (ISO/IEC 7816-4: 0x80 then zeros up to a multiple of
 * `block`, always at least one byte), byte-identical to libsodium's, done in JS
 * because the libsodium.js wrapper call cost ~30 µs per message here (a quarter of
 * an envelope's sealing time). Tested against each backend's sodium_pad/unpad.
 */
export function pad(buf: Uint8Array, block: number): Uint8Array {
  const out = new Uint8Array((Math.floor(buf.length / block) + 1) * block);
  out.set(buf);
  out[buf.length] = 0x80;
  return out;
}

export function unpad(buf: Uint8Array, block: number): Uint8Array {
  if (buf.length === 0 || buf.length % block !== 0) throw new CryptoError('MALFORMED', 'padded length is not a multiple of the block');
  let i = buf.length - 1;
  const stop = Math.max(0, buf.length - block);
  while (i >= stop && buf[i] === 0) i--;
  if (i < stop || buf[i] !== 0x80) throw new CryptoError('MALFORMED', 'bad padding');
  return buf.subarray(0, i);
}

/** Parse a whole envelope without keys or sodium. Throws MALFORMED. */
export function decodeEnvelope(bytes: Uint8Array): DecodedEnvelope {
  const r = new Reader(bytes, 'envelope');
  if (bytes.length > MAX_ENVELOPE_BYTES) r.fail('too large');
  r.tag(TAG_ENVELOPE);
  const version = r.u32();
  if (version !== ENVELOPE_VERSION) r.fail(`unsupported version ${version}`);
  const header: EnvelopeHeader = {
    version,
    orderId: r.id(),
    epoch: r.u32(),
    scope: r.str(32),
    kind: r.str(32),
    senderDeviceId: r.id(),
    senderKeyId: r.fixed(16),
    index: r.u32(),
    prevHash: r.fixed(32),
  };
  const headerBytes = r.sliceFrom(0);
  const nonce = r.bytes(NONCE_BYTES);
  if (nonce.length !== NONCE_BYTES) r.fail('nonce must be 24 bytes');
  const ciphertext = r.bytes(MAX_ENVELOPE_BYTES);
  if (ciphertext.length < 16) r.fail('ciphertext shorter than its tag');
  const signedBytes = r.sliceFrom(0);
  const signature = r.fixed(64);
  r.end();
  return { header, headerBytes, nonce, ciphertext, signedBytes, signature };
}

/**
 * The clear header; no keys, no sodium, no copies of the ciphertext. The relay calls it on every publish.
 * @example const { orderId, epoch, scope, kind, senderDeviceId } = decodeEnvelopeHeader(bytes);
 */
export function decodeEnvelopeHeader(bytes: Uint8Array): EnvelopeHeader {
  return decodeEnvelope(bytes).header;
}

/** The clear header fields the relay routes and authorizes a publish on (and the chain index, for receivers that count). */
export interface EnvelopeRoute {
  readonly orderId: string;
  readonly epoch: number;
  readonly scope: string;
  readonly kind: string;
  readonly senderDeviceId: string;
  readonly index: number;
}

const TAG_ENVELOPE_BYTES = utf8Bytes(TAG_ENVELOPE);

/**
 * decodeEnvelopeHeader's routing fields with the same structural checks (every
 * length, the nonce, tag and signature sizes, nothing left over) but without its
 * copies and views: the relay calls it on every publish, where decodeEnvelope's dozen
 * allocations showed. Anything but the plain case (ASCII ids, scope and kind) goes
 * through decodeEnvelope, so the answer, and every error, is decodeEnvelope's
 * (test/crypto/envelope-route.test.ts checks the two against each other).
 */
export function envelopeRoute(bytes: Uint8Array): EnvelopeRoute {
  // Straight-line code with module-level helpers: closures here cost an allocation
  // each per publish (and a __name wrapper each under tsx).
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_ENVELOPE_BYTES) return routeSlow(bytes);
  const n = bytes.length;
  let p = 0;
  if (readU32(bytes, p) !== TAG_ENVELOPE_BYTES.length || p + 4 + TAG_ENVELOPE_BYTES.length > n) return routeSlow(bytes);
  p += 4;
  for (let i = 0; i < TAG_ENVELOPE_BYTES.length; i++) if (bytes[p + i] !== TAG_ENVELOPE_BYTES[i]) return routeSlow(bytes);
  p += TAG_ENVELOPE_BYTES.length;
  if (readU32(bytes, p) !== ENVELOPE_VERSION) return routeSlow(bytes);
  p += 4;
  const orderId = readAscii(bytes, p, 1, MAX_ID_BYTES);
  if (orderId === undefined) return routeSlow(bytes);
  p += 4 + orderId.length;
  const epoch = readU32(bytes, p);
  if (epoch < 0) return routeSlow(bytes);
  p += 4;
  const scope = readAscii(bytes, p, 0, 32);
  if (scope === undefined) return routeSlow(bytes);
  p += 4 + scope.length;
  const kind = readAscii(bytes, p, 0, 32);
  if (kind === undefined) return routeSlow(bytes);
  p += 4 + kind.length;
  const senderDeviceId = readAscii(bytes, p, 1, MAX_ID_BYTES);
  if (senderDeviceId === undefined) return routeSlow(bytes);
  p += 4 + senderDeviceId.length;
  // senderKeyId, index, prevHash, nonce, ciphertext (at least its tag), signature; then the end.
  if ((p = skipField(bytes, p, 16, 16)) < 0) return routeSlow(bytes);
  const index = readU32(bytes, p);
  if (index < 0) return routeSlow(bytes);
  p += 4;
  if ((p = skipField(bytes, p, 32, 32)) < 0 || (p = skipField(bytes, p, NONCE_BYTES, NONCE_BYTES)) < 0) return routeSlow(bytes);
  if ((p = skipField(bytes, p, 16, MAX_ENVELOPE_BYTES)) < 0 || (p = skipField(bytes, p, 64, 64)) < 0 || p !== n) return routeSlow(bytes);
  return { orderId, epoch, scope, kind, senderDeviceId, index };
}

/** decodeEnvelope's answer (or error) for what the fast path does not decide. */
function routeSlow(bytes: Uint8Array): EnvelopeRoute {
  const h = decodeEnvelope(bytes).header;
  return { orderId: h.orderId, epoch: h.epoch, scope: h.scope, kind: h.kind, senderDeviceId: h.senderDeviceId, index: h.index };
}

/** Big-endian u32 at `p`, or -1 past the end. */
function readU32(b: Uint8Array, p: number): number {
  if (p + 4 > b.length) return -1;
  return ((b[p]! << 24) >>> 0) + (b[p + 1]! << 16) + (b[p + 2]! << 8) + b[p + 3]!;
}

/** The length-prefixed string at `p` if it is min..max bytes of ASCII (its length is then its byte count); else undefined. */
function readAscii(b: Uint8Array, p: number, min: number, max: number): string | undefined {
  const end = skipField(b, p, min, max);
  if (end < 0) return undefined;
  let s = '';
  for (let i = p + 4; i < end; i++) {
    const c = b[i]!;
    if (c > 0x7f) return undefined;
    s += String.fromCharCode(c);
  }
  return s;
}

/** The position after the length-prefixed field at `p` if its length is min..max and it fits; else -1. */
function skipField(b: Uint8Array, p: number, min: number, max: number): number {
  const len = readU32(b, p);
  if (len < min || len > max || p + 4 + len > b.length) return -1;
  return p + 4 + len;
}

/** BLAKE2b-256 of the whole envelope; the next envelope of the chain carries it as prevHash. */
export function envelopeHash(bytes: Uint8Array): Uint8Array {
  return hash32(bytes);
}

export interface SealEnvelopeInput {
  senderKey: OutboundSenderKey;
  sender: DeviceKeys;
  kind: Kind;
  /** Application bytes (the client's own encoding, e.g. UTF-8 JSON). At most MAX_PAYLOAD_BYTES. */
  body: Uint8Array;
  /** If given, the sender checks its own role may publish `kind` into the scope (POLICY_DENIED otherwise). */
  roster?: VerifiedRoster;
  /** Test vectors only: a fixed nonce. Never pass one in production. */
  nonce?: Uint8Array;
}

/**
 * Encrypt and sign one message with the next index of `senderKey`.
 * @example const bytes = sealEnvelope({ senderKey, sender: me, kind: 'text', body: utf8('on my way'), roster });
 */
export function sealEnvelope(input: SealEnvelopeInput): Uint8Array {
  const { senderKey: sk, sender, kind, body } = input;
  const s = be();
  if (sk.senderDeviceId !== sender.deviceId) throw new CryptoError('INVALID_ARGUMENT', 'sender key belongs to another device');
  if (body.length > MAX_PAYLOAD_BYTES) throw new CryptoError('INVALID_ARGUMENT', `body over ${MAX_PAYLOAD_BYTES} bytes; send it as an attachment`);
  if (!isKind(kind)) throw new CryptoError('INVALID_ARGUMENT', `unknown kind ${String(kind)}`);
  if (input.roster) {
    const me = input.roster.memberByDevice(sender.deviceId);
    if (!me) throw new CryptoError('NOT_A_MEMBER', sender.deviceId);
    if (input.roster.orderId !== sk.orderId || input.roster.epoch !== sk.epoch) throw new CryptoError('WRONG_CONTEXT', 'roster and sender key differ');
    if (!mayPublish(input.roster.policy, me.role, kind, sk.scope)) throw new CryptoError('POLICY_DENIED', `${me.role} may not publish ${kind} into ${sk.scope}`);
  }
  if (input.nonce !== undefined && input.nonce.length !== NONCE_BYTES) throw new CryptoError('INVALID_ARGUMENT', 'nonce must be 24 bytes');
  // Everything is written once into one buffer of the final size (no Writer growth, no
  // intermediate copies): header | bytes(nonce) | bytes(ciphertext) | bytes(signature).
  const prefix = headerPrefix(sk, kind);
  const keyId = sk.senderKeyId;
  const prevHash = sk.prevHash;
  const kindBytes = kindBytesOf(kind);
  const headerLen = prefix.length + 4 + keyId.length + 4 + 4 + prevHash.length;
  const plainLen = TAG_BODY_FIELD.length + 4 + kindBytes.length + 4 + body.length;
  const block = paddingBlock(plainLen);
  const paddedLen = (Math.floor(plainLen / block) + 1) * block;
  const ctLen = paddedLen + 16;
  const signedLen = headerLen + 4 + NONCE_BYTES + 4 + ctLen;
  const out = new Uint8Array(signedLen + 4 + SIGNATURE_BYTES);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.set(prefix);
  let o = prefix.length;
  view.setUint32(o, keyId.length);
  out.set(keyId, o + 4);
  o += 4 + keyId.length;
  const indexAt = o;
  o += 4;
  view.setUint32(o, prevHash.length);
  out.set(prevHash, o + 4);
  o += 4 + prevHash.length;
  view.setUint32(o, NONCE_BYTES);
  const nonce = out.subarray(o + 4, o + 4 + NONCE_BYTES);
  if (input.nonce) nonce.set(input.nonce);
  else takeNonce(nonce);
  o += 4 + NONCE_BYTES;
  view.setUint32(o, ctLen);
  const ct = out.subarray(o + 4, o + 4 + ctLen);

  const { index, messageKey } = sk.advance();
  // The body is padded in a reused scratch buffer, wiped after use.
  const padded = paddedScratch(paddedLen);
  try {
    if (!Number.isInteger(index) || index < 0 || index > 0xffff_ffff) throw new CryptoError('INVALID_ARGUMENT', `u32 out of range: ${index}`);
    view.setUint32(indexAt, index);
    const pv = new DataView(padded.buffer, padded.byteOffset, padded.byteLength);
    padded.set(TAG_BODY_FIELD);
    let p = TAG_BODY_FIELD.length;
    pv.setUint32(p, kindBytes.length);
    padded.set(kindBytes, p + 4);
    p += 4 + kindBytes.length;
    pv.setUint32(p, body.length);
    padded.set(body, p + 4);
    p += 4 + body.length;
    padded[p] = 0x80; // sodium_pad (ISO/IEC 7816-4); the rest of the scratch is zero
    s.aeadEncryptInto(ct, padded, out.subarray(0, headerLen), nonce, messageKey);
  } finally {
    wipe(messageKey);
    wipe(padded);
  }
  const sig = sender.sign(out.subarray(0, signedLen));
  if (sig.length !== SIGNATURE_BYTES) throw new CryptoError('INVALID_ARGUMENT', 'signature must be 64 bytes');
  view.setUint32(signedLen, SIGNATURE_BYTES);
  out.set(sig, signedLen + 4);
  sk.recordSent(envelopeHash(out));
  return out;
}

const SIGNATURE_BYTES = 64;
/** str(TAG_BODY), as Writer encodes it. */
const TAG_BODY_FIELD = new Writer(TAG_BODY, 64).finish();
const KIND_BYTES = new Map<string, Uint8Array>();
function kindBytesOf(kind: string): Uint8Array {
  let b = KIND_BYTES.get(kind);
  if (!b) {
    b = utf8Bytes(kind);
    KIND_BYTES.set(kind, b); // kinds are a small fixed set (isKind checked)
  }
  return b;
}

interface CachedPrefix {
  readonly orderId: string;
  readonly epoch: number;
  readonly scope: string;
  readonly kind: string;
  readonly senderDeviceId: string;
  readonly bytes: Uint8Array;
}
/**
 * The header up to senderDeviceId (str(tag) u32 version str orderId u32 epoch str scope str kind
 * str senderDeviceId) is the same for every message of a chain and kind: encoded (and checked)
 * by Writer once, then reused while the context it was made from is unchanged.
 */
const PREFIXES = new WeakMap<OutboundSenderKey, CachedPrefix[]>();
function headerPrefix(sk: OutboundSenderKey, kind: string): Uint8Array {
  let list = PREFIXES.get(sk);
  if (list) {
    for (const c of list) {
      if (c.kind === kind && c.orderId === sk.orderId && c.epoch === sk.epoch && c.scope === sk.scope && c.senderDeviceId === sk.senderDeviceId) return c.bytes;
    }
  } else {
    list = [];
    PREFIXES.set(sk, list);
  }
  const bytes = new Writer(TAG_ENVELOPE, 256)
    .u32(ENVELOPE_VERSION)
    .id(sk.orderId, 'orderId')
    .u32(sk.epoch)
    .str(sk.scope)
    .str(kind)
    .id(sk.senderDeviceId, 'senderDeviceId')
    .finish();
  if (list.length >= 16) list.shift();
  list.push({ orderId: sk.orderId, epoch: sk.epoch, scope: sk.scope, kind, senderDeviceId: sk.senderDeviceId, bytes });
  return bytes;
}

let scratch: Uint8Array = new Uint8Array(0);
/** A zeroed view of `n` bytes of the padding scratch buffer (wiped by the caller after use). */
function paddedScratch(n: number): Uint8Array {
  if (scratch.length < n) {
    wipe(scratch);
    scratch = new Uint8Array(Math.max(n, 1024));
  }
  const v = scratch.subarray(0, n);
  v.fill(0);
  return v;
}

/**
 * Nonces are public and only need to be unique: they are drawn from the CSPRNG in blocks of
 * 170 (one library call instead of one per message) and each handed out once.
 */
const NONCE_POOL = 170;
let nonces: Uint8Array = new Uint8Array(0);
let nonceAt = 0;
function takeNonce(into: Uint8Array): void {
  if (nonceAt + NONCE_BYTES > nonces.length) {
    nonces = randomBytes(NONCE_POOL * NONCE_BYTES);
    nonceAt = 0;
  }
  into.set(nonces.subarray(nonceAt, nonceAt + NONCE_BYTES));
  nonces.fill(0, nonceAt, nonceAt + NONCE_BYTES);
  nonceAt += NONCE_BYTES;
}

export interface OpenEnvelopeOptions {
  /** The verified roster of the envelope's epoch (RosterChain.rosterAt(header.epoch)). */
  roster: VerifiedRoster;
  receiverState: ReceiverState;
  /** The order this envelope was delivered for; anything else is WRONG_CONTEXT. */
  expectedOrderId: string;
  /** If given, the scope it was delivered for. */
  expectedScope?: string;
}

export interface OpenedEnvelope {
  readonly header: EnvelopeHeader;
  readonly body: Uint8Array;
  readonly hash: Uint8Array;
}

/**
 * Verify, check policy and context, decrypt and consume the message index.
 * Order of checks: context, membership, signature, policy, sender key, replay window, AEAD, kind.
 * State changes (the index is marked used) only when everything passed.
 * @example const { header, body } = openEnvelope(bytes, { roster, receiverState, expectedOrderId: 'o1' });
 */
export function openEnvelope(bytes: Uint8Array, opts: OpenEnvelopeOptions): OpenedEnvelope {
  const env = decodeEnvelope(bytes);
  const h = env.header;
  const roster = opts.roster;
  if (h.orderId !== opts.expectedOrderId) throw new CryptoError('WRONG_CONTEXT', `envelope of ${h.orderId} delivered for ${opts.expectedOrderId}`);
  if (opts.expectedScope !== undefined && h.scope !== opts.expectedScope) throw new CryptoError('WRONG_CONTEXT', `envelope of scope ${h.scope} delivered for ${opts.expectedScope}`);
  if (h.orderId !== roster.orderId || h.epoch !== roster.epoch) throw new CryptoError('WRONG_CONTEXT', `envelope of ${h.orderId}#${h.epoch} against roster ${roster.orderId}#${roster.epoch}`);
  const sender = roster.memberByDevice(h.senderDeviceId);
  if (!sender) throw new CryptoError('NOT_A_MEMBER', `sender ${h.senderDeviceId}`);
  if (!verifySig(env.signature, env.signedBytes, sender.signPublicKey)) throw new CryptoError('BAD_SIGNATURE', `envelope from ${h.senderDeviceId}`);
  if (!mayPublish(roster.policy, sender.role, h.kind, h.scope)) throw new CryptoError('POLICY_DENIED', `${sender.role} may not publish ${h.kind} into ${h.scope}`);
  // The chain is looked up by the whole signed context (order, epoch, scope, sender, key id):
  // a member who copied this sender's key id into its own chain cannot be picked here.
  const lease = opts.receiverState.lease(h, h.index);
  const padded = be().aeadDecrypt(env.ciphertext, env.headerBytes, env.nonce, lease.key);
  if (!padded) {
    lease.release();
    throw new CryptoError('DECRYPT_FAILED', `envelope ${h.senderDeviceId}#${h.index}`);
  }
  let body: Uint8Array;
  try {
    const plain = unpad(padded, paddingBlock(padded.length));
    const r = new Reader(plain, 'envelope body');
    r.tag(TAG_BODY);
    const kind = r.str(32);
    body = r.bytes(MAX_PAYLOAD_BYTES).slice();
    r.end();
    if (kind !== h.kind) throw new CryptoError('KIND_MISMATCH', `header says ${h.kind}, body says ${kind}`);
  } catch (e) {
    lease.release();
    wipe(padded);
    throw e;
  }
  wipe(padded);
  lease.commit();
  return { header: h, body, hash: envelopeHash(bytes) };
}

/** What a ChainTracker reports about one sender chain. */
export type ChainWarning =
  | { type: 'gap'; sender: string; senderKeyId: string; expectedIndex: number; gotIndex: number }
  | { type: 'reorder'; sender: string; senderKeyId: string; index: number; expectedIndex: number }
  | { type: 'replay'; sender: string; senderKeyId: string; index: number }
  | { type: 'chain_break'; sender: string; senderKeyId: string; index: number };

/** Hashes remembered per chain: a rotated chain has ≤ 100 messages, so 4,096 is ample and bounds memory. */
export const MAX_TRACKED_PER_CHAIN = 4096;
/** Chains followed at once (as ReceiverState's MAX_CHAINS); the least recently seen is forgotten first. */
export const MAX_TRACKED_CHAINS = MAX_CHAINS;
/** Links kept per chain in ChainTracker.serialize(): the newest ones, enough to check what follows a restart. */
export const TRACKER_PERSISTED_PER_CHAIN = 8;

interface TrackedChain {
  readonly ctx: { orderId: string; epoch: number; scope: string; senderDeviceId: string; senderKeyId: Uint8Array };
  expected: number;
  seen: Map<number, { hash: Uint8Array; prevHash: Uint8Array }>;
}

const TAG_TRACKER = 'sealrelay/chain-tracker/v1';

/**
 * Follows each sender chain in arrival order and reports what a relay that
 * drops, reorders, replays or substitutes one sender's messages leaves behind.
 * Feed it only envelopes whose signature verified (openEnvelope or the audit).
 * Chains are keyed by (order, epoch, scope, sender, key id), like ReceiverState.
 */
export class ChainTracker {
  private readonly chains = new Map<string, TrackedChain>();

  get chainCount(): number {
    return this.chains.size;
  }

  observe(header: EnvelopeHeader, hash: Uint8Array): ChainWarning[] {
    const key = senderChainKey(header);
    const base = { sender: header.senderDeviceId, senderKeyId: toHex(header.senderKeyId) };
    let c = this.chains.get(key);
    if (c) {
      this.chains.delete(key); // re-inserted below: most recently seen last
    } else {
      c = {
        ctx: { orderId: header.orderId, epoch: header.epoch, scope: header.scope, senderDeviceId: header.senderDeviceId, senderKeyId: header.senderKeyId.slice() },
        expected: 0,
        seen: new Map(),
      };
    }
    this.chains.set(key, c);
    while (this.chains.size > MAX_TRACKED_CHAINS) this.chains.delete(this.chains.keys().next().value as string);
    const out: ChainWarning[] = [];
    const i = header.index;
    const prior = c.seen.get(i);
    if (prior) {
      // Same index again: the same bytes are a replay; other bytes mean two messages claim one place.
      out.push(bytesEqual(prior.hash, hash) ? { type: 'replay', ...base, index: i } : { type: 'chain_break', ...base, index: i });
      return out;
    }
    if (i > c.expected) out.push({ type: 'gap', ...base, expectedIndex: c.expected, gotIndex: i });
    if (i < c.expected) out.push({ type: 'reorder', ...base, index: i, expectedIndex: c.expected });
    // Check the links on both sides, so a late message that fills a gap is checked too.
    const before = c.seen.get(i - 1);
    const after = c.seen.get(i + 1);
    const firstOk = i !== 0 || header.prevHash.every((b) => b === 0);
    if (!firstOk || (before && !bytesEqual(before.hash, header.prevHash)) || (after && !bytesEqual(after.prevHash, hash))) {
      out.push({ type: 'chain_break', ...base, index: i });
    }
    c.seen.set(i, { hash: hash.slice(), prevHash: header.prevHash.slice() });
    if (i >= c.expected) c.expected = i + 1;
    if (c.seen.size > MAX_TRACKED_PER_CHAIN) c.seen.delete(c.seen.keys().next().value as number);
    return out;
  }

  /**
   * Per-chain high-water marks and the newest TRACKER_PERSISTED_PER_CHAIN links, so a restarted
   * client keeps checking gaps and links where it stopped. No secrets (hashes of envelopes the
   * relay holds anyway), but store it with ReceiverState's blob so both move together.
   *
   *   str(tag) u32 n { str orderId u32 epoch str scope str sender bytes(16) keyId u32 expected
   *   u32 m { u32 index bytes(32) hash bytes(32) prevHash }*m }*n
   */
  serialize(): Uint8Array {
    const w = new Writer(TAG_TRACKER, 4096).u32(this.chains.size);
    for (const c of this.chains.values()) {
      w.id(c.ctx.orderId).u32(c.ctx.epoch).str(c.ctx.scope).id(c.ctx.senderDeviceId).bytes(c.ctx.senderKeyId).u32(c.expected);
      const newest = [...c.seen.entries()].sort((a, b) => b[0] - a[0]).slice(0, TRACKER_PERSISTED_PER_CHAIN);
      w.u32(newest.length);
      for (const [i, l] of newest) w.u32(i).bytes(l.hash).bytes(l.prevHash);
    }
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): ChainTracker {
    const r = new Reader(bytes, 'chain tracker');
    r.tag(TAG_TRACKER);
    const t = new ChainTracker();
    const n = r.u32();
    if (n > MAX_TRACKED_CHAINS) r.fail('too many chains');
    for (let k = 0; k < n; k++) {
      const ctx = { orderId: r.id(), epoch: r.u32(), scope: r.str(32), senderDeviceId: r.id(), senderKeyId: r.fixed(16) };
      const expected = r.u32();
      const m = r.u32();
      if (m > TRACKER_PERSISTED_PER_CHAIN) r.fail('too many links');
      const seen = new Map<number, { hash: Uint8Array; prevHash: Uint8Array }>();
      for (let j = 0; j < m; j++) {
        const i = r.u32();
        const link = { hash: r.fixed(32), prevHash: r.fixed(32) };
        if (i >= expected || seen.has(i)) r.fail('link outside the chain');
        seen.set(i, link);
      }
      const key = senderChainKey(ctx);
      if (t.chains.has(key)) r.fail('duplicate chain');
      // Oldest index first, as observe() would have inserted them.
      t.chains.set(key, { ctx, expected, seen: new Map([...seen.entries()].sort((a, b) => a[0] - b[0])) });
    }
    r.end();
    return t;
  }
}
