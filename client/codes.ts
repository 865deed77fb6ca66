/**
 * Codes the SDK itself uses, beside the relay's table in protocol/errors.ts.
 *
 * Every connection state transition carries a `{code, reason}`: a relay code when
 * the relay said why (its close code or error frame), otherwise one of these. They
 * are kept apart from the relay's table on purpose: the relay never sends them, and
 * the relay's table stays the single source for anything on the wire.
 */
import { ERRORS, type ErrorCode } from '../protocol/index.ts';

export const CLIENT_CODES = {
  CONNECT_CALLED: 'The application asked to connect.',
  AUTHENTICATED: 'The relay accepted the device (by signature or resumption ticket).',
  TRANSPORT_CLOSED: 'The socket closed without a relay error (network drop, relay restart); reconnecting with backoff.',
  TRANSPORT_ERROR: 'The socket failed (DNS, TLS, refused, reset); reconnecting with backoff.',
  HEARTBEAT_TIMEOUT: 'No frame arrived for two heartbeat intervals, so the link is treated as dead; reconnecting.',
  HANDSHAKE_TIMEOUT: 'The relay did not finish the handshake in time; reconnecting.',
  NETWORK_OFFLINE: 'The platform reported the network offline; waiting for it to come back before reconnecting.',
  NETWORK_ONLINE: 'The platform reported the network online again; reconnecting now.',
  CLIENT_CLOSED: 'The application closed the client; it will not reconnect.',
  PROTOCOL_VIOLATION: 'The relay sent a frame this client cannot decode or did not expect; reconnecting.',
  RELAY_ID_MISMATCH: 'The server challenged with another relay id than the one configured (`relayId`): a relayed login; nothing was signed and the client will not reconnect.',
} as const;

export type ClientCode = keyof typeof CLIENT_CODES;

/** The code on a connection state transition: the relay's, or the client's own. */
export type TransitionCode = ErrorCode | ClientCode;

/** The sentence for any transition code, from whichever table holds it. */
export function reasonOf(code: TransitionCode): string {
  return code in CLIENT_CODES ? CLIENT_CODES[code as ClientCode] : ERRORS[code as ErrorCode].message;
}
