/**
 * Resumption tickets: a reconnecting device skips the signature round trip by
 * presenting a ticket the relay (or any node of its cluster, sharing its secret
 * and relayId) issued.
 *
 * Layout (v2):
 *   u8 version(2) | u64 expiresAt | u64 certNotAfter | 32 authorityKey
 *   | u8 len | relayId (UTF-8) | u8 len | deviceId (UTF-8) | 32 HMAC-SHA256
 * The MAC (HMAC-SHA256 under the first configured secret) covers all bytes before
 * it; every configured secret verifies, so secrets can rotate.
 *
 * What a resume re-checks, so a ticket never grants more than a fresh signature would:
 * - `relayId`: a ticket of another deployment that happens to share a secret is refused;
 * - `authorityKey`: the authority that issued the device's certificate must still be
 *   trusted (an authority dropped from the configuration ends its devices' tickets);
 * - `certNotAfter`: the certificate must still be valid (expiresAt never exceeds it,
 *   and it is checked on its own as well, against future changes of expiresAt).
 * v1 tickets carried a certificate hash nobody checked; they are refused (malformed),
 * which costs their holders one signature round trip.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const VERSION = 2;
const MAC_BYTES = 32;
const KEY_BYTES = 32;
/** version + expiresAt + certNotAfter + authority key. */
const FIXED_BYTES = 1 + 8 + 8 + KEY_BYTES;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Who a ticket is for, as learned from a verified certificate. */
export interface TicketSubject {
  readonly deviceId: string;
  /** The issuing certificate's authority public key (32 bytes). */
  readonly authorityKey: Uint8Array;
  readonly certNotAfter: number;
}

export interface TicketClaims extends TicketSubject {
  readonly relayId: string;
  readonly expiresAt: number;
}

export type TicketFailure = 'malformed' | 'forged' | 'expired' | 'wrong-device' | 'wrong-relay' | 'untrusted-authority' | 'cert-expired';
export type TicketCheck = { ok: true; claims: TicketClaims } | { ok: false; reason: TicketFailure };

export interface TicketContext {
  readonly deviceId: string;
  readonly relayId: string;
  readonly trustedAuthorities: readonly Uint8Array[];
  readonly now: number;
}

export class TicketIssuer {
  private readonly keys: Buffer[];

  /**
   * @param secrets first signs, all verify; empty → one random secret for this process (tickets die with it).
   * @param relayId the cluster-wide relay id; tickets are bound to it.
   */
  constructor(secrets: readonly string[], private readonly ttlMs: number, private readonly relayId: string) {
    this.keys = secrets.length > 0 ? secrets.map((s) => Buffer.from(s, 'utf8')) : [randomBytes(32)];
  }

  /** Issue a ticket; it expires at min(now + ttl, certNotAfter, notLaterThan). */
  issue(subject: TicketSubject, now: number, notLaterThan = Number.MAX_SAFE_INTEGER): { ticket: Uint8Array; expiresAt: number } {
    const expiresAt = Math.min(now + this.ttlMs, subject.certNotAfter, notLaterThan);
    const relay = encoder.encode(this.relayId);
    const id = encoder.encode(subject.deviceId);
    if (id.length > 255 || relay.length > 255) throw new RangeError('device or relay id too long for a ticket');
    if (subject.authorityKey.byteLength !== KEY_BYTES) throw new RangeError('authority key must be 32 bytes');
    const body = new Uint8Array(FIXED_BYTES + 1 + relay.length + 1 + id.length);
    const view = new DataView(body.buffer);
    body[0] = VERSION;
    view.setBigUint64(1, BigInt(expiresAt));
    view.setBigUint64(9, BigInt(subject.certNotAfter));
    body.set(subject.authorityKey, 17);
    let off = FIXED_BYTES;
    body[off++] = relay.length;
    body.set(relay, off);
    off += relay.length;
    body[off++] = id.length;
    body.set(id, off);
    const ticket = new Uint8Array(body.length + MAC_BYTES);
    ticket.set(body);
    ticket.set(this.mac(this.keys[0]!, body), body.length);
    return { ticket, expiresAt };
  }

  /** Check a ticket presented with `connect{deviceId}`. Constant-time MAC comparison before anything is trusted. */
  verify(ticket: Uint8Array, ctx: TicketContext): TicketCheck {
    if (ticket.length < FIXED_BYTES + 2 + MAC_BYTES || ticket[0] !== VERSION) return { ok: false, reason: 'malformed' };
    const relayLen = ticket[FIXED_BYTES]!;
    const idAt = FIXED_BYTES + 1 + relayLen;
    if (idAt >= ticket.length) return { ok: false, reason: 'malformed' };
    const idLen = ticket[idAt]!;
    const bodyLen = idAt + 1 + idLen;
    if (ticket.length !== bodyLen + MAC_BYTES) return { ok: false, reason: 'malformed' };
    const body = ticket.subarray(0, bodyLen);
    const mac = ticket.subarray(bodyLen);
    if (!this.keys.some((k) => timingSafeEqual(this.mac(k, body), mac))) return { ok: false, reason: 'forged' };
    const view = new DataView(ticket.buffer, ticket.byteOffset, ticket.byteLength);
    const expiresAt = Number(view.getBigUint64(1));
    const certNotAfter = Number(view.getBigUint64(9));
    const authorityKey = ticket.slice(17, 17 + KEY_BYTES);
    let relayId: string;
    let deviceId: string;
    try {
      relayId = decoder.decode(ticket.subarray(FIXED_BYTES + 1, idAt));
      deviceId = decoder.decode(ticket.subarray(idAt + 1, bodyLen));
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (relayId !== ctx.relayId) return { ok: false, reason: 'wrong-relay' };
    if (deviceId !== ctx.deviceId) return { ok: false, reason: 'wrong-device' };
    if (ctx.now >= expiresAt) return { ok: false, reason: 'expired' };
    if (ctx.now >= certNotAfter) return { ok: false, reason: 'cert-expired' };
    if (!ctx.trustedAuthorities.some((k) => k.byteLength === KEY_BYTES && timingSafeEqual(k, authorityKey))) return { ok: false, reason: 'untrusted-authority' };
    return { ok: true, claims: { deviceId, relayId, authorityKey, certNotAfter, expiresAt } };
  }

  private mac(key: Buffer, body: Uint8Array): Buffer {
    return createHmac('sha256', key).update(body).digest();
  }
}
