/**
 * Resumption tickets: a reconnecting device skips the signature round trip by
 * presenting a ticket the relay (or any node sharing its secret) issued.
 *
 * Layout: u8 version(1) | u64 expiresAt (ms, BE) | 32 certHash | u8 len | deviceId (UTF-8) | 32 HMAC-SHA256
 * The MAC (node:crypto HMAC-SHA256 under the first configured secret) covers all
 * bytes before it; every configured secret verifies, so secrets can rotate.
 * A ticket never outlives the certificate it was issued for.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const VERSION = 1;
const MAC_BYTES = 32;
const HEADER_BYTES = 1 + 8 + 32 + 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export interface TicketClaims {
  readonly deviceId: string;
  readonly certHash: Uint8Array;
  readonly expiresAt: number;
}

export type TicketCheck = { ok: true; claims: TicketClaims } | { ok: false; reason: 'malformed' | 'forged' | 'expired' | 'wrong-device' };

/** SHA-256 of the certificate bytes: binds a ticket to one certificate. */
export function certificateHash(certificate: Uint8Array): Uint8Array {
  return createHash('sha256').update(certificate).digest();
}

export class TicketIssuer {
  private readonly keys: Buffer[];

  /** @param secrets first signs, all verify; empty → one random secret for this process (tickets die with it). */
  constructor(secrets: readonly string[], private readonly ttlMs: number) {
    this.keys = secrets.length > 0 ? secrets.map((s) => Buffer.from(s, 'utf8')) : [randomBytes(32)];
  }

  /** Issue a ticket; it expires at min(now + ttl, certNotAfter). */
  issue(deviceId: string, certHash: Uint8Array, now: number, certNotAfter: number): { ticket: Uint8Array; expiresAt: number } {
    const expiresAt = Math.min(now + this.ttlMs, certNotAfter);
    const id = encoder.encode(deviceId);
    if (id.length > 255) throw new RangeError('device id too long for a ticket');
    const body = new Uint8Array(HEADER_BYTES + id.length);
    const view = new DataView(body.buffer);
    body[0] = VERSION;
    view.setBigUint64(1, BigInt(expiresAt));
    body.set(certHash.subarray(0, 32), 9);
    body[41] = id.length;
    body.set(id, HEADER_BYTES);
    const mac = this.mac(this.keys[0]!, body);
    const ticket = new Uint8Array(body.length + MAC_BYTES);
    ticket.set(body);
    ticket.set(mac, body.length);
    return { ticket, expiresAt };
  }

  /** Check a ticket presented with `connect{deviceId}`. Constant-time MAC comparison. */
  verify(ticket: Uint8Array, deviceId: string, now: number): TicketCheck {
    if (ticket.length < HEADER_BYTES + 1 + MAC_BYTES || ticket[0] !== VERSION) return { ok: false, reason: 'malformed' };
    const idLen = ticket[41]!;
    if (ticket.length !== HEADER_BYTES + idLen + MAC_BYTES) return { ok: false, reason: 'malformed' };
    const body = ticket.subarray(0, HEADER_BYTES + idLen);
    const mac = ticket.subarray(HEADER_BYTES + idLen);
    if (!this.keys.some((k) => timingSafeEqual(this.mac(k, body), mac))) return { ok: false, reason: 'forged' };
    const view = new DataView(ticket.buffer, ticket.byteOffset, ticket.byteLength);
    const expiresAt = Number(view.getBigUint64(1));
    let id: string;
    try {
      id = decoder.decode(ticket.subarray(HEADER_BYTES, HEADER_BYTES + idLen));
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (id !== deviceId) return { ok: false, reason: 'wrong-device' };
    if (now >= expiresAt) return { ok: false, reason: 'expired' };
    return { ok: true, claims: { deviceId: id, certHash: ticket.slice(9, 41), expiresAt } };
  }

  private mac(key: Buffer, body: Uint8Array): Buffer {
    return createHmac('sha256', key).update(body).digest();
  }
}
