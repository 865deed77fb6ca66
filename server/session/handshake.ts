/**
 * The handshake, as pure-ish steps over a session: `connect` (with or without a
 * ticket) → `challenge` → `auth` → `welcome`. The device signs
 * challengeTranscript(relayId, nonce, deviceId) (protocol/handshake.ts), which
 * binds the signature to this relay, this nonce and the device it claims to be.
 */
import { randomBytes } from 'node:crypto';
import type { ErrorCode } from '../../protocol/errors.ts';
import type { ClientFrameOf, ServerFrameOf } from '../../protocol/frames.ts';
import { challengeTranscript } from '../../protocol/handshake.ts';
import { CHALLENGE_BYTES, HEARTBEAT_INTERVAL_MS, MAX_ENVELOPE_BYTES, MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../../protocol/limits.ts';
import { wire } from '../bytes.ts';
import type { RelayContext } from '../context.ts';
import type { TicketSubject } from '../ticket.ts';
import { certificateErrorCode, verifyCertificate, verifyChallenge } from '../trust.ts';

export interface PendingChallenge {
  readonly deviceId: string;
  readonly nonce: Uint8Array;
}

export type ConnectOutcome =
  | { kind: 'refuse'; code: ErrorCode; detail: string }
  | { kind: 'resumed'; subject: TicketSubject; expiresAt: number }
  | { kind: 'challenge'; pending: PendingChallenge; frame: ServerFrameOf<'challenge'>; ticketError?: string };

export function onConnect(ctx: RelayContext, frame: ClientFrameOf<'connect'>): ConnectOutcome {
  if (frame.v !== PROTOCOL_VERSION) return { kind: 'refuse', code: 'UNSUPPORTED_VERSION', detail: `client v${frame.v}, relay v${PROTOCOL_VERSION}` };
  let ticketError: string | undefined;
  if (frame.ticket) {
    const check = ctx.tickets.verify(frame.ticket, { deviceId: frame.deviceId, relayId: ctx.config.relayId, trustedAuthorities: ctx.config.trustedAuthorities, now: ctx.now() });
    if (check.ok) return { kind: 'resumed', subject: check.claims, expiresAt: check.claims.expiresAt };
    ticketError = check.reason;
  }
  const nonce = new Uint8Array(randomBytes(CHALLENGE_BYTES));
  return {
    kind: 'challenge',
    pending: { deviceId: frame.deviceId, nonce },
    frame: { t: 'challenge', nonce, relayId: ctx.config.relayId, serverTime: ctx.now() },
    ticketError,
  };
}

export type AuthOutcome =
  | { kind: 'refuse'; code: ErrorCode; detail: string }
  | { kind: 'ok'; subject: TicketSubject };

export function onAuth(ctx: RelayContext, pending: PendingChallenge, frame: ClientFrameOf<'auth'>): AuthOutcome {
  if (ctx.config.trustedAuthorities.length === 0) {
    return { kind: 'refuse', code: 'CERT_UNTRUSTED', detail: 'this relay trusts no authority (set SEALRELAY_TRUSTED_AUTHORITIES)' };
  }
  let cert;
  try {
    cert = verifyCertificate(frame.certificate, ctx.config.trustedAuthorities, ctx.now());
  } catch (err) {
    return { kind: 'refuse', code: certificateErrorCode(err), detail: (err as Error).message.slice(0, 200) };
  }
  if (cert.deviceId !== pending.deviceId) return { kind: 'refuse', code: 'AUTH_FAILED', detail: 'the certificate is for another device than `connect` named' };
  const transcript = challengeTranscript(ctx.config.relayId, pending.nonce, pending.deviceId);
  if (!verifyChallenge(frame.signature, transcript, cert.signPublicKey)) return { kind: 'refuse', code: 'AUTH_FAILED', detail: 'the challenge signature does not verify' };
  return { kind: 'ok', subject: { deviceId: cert.deviceId, authorityKey: cert.authorityPublicKey, certNotAfter: cert.notAfter } };
}

export function welcomeFrame(
  ctx: RelayContext,
  deviceId: string,
  connectionId: string,
  ticket: { ticket: Uint8Array; expiresAt: number },
  resumed: boolean,
): ServerFrameOf<'welcome'> {
  return {
    t: 'welcome',
    deviceId,
    connectionId,
    ticket: wire(ticket.ticket),
    ticketExpiresAt: ticket.expiresAt,
    serverTime: ctx.now(),
    resumed,
    limits: { maxFrameBytes: MAX_FRAME_BYTES, maxEnvelopeBytes: MAX_ENVELOPE_BYTES, heartbeatMs: HEARTBEAT_INTERVAL_MS },
  };
}
