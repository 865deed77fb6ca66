/**
 * The workload mix: which messages the parties of an order send, how often, how
 * big, and — from the role policy, not from an assumption — who receives each.
 * Pure data and pure functions: the runner, the accounting and every target read
 * the same table, so sealrelay and the peers carry the same sizes to the same
 * fan-out.
 *
 * Parties of a load order, by index: 0 the courier (publishes only: a courier
 * app's tracker), then the receivers in RECEIVER order (shipper, consignee,
 * dispatcher), who also publish when a class names them as sender. A message
 * class is one stream: one sender, one kind, one scope, its own 1-based sequence
 * (on sealrelay, one sender-key chain whose index is that sequence).
 *
 * @example
 *   const mix = mixFor(STEADY_MIX, 3);
 *   mix.classes[2].name;           // 'chat-shipper'
 *   receiverReads(mix, 2, 4);      // false: the consignee (receiver 1, party 2) may not read commercial
 */
import { DEFAULT_POLICY, mayPublish, mayRead, type Kind, type Role } from '../../crypto/public.ts';

/** Party index → role. Index 0 publishes only; receiver r (0-based) is party r + 1. */
export const PARTY_ROLES: readonly Role[] = ['courier', 'shipper', 'consignee', 'dispatcher'];
export const MAX_RECEIVERS_PER_ORDER = PARTY_ROLES.length - 1;

export interface MessageClass {
  /** Short name for reports: 'location', 'chat-shipper', … */
  readonly name: string;
  /** Party index (PARTY_ROLES) of the sender. */
  readonly sender: number;
  readonly kind: Kind;
  readonly scope: string;
  /** Relative frequency among the classes of the mix. */
  readonly weight: number;
  /**
   * Bytes of one message on the wire: the sealed envelope on sealrelay (measured
   * for an 11-character order id such as `lt-abcdef-0`; a test keeps this honest;
   * longer ids add their extra bytes), the opaque payload the peers carry.
   */
  readonly bytes: number;
  /** Attachment messages: the encrypted blob (bytes) uploaded over HTTP before the message is sent. */
  readonly attachmentBytes?: number;
}

export interface Mix {
  readonly name: string;
  readonly classes: readonly MessageClass[];
}

/** A sealed `location` envelope with a lat/lng/fix-time body (measured: 406 bytes, as before the mix existed). */
export const LOCATION_BYTES = 406;
/** A sealed `text` chat line of CHAT_TEXT_BYTES into `shared` (measured), and into `commercial` (a longer scope name in the header). */
export const CHAT_BYTES = 466;
export const TERMS_BYTES = 470;
/** A sealed `media` message: one AttachmentRef of an ATTACHMENT_BYTES file and a caption (measured). */
export const MEDIA_BYTES = 723;
/** Characters of a chat line: a typical short message ("at the gate, 5 min", in Chinese ~30 characters of UTF-8). */
export const CHAT_TEXT_BYTES = 100;
/**
 * Plaintext of an attachment: a compressed phone photo of a parcel at pickup or
 * damage, small end. Big enough that the upload costs what uploads cost (signed
 * HTTP, SHA-256 at the relay, the blob store), small enough that a 30 s run at a
 * few hundred messages per second stays within the relay's memory blob budget.
 */
export const ATTACHMENT_BYTES = 64 * 1024;

/**
 * Only courier location posts: the highest-rate message of a real order, and
 * what issue 3's relay benchmark measures. `bytes` is the envelope size.
 */
export function locationOnly(bytes = LOCATION_BYTES): Mix {
  return { name: 'location', classes: [{ name: 'location', sender: 0, kind: 'location', scope: 'shared', weight: 1, bytes }] };
}

/**
 * Issue 5's steady workload: couriers post location every few seconds, the
 * parties chat, attachments now and then. Weights are per 100 messages:
 *   72 courier location (shared: everyone reads it)
 *    6 courier chat, 8 shipper chat, 8 consignee chat (text, shared)
 *    4 shipper ↔ dispatcher chat about terms (text, commercial: the consignee may not read it)
 *    2 courier photo (media, shared), its 64 KiB encrypted blob uploaded over HTTP first
 */
