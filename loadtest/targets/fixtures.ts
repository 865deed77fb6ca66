/**
 * Real identities for a load run: one tenant authority, four devices per order
 * (the courier; shipper, consignee and dispatcher, who receive and, per the mix,
 * also send), certificates
 * issued by the authority, epoch-1 rosters signed by it, and envelopes sealed in
 * advance by each courier (so the driver replays real ciphertext at 10,000/s
 * without spending its core on sealing: `bodies: 'pre-sealed'` in the report).
 *
 * Nothing here is cheap-faked: the relay verifies every certificate, roster and
 * envelope header exactly as in production.
 */
import { PARTY_ROLES } from '../driver/mix.ts';
import {
  AuthorityKey,
  DEFAULT_POLICY,
  DeviceKeys,
  OutboundSenderKey,
  cryptoReady,
  issueCertificate,
  sealEnvelope,
  signRoster,
  type Role,
} from '../../crypto/index.ts';

export const TENANT = 'loadtest';
/** Party 0 of every load order (driver/mix.ts PARTY_ROLES); the receivers follow. */
export const PUBLISHER_ROLE: Role = PARTY_ROLES[0]!;
export const RECEIVER_ROLES: readonly Role[] = PARTY_ROLES.slice(1);
/** Couriers post location updates: the most frequent message of a real order. */
export const LOAD_KIND = 'location' as const;
export const LOAD_SCOPE = 'shared';

export interface LoadDevice {
  readonly keys: DeviceKeys;
  readonly deviceId: string;
  readonly certificate: Uint8Array;
  readonly role: Role;
}

export interface LoadOrder {
  readonly orderId: string;
  readonly publisher: LoadDevice;
  readonly receivers: readonly LoadDevice[];
  readonly roster: Uint8Array;
}

/** The device of party `party` (0 the courier, r + 1 receiver r). */
export function partyDevice(order: LoadOrder, party: number): LoadDevice {
  const d = party === 0 ? order.publisher : order.receivers[party - 1];
  if (!d) throw new RangeError(`order ${order.orderId} has no party ${party}`);
  return d;
}

export interface LoadFixtures {
  readonly authority: AuthorityKey;
  readonly orders: readonly LoadOrder[];
}

/** Certificates valid from an hour ago for a day: clocks of test boxes drift. */
const HOUR = 3600_000;

export async function makeDevice(authority: AuthorityKey, role: Role, userId: string, now: number): Promise<LoadDevice> {
  const keys = DeviceKeys.generate();
  const certificate = issueCertificate(authority, {
    tenant: TENANT,
    userId,
    signPublicKey: keys.signPublicKey,
    boxPublicKey: keys.boxPublicKey,
    notBefore: now - HOUR,
    notAfter: now + 24 * HOUR,
  });
  return { keys, deviceId: keys.deviceId, certificate, role };
}

export async function makeFixtures(o: { orders: number; receiversPerOrder: number; runId: string; now?: number; authority?: AuthorityKey }): Promise<LoadFixtures> {
  await cryptoReady();
  if (o.receiversPerOrder > RECEIVER_ROLES.length) throw new RangeError(`at most ${RECEIVER_ROLES.length} receivers per order`);
  const now = o.now ?? Date.now();
  const authority = o.authority ?? AuthorityKey.generate();
  const orders: LoadOrder[] = [];
  for (let i = 0; i < o.orders; i++) {
    const orderId = `lt-${o.runId}-${i}`;
    const publisher = await makeDevice(authority, PUBLISHER_ROLE, `${orderId}-courier`, now);
    const receivers: LoadDevice[] = [];
    for (let r = 0; r < o.receiversPerOrder; r++) receivers.push(await makeDevice(authority, RECEIVER_ROLES[r]!, `${orderId}-${RECEIVER_ROLES[r]}`, now));
    const roster = signRoster(authority, {
      orderId,
      epoch: 1,
      members: [publisher, ...receivers].map((d) => ({ deviceId: d.deviceId, userId: `${orderId}-${d.role}`, role: d.role, certificate: d.certificate })),
      policyId: DEFAULT_POLICY.id,
      issuedAt: now,
    });
    orders.push({ orderId, publisher, receivers, roster });
  }
  return { authority, orders };
}

/**
 * `count` envelopes of `bodyBytes` sealed by the order's courier on ONE sender
 * key, indices 0..count-1, so envelope k is the publisher's message k+1 and a
 * receiver reads the sequence from the clear header without decrypting.
 * (One chain of any length: rotation every 100 messages is a client policy the
 * relay does not enforce, and rotating would only add key packages to the setup.)
 */
export function preSeal(order: LoadOrder, count: number, bodyBytes: number): Uint8Array[] {
  const senderKey = OutboundSenderKey.create({ orderId: order.orderId, epoch: 1, scope: LOAD_SCOPE, senderDeviceId: order.publisher.deviceId, now: Date.now() });
  const body = new Uint8Array(bodyBytes);
  const out: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    new DataView(body.buffer).setUint32(0, k + 1, true);
    out.push(sealEnvelope({ senderKey, sender: order.publisher.keys, kind: LOAD_KIND, body }));
  }
  return out;
}

/** Body size that makes a sealed envelope about `envelopeBytes` long (header, nonce, tag, signature, padding). */
export function bodyBytesForEnvelope(envelopeBytes: number): number {
  // Measured overhead of a location envelope with padding block 64: ~200 bytes.
  return Math.max(1, envelopeBytes - 220);
}
