import {
  AuthorityKey, CryptoError, DeviceKeys, issueCertificate, signRoster, verifyRoster, OutboundSenderKey, ReceiverState,
  createKeyPackages, openKeyPackage, type Role, type VerifiedRoster, type RosterMemberInput,
} from '../../crypto/index.ts';

export const NOW = Date.UTC(2025, 10, 11, 8, 0, 0);
export const DAY = 24 * 60 * 60 * 1000;
export const ORDER = 'order-4711';
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

export interface Party {
  role: Role;
  userId: string;
  keys: DeviceKeys;
  cert: Uint8Array;
}

export function makeParty(authority: AuthorityKey, role: Role, userId = `u-${role}`, window = { notBefore: NOW - DAY, notAfter: NOW + 90 * DAY }): Party {
  const keys = DeviceKeys.generate();
  const cert = issueCertificate(authority, { tenant: 'acme-logistics', userId, signPublicKey: keys.signPublicKey, boxPublicKey: keys.boxPublicKey, ...window });
  return { role, userId, keys, cert };
}

export function member(p: Party): RosterMemberInput {
  return { deviceId: p.keys.deviceId, userId: p.userId, role: p.role, certificate: p.cert };
}

export interface World {
  authority: AuthorityKey;
  trusted: Uint8Array[];
  shipper: Party;
  consignee: Party;
  courier: Party;
  dispatcher: Party;
  support: Party;
  auditor: Party;
  all: Party[];
  rosterBytes: Uint8Array;
  roster: VerifiedRoster;
}

export function makeWorld(): World {
  const authority = AuthorityKey.generate();
  const [shipper, consignee, courier, dispatcher, support, auditor] = (['shipper', 'consignee', 'courier', 'dispatcher', 'support', 'auditor'] as const).map((r) => makeParty(authority, r));
  const all = [shipper!, consignee!, courier!, dispatcher!, support!, auditor!];
  const rosterBytes = signRoster(authority, { orderId: ORDER, epoch: 1, members: all.map(member), policyId: 'sealrelay/default@1', issuedAt: NOW });
  const trusted = [authority.publicKey];
  const roster = verifyRoster(rosterBytes, { trustedAuthorities: trusted, now: NOW });
  return { authority, trusted, shipper: shipper!, consignee: consignee!, courier: courier!, dispatcher: dispatcher!, support: support!, auditor: auditor!, all, rosterBytes, roster };
}

/** Next-epoch roster with the given members, linked to `prev`. */
export function nextRoster(w: World, prev: VerifiedRoster, members: Party[], issuedAt = NOW + 1000): { bytes: Uint8Array; roster: VerifiedRoster } {
  const bytes = signRoster(w.authority, { orderId: prev.orderId, epoch: prev.epoch + 1, prevHash: prev.hash, members: members.map(member), policyId: prev.policyId, issuedAt });
  return { bytes, roster: verifyRoster(bytes, { trustedAuthorities: w.trusted, previous: prev, now: NOW }) };
}

/** A sender key for `p` in `scope`, distributed to every reader; returns each reader's ReceiverState. */
export function distribute(p: Party, roster: VerifiedRoster, scope = 'shared') {
  const sk = OutboundSenderKey.create({ orderId: roster.orderId, epoch: roster.epoch, scope, senderDeviceId: p.keys.deviceId, now: NOW });
  const packages = createKeyPackages(sk, p.keys, roster);
  return { sk, packages };
}

export function receiverFor(p: Party, roster: VerifiedRoster, packages: { recipientDeviceId: string; bytes: Uint8Array }[]): ReceiverState {
  const st = new ReceiverState();
  for (const pkg of packages) if (pkg.recipientDeviceId === p.keys.deviceId) st.install(openKeyPackage(pkg.bytes, p.keys, roster));
  return st;
}

/** The CryptoError code `f` throws, "no error" if it returns; anything else is rethrown (a crash is a test failure). */
export function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CryptoError) return e.code;
    throw e;
  }
  return 'no error';
}