export const STEADY_MIX: Mix = {
  name: 'steady',
  classes: [
    { name: 'location', sender: 0, kind: 'location', scope: 'shared', weight: 72, bytes: LOCATION_BYTES },
    { name: 'chat-courier', sender: 0, kind: 'text', scope: 'shared', weight: 6, bytes: CHAT_BYTES },
    { name: 'chat-shipper', sender: 1, kind: 'text', scope: 'shared', weight: 8, bytes: CHAT_BYTES },
    { name: 'chat-consignee', sender: 2, kind: 'text', scope: 'shared', weight: 8, bytes: CHAT_BYTES },
    { name: 'terms-shipper', sender: 1, kind: 'text', scope: 'commercial', weight: 4, bytes: TERMS_BYTES },
    { name: 'photo-courier', sender: 0, kind: 'media', scope: 'shared', weight: 2, bytes: MEDIA_BYTES, attachmentBytes: ATTACHMENT_BYTES },
  ],
};

export const MIXES = { steady: STEADY_MIX, location: locationOnly() } as const;
export type MixName = keyof typeof MIXES;

export class MixInvalid extends Error {}

/**
 * The mix as it runs with `receiversPerOrder` receivers: classes whose sender is
 * not in the order (say, the consignee with one receiver per order) are left
 * out. Throws MixInvalid when a class is one the policy forbids its sender, so a
 * run never measures messages the relay would refuse.
 */
export function mixFor(mix: Mix, receiversPerOrder: number): Mix {
  if (!Number.isInteger(receiversPerOrder) || receiversPerOrder < 1 || receiversPerOrder > MAX_RECEIVERS_PER_ORDER) {
    throw new MixInvalid(`receivers per order must be 1..${MAX_RECEIVERS_PER_ORDER}, got ${receiversPerOrder}`);
  }
  for (const c of mix.classes) {
    const role = PARTY_ROLES[c.sender];
    if (!role) throw new MixInvalid(`class ${c.name}: no party ${c.sender}`);
    if (!mayPublish(DEFAULT_POLICY, role, c.kind, c.scope)) throw new MixInvalid(`class ${c.name}: the policy forbids a ${role} to publish ${c.kind} into ${c.scope}`);
    if (!(c.weight > 0) || !(c.bytes > 0)) throw new MixInvalid(`class ${c.name}: weight and bytes must be positive`);
  }
  const classes = mix.classes.filter((c) => c.sender <= receiversPerOrder);
  if (classes.length === 0) throw new MixInvalid(`mix ${mix.name} has no class a party of this order sends`);
  return { name: mix.name, classes };
}

/** Party index of receiver `r` (0-based). */
export function partyOfReceiver(r: number): number {
  return r + 1;
}

/** Whether receiver `r` may read class `c`: its role reads the class's scope under the default policy. */
export function receiverReads(mix: Mix, r: number, c: number): boolean {
  const role = PARTY_ROLES[partyOfReceiver(r)];
  const cls = mix.classes[c];
  return role !== undefined && cls !== undefined && mayRead(DEFAULT_POLICY, role, cls.scope);
}

/** Scopes receiver `r` reads among those the mix uses (what a peer subscribes to). */
export function scopesReadBy(mix: Mix, r: number): string[] {
  return [...new Set(mix.classes.filter((_, c) => receiverReads(mix, r, c)).map((c) => c.scope))];
}

/** Party indices that send at least one class. */
export function sendingParties(mix: Mix): number[] {
  return [...new Set(mix.classes.map((c) => c.sender))].sort((a, b) => a - b);
}

/**
 * Which class each scheduled send is: a seeded weighted draw per send, so the
 * same seed gives the same run. Returns class indices.
 */
export function assignClasses(sends: number, mix: Mix, random: () => number): Uint8Array {
  if (mix.classes.length > 255) throw new MixInvalid('at most 255 classes');
  const total = mix.classes.reduce((s, c) => s + c.weight, 0);
  const cumulative = mix.classes.map(((acc) => (c: MessageClass) => (acc += c.weight / total))(0));
  const out = new Uint8Array(sends);
  if (mix.classes.length === 1) return out;
  for (let i = 0; i < sends; i++) {
    const u = random();
    let c = 0;
    while (c < cumulative.length - 1 && u >= cumulative[c]!) c++;
    out[i] = c;
  }
  return out;
}
