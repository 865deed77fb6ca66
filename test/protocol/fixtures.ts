import type { ClientFrame, ServerFrame } from '../../protocol/index.ts';

const b = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

/** One valid example of every client frame type. */
export const clientFrames: ClientFrame[] = [
  { t: 'connect', v: 1, deviceId: 'd_abc' },
  { t: 'connect', v: 1, deviceId: 'd_abc', ticket: b(80) },
  { t: 'auth', certificate: b(200), signature: b(64) },
  { t: 'sub', rid: 1, order: 'ord-1', afterSeq: 0 },
  { t: 'unsub', rid: 2, order: 'ord-1' },
  { t: 'pub', order: 'ord-1', clientMsgId: 'm-1', envelope: b(300) },
  { t: 'ack', order: 'ord-1', seq: 42 },
  { t: 'kp_put', rid: 3, order: 'ord-1', packages: [b(200), b(200, 9)] },
  { t: 'kp_get', rid: 4, order: 'ord-1', epoch: 2 },
  { t: 'roster_put', rid: 5, order: 'ord-1', roster: b(1000) },
  { t: 'roster_get', rid: 6, order: 'ord-1', fromEpoch: 1 },
  { t: 'blob_put', rid: 7, order: 'ord-1', hash: b(32), data: b(5000) },
  { t: 'blob_get', rid: 8, blobId: 'b_1' },
  { t: 'ping', n: 1 },
  { t: 'pong', n: 1 },
];

/** One valid example of every relay frame type. */
export const serverFrames: ServerFrame[] = [
  { t: 'challenge', nonce: b(32), relayId: 'relay-a', serverTime: 1_700_000_000_000 },
  {
    t: 'welcome',
    deviceId: 'd_abc',
    connectionId: 'c1',
    ticket: b(100),
    ticketExpiresAt: 1_700_000_000_000,
    serverTime: 1_700_000_000_000,
    resumed: false,
    limits: { maxFrameBytes: 262144, maxEnvelopeBytes: 98304, heartbeatMs: 15000 },
  },
  { t: 'subscribed', rid: 1, order: 'ord-1', epoch: 1, headSeq: 10, fromSeq: 1 },
  { t: 'unsubscribed', order: 'ord-1', code: 'MEMBER_REMOVED' },
  { t: 'puback', order: 'ord-1', clientMsgId: 'm-1', seq: 11, duplicate: false },
  { t: 'deliver', order: 'ord-1', messages: [{ seq: 1, prev: 0, envelope: b(300), at: 1 }, { seq: 3, prev: 1, envelope: b(310), at: 2 }] },
  { t: 'kp_ok', rid: 3, order: 'ord-1', stored: 2 },
  { t: 'kp', rid: 4, order: 'ord-1', packages: [b(200)] },
  { t: 'roster_ok', rid: 5, order: 'ord-1', epoch: 1, hash: b(32) },
  { t: 'rosters', rid: 6, order: 'ord-1', rosters: [b(900), b(950)] },
  { t: 'roster', order: 'ord-1', roster: b(900) },
  { t: 'blob_ok', rid: 7, blobId: 'b_1' },
  { t: 'blob', rid: 8, blobId: 'b_1', data: b(5000) },
  { t: 'error', code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 200, clientMsgId: 'm-1' },
  { t: 'ping', n: 2 },
  { t: 'pong', n: 2 },
];
