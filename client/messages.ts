/**
 * The typed messages of an order conversation: one zod schema per kind, checked
 * before sealing (so a bad body never leaves the device) and again after opening
 * (so a peer's malformed body surfaces as a warning, never as a typed message).
 *
 * Bodies travel inside the envelope as UTF-8 JSON `{ "v": 1, "body": … }`; the
 * kind is in the authenticated envelope header, not repeated here.
 */
import { z } from 'zod';

const text = (max: number) => z.string().min(1).max(max);
const isoCurrency = z.string().regex(/^[A-Z]{3}$/, 'ISO 4217 code, e.g. CNY');
/** Decimal string, not a float: money must not round. */
const Money = z.object({ amount: z.string().regex(/^\d{1,12}(\.\d{1,4})?$/, 'decimal string, e.g. "129.50"'), currency: isoCurrency });
const Address = z.object({ name: text(200).optional(), line: text(500), city: text(100).optional(), postcode: text(20).optional(), country: text(2).optional(), phone: text(40).optional() });
const b64 = (bytes: number) => z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/).refine((s) => Math.floor((s.replace(/=+$/, '').length * 3) / 4) === bytes, `base64 of ${bytes} bytes`);

/** An encrypted attachment in the relay's blob store: everything needed to fetch, verify and decrypt it. */
export const AttachmentRef = z.object({
  blobId: text(128),
  /** 32-byte secretstream key, base64 (secret: it only ever travels inside an envelope). */
  key: b64(32),
  /** BLAKE2b-256 of the ciphertext, base64: checked before decrypting. */
  hash: b64(32),
  /** SHA-256 of the ciphertext, hex: what the relay's blob store is addressed by. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  ciphertextSize: z.number().int().positive(),
  chunkSize: z.number().int().positive(),
  mimeType: text(100),
  name: text(255).optional(),
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
  durationMs: z.number().int().positive().optional(),
});

const LatLng = z.object({ lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180) });

export const MessageBodies = {
  text: z.object({ text: text(4000) }),
  media: z.object({ attachments: z.array(AttachmentRef).min(1).max(10), caption: text(1000).optional() }),
  order: z.discriminatedUnion('action', [
    z.object({
      action: z.literal('details'),
      reference: text(64),
      pickup: Address,
      dropoff: Address,
      items: z.array(z.object({ description: text(200), quantity: z.number().int().positive(), weightKg: z.number().positive().optional() })).max(100).optional(),
      pickupWindow: z.object({ from: z.number().int(), to: z.number().int() }).optional(),
      /** Commercial terms: their presence moves the message into the `commercial` scope. */
      price: Money.optional(),
      declaredValue: Money.optional(),
      notes: text(2000).optional(),
    }),
    z.object({ action: z.literal('accept'), etaMs: z.number().int().positive().optional(), note: text(500).optional() }),
    z.object({ action: z.literal('decline'), reason: text(500) }),
    z.object({ action: z.literal('cancel'), reason: text(500) }),
  ]),
  location: LatLng.extend({
    accuracyM: z.number().nonnegative().optional(),
    headingDeg: z.number().min(0).max(360).optional(),
    speedMps: z.number().nonnegative().optional(),
    /** When the fix was taken (device clock, ms). */
    at: z.number().int().nonnegative(),
  }),
  status: z.object({
    status: z.enum(['picked_up', 'in_transit', 'at_hub', 'out_for_delivery', 'delivered']),
    hub: text(200).optional(),
    at: z.number().int().nonnegative().optional(),
    note: text(500).optional(),
  }),
  exception: z.object({
    type: z.enum(['damaged', 'lost', 'delayed', 'refused']),
    description: text(2000),
    /** Photos, voice notes: attachments uploaded first. */
    evidence: z.array(AttachmentRef).max(10).optional(),
    newEtaMs: z.number().int().positive().optional(),
  }),
  proof_of_delivery: z.object({
    receivedBy: text(200),
    at: z.number().int().nonnegative(),
    signature: AttachmentRef.optional(),
    photo: AttachmentRef.optional(),
    location: LatLng.optional(),
  }),
  rating: z.object({ stars: z.number().int().min(1).max(5), comment: text(1000).optional() }),
  system: z.object({ event: text(64), detail: text(2000).optional() }),
} as const;

export type MessageKind = keyof typeof MessageBodies;
export type MessageBody<K extends MessageKind> = z.infer<(typeof MessageBodies)[K]>;
export type AttachmentRef = z.infer<typeof AttachmentRef>;

export const MESSAGE_KINDS = Object.keys(MessageBodies) as MessageKind[];

export function isMessageKind(k: string): k is MessageKind {
  return Object.prototype.hasOwnProperty.call(MessageBodies, k);
}

/**
 * The scope a message goes into unless the caller names one. Order details with
 * a price or declared value are commercial (the courier and consignee must not
 * read them under the default policy); everything else is shared.
 */
export function defaultScope<K extends MessageKind>(kind: K, body: MessageBody<K>): string {
  if (kind === 'order') {
    const b = body as MessageBody<'order'>;
    if (b.action === 'details' && (b.price !== undefined || b.declaredValue !== undefined)) return 'commercial';
  }
  return 'shared';
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** Validate and encode a body; throws the zod error (the caller turns it into INVALID_MESSAGE). */
export function encodeBody<K extends MessageKind>(kind: K, body: MessageBody<K>): Uint8Array {
  const parsed = MessageBodies[kind].parse(body);
  return enc.encode(JSON.stringify({ v: 1, body: parsed }));
}

/** Decode and validate a received body: the typed body, or a one-line reason. */
export function decodeBody(kind: string, bytes: Uint8Array): { ok: true; kind: MessageKind; body: unknown } | { ok: false; reason: string } {
  if (!isMessageKind(kind)) return { ok: false, reason: `unknown kind ${kind.slice(0, 32)}` };
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(bytes));
  } catch {
    return { ok: false, reason: 'body is not UTF-8 JSON' };
  }
  const outer = z.object({ v: z.literal(1), body: z.unknown() }).safeParse(json);
  if (!outer.success) return { ok: false, reason: 'body is not a version-1 message' };
  const inner = MessageBodies[kind].safeParse(outer.data.body);
  if (!inner.success) {
    const i = inner.error.issues[0];
    return { ok: false, reason: `${kind}: ${i ? `${i.path.join('.') || '(body)'}: ${i.message}` : 'invalid'}` };
  }
  return { ok: true, kind, body: inner.data };
}
