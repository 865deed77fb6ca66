/**
 * Order rosters: the authority-signed membership of one order at one epoch,
 * hash-chained to the previous epoch. Encoding (crypto/README.md):
 *
 *   str('sealrelay/roster/v2') u32 version=2 str orderId u32 epoch bytes(32 prevHash)
 *   str policyId bytes(32 policyHash) u64 issuedAt bytes(32 authorityPublicKey) u32 memberCount
 *   { str deviceId str userId str role bytes(certificate) } * memberCount
 *   | bytes(64 signature)
 *
 * rosterHash = BLAKE2b-256 over all of it, signature included: the hash names
 * these exact bytes (libsodium rejects non-canonical Ed25519 signatures, so a
 * relay cannot re-encode a roster into a second valid one with another hash).
 */
import { CryptoError } from './errors.ts';
import { Reader, Writer, ZERO_HASH, bytesEqual } from './encoding.ts';
import { type AuthorityKey, containsKey, verifySig } from './identity.ts';
import { type VerifiedCertificate, MAX_CERTIFICATE_BYTES, verifyCertificate } from './certificate.ts';
import { type Policy, type Role, isRole, policyById, policyHash } from './policy.ts';
import { hash32 } from './sodium.ts';

/**
 * v2 added policyHash: v1 named the policy by id only, so a relay or client holding other rules
 * under the same id would enforce them without noticing. v1 rosters are not accepted (they
 * would reopen that gap); re-sign them.
 */
const TAG_ROSTER = 'sealrelay/roster/v2';
export const ROSTER_VERSION = 2;
/** Members per roster: 64 devices covers every party of one shipment with several devices each (protocol MAX_ROSTER_BYTES fits it). */
export const MAX_ROSTER_MEMBERS = 64;
/** Largest roster accepted (protocol MAX_ROSTER_BYTES). */
export const MAX_ROSTER_BYTES = 48 * 1024;

export interface RosterMemberInput {
  deviceId: string;
  userId: string;
  role: Role;
  certificate: Uint8Array;
}

export interface RosterFields {
  orderId: string;
  epoch: number;
  /** rosterHash of the previous epoch; 32 zero bytes (or omitted) for epoch 1. */
  prevHash?: Uint8Array;
  members: readonly RosterMemberInput[];
  policyId: string;
  issuedAt: number;
}

export interface Roster {
  readonly version: number;
  readonly orderId: string;
  readonly epoch: number;
  readonly prevHash: Uint8Array;
  readonly policyId: string;
  /** BLAKE2b-256 of the canonical encoding of the policy the authority signed for (policyEncoding). */
  readonly policyHash: Uint8Array;
  readonly issuedAt: number;
  readonly authorityPublicKey: Uint8Array;
  readonly members: readonly RosterMemberInput[];
  readonly signature: Uint8Array;
}

export interface VerifiedMember {
  readonly deviceId: string;
  readonly userId: string;
  readonly role: Role;
  readonly certificate: VerifiedCertificate;
  readonly signPublicKey: Uint8Array;
  readonly boxPublicKey: Uint8Array;
}

/**
 * Sign a roster. The policy's hash is taken from the registered policy of `policyId`
 * (UNKNOWN_POLICY if none: register custom policies before signing).
 * @example const bytes = signRoster(authority, { orderId: 'o1', epoch: 1, members, policyId: DEFAULT_POLICY.id, issuedAt: now });
 */
export function signRoster(authority: AuthorityKey, fields: RosterFields): Uint8Array {
  const prevHash = fields.prevHash ?? ZERO_HASH;
  if (prevHash.length !== 32) throw new CryptoError('INVALID_ARGUMENT', 'prevHash must be 32 bytes');
  if (!Number.isInteger(fields.epoch) || fields.epoch < 1) throw new CryptoError('INVALID_ARGUMENT', 'epoch starts at 1');
  if (fields.members.length > MAX_ROSTER_MEMBERS) throw new CryptoError('INVALID_ARGUMENT', `at most ${MAX_ROSTER_MEMBERS} members`);
  const policy = policyById(fields.policyId);
  if (!policy) throw new CryptoError('UNKNOWN_POLICY', `policy ${fields.policyId} is not registered`);
  const w = new Writer(TAG_ROSTER, 1024)
    .u32(ROSTER_VERSION)
    .id(fields.orderId, 'orderId')
    .u32(fields.epoch)
    .bytes(prevHash)
    .id(fields.policyId, 'policyId')
    .bytes(policyHash(policy))
    .u64(fields.issuedAt)
    .bytes(authority.publicKey)
    .u32(fields.members.length);
  for (const m of fields.members) w.id(m.deviceId, 'deviceId').id(m.userId, 'userId').str(m.role).bytes(m.certificate);
  return w.bytes(authority.sign(w.finish())).finish();
}

function decode(bytes: Uint8Array): { roster: Roster; tbs: Uint8Array } {
  const r = new Reader(bytes, 'roster');
  if (bytes.length > MAX_ROSTER_BYTES) r.fail('too large');
  r.tag(TAG_ROSTER);
  const version = r.u32();
  if (version !== ROSTER_VERSION) r.fail(`unsupported version ${version}`);
  const orderId = r.id();
  const epoch = r.u32();
  if (epoch < 1) r.fail('epoch 0');
  const prevHash = r.fixed(32);
  const policyId = r.id();
  const policyHashBytes = r.fixed(32);
  const issuedAt = r.u64();
  const authorityPublicKey = r.fixed(32);
  const count = r.u32();
  if (count > MAX_ROSTER_MEMBERS) r.fail(`${count} members`);
  const members: RosterMemberInput[] = [];
  for (let i = 0; i < count; i++) {
    const deviceId = r.id();
    const userId = r.id();
    const role = r.str(32);
    if (!isRole(role)) throw new CryptoError('MALFORMED', `roster: unknown role ${role}`);
    const certificate = r.bytes(MAX_CERTIFICATE_BYTES).slice();
    members.push({ deviceId, userId, role, certificate });
  }
  const tbs = r.sliceFrom(0);
  const signature = r.fixed(64);
  r.end();
  return { roster: { version, orderId, epoch, prevHash, policyId, policyHash: policyHashBytes, issuedAt, authorityPublicKey, members, signature }, tbs };
}

/** Parse a roster without verifying it (no sodium needed). Throws MALFORMED. */
export function decodeRoster(bytes: Uint8Array): Roster {
  return decode(bytes).roster;
}

/** BLAKE2b-256 over the whole signed roster bytes. */
export function rosterHash(bytes: Uint8Array): Uint8Array {
  return hash32(bytes);
}

/** A roster whose signature, authority, chain link, certificates and policy were checked. */
export class VerifiedRoster {
  readonly orderId: string;
  readonly epoch: number;
  readonly prevHash: Uint8Array;
  readonly policyId: string;
  readonly policyHash: Uint8Array;
  readonly policy: Policy;
  readonly issuedAt: number;
  readonly authorityPublicKey: Uint8Array;
  readonly members: readonly VerifiedMember[];
  readonly hash: Uint8Array;
  readonly bytes: Uint8Array;
  private readonly byDevice: Map<string, VerifiedMember>;

  /** @internal use verifyRoster() */
  constructor(roster: Roster, policy: Policy, members: VerifiedMember[], bytes: Uint8Array) {
    this.orderId = roster.orderId;
    this.epoch = roster.epoch;
    this.prevHash = roster.prevHash;
    this.policyId = roster.policyId;
    this.policyHash = roster.policyHash;
    this.policy = policy;
    this.issuedAt = roster.issuedAt;
    this.authorityPublicKey = roster.authorityPublicKey;
    this.members = members;
    this.bytes = bytes.slice();
    this.hash = rosterHash(this.bytes);
    this.byDevice = new Map(members.map((m) => [m.deviceId, m]));
  }

  memberByDevice(deviceId: string): VerifiedMember | undefined {
    return this.byDevice.get(deviceId);
  }

  /** Members whose role may read `scope` under this roster's policy. */
  readersOf(scope: string): VerifiedMember[] {
    const readers = this.policy.readers.get(scope);
    return readers ? this.members.filter((m) => readers.has(m.role)) : [];
  }
}

/** What verifyRoster needs to know about the previous epoch. */
export interface RosterLink {
  readonly orderId: string;
  readonly epoch: number;
  readonly hash: Uint8Array;
}

export interface VerifyRosterOptions {
  trustedAuthorities: readonly Uint8Array[];
  /** The previous epoch's roster (or its pinned epoch and hash). Without it, epoch 1 must have a zero prevHash and a later epoch is trusted on the authority's signature alone. */
  previous?: RosterLink;
  /** Time at which member certificates must be valid (ms). */
  now: number;
}

/**
 * Verify a roster.
 * @example const r2 = verifyRoster(bytes, { trustedAuthorities: [pk], previous: r1, now: Date.now() });
 */
export function verifyRoster(bytes: Uint8Array, opts: VerifyRosterOptions): VerifiedRoster {
  const { roster, tbs } = decode(bytes);
  if (!containsKey(opts.trustedAuthorities, roster.authorityPublicKey)) {
    throw new CryptoError('UNTRUSTED_AUTHORITY', `roster of ${roster.orderId} epoch ${roster.epoch}`);
  }
  if (!verifySig(roster.signature, tbs, roster.authorityPublicKey)) {
    throw new CryptoError('BAD_SIGNATURE', `roster of ${roster.orderId} epoch ${roster.epoch}`);
  }
  const prev = opts.previous;
  if (prev) {
    if (prev.orderId !== roster.orderId) throw new CryptoError('WRONG_CONTEXT', `roster of ${roster.orderId} follows one of ${prev.orderId}`);
    if (roster.epoch !== prev.epoch + 1) {
      throw new CryptoError('ROSTER_BAD_CHAIN', `epoch ${roster.epoch} does not follow epoch ${prev.epoch}`);
    }
    if (!bytesEqual(roster.prevHash, prev.hash)) {
      throw new CryptoError('ROSTER_BAD_CHAIN', `epoch ${roster.epoch} does not link to the hash of epoch ${prev.epoch}`);
    }
  } else if (roster.epoch === 1 && !bytesEqual(roster.prevHash, ZERO_HASH)) {
    throw new CryptoError('ROSTER_BAD_CHAIN', 'epoch 1 must have a zero prevHash');
  }
  const policy = policyById(roster.policyId);
  if (!policy) throw new CryptoError('UNKNOWN_POLICY', `policy ${roster.policyId}`);
  if (!bytesEqual(policyHash(policy), roster.policyHash)) {
    throw new CryptoError('POLICY_MISMATCH', `roster of ${roster.orderId} epoch ${roster.epoch} was signed for other rules than ${roster.policyId} as registered here`);
  }
  const seen = new Set<string>();
  const members: VerifiedMember[] = [];
  for (const m of roster.members) {
    if (seen.has(m.deviceId)) throw new CryptoError('DUPLICATE_MEMBER', `device ${m.deviceId}`);
    seen.add(m.deviceId);
    const cert = verifyCertificate(m.certificate, opts.trustedAuthorities, opts.now);
    if (cert.deviceId !== m.deviceId || cert.userId !== m.userId) {
      throw new CryptoError('CERT_MISMATCH', `member ${m.deviceId}/${m.userId} carries the certificate of ${cert.deviceId}/${cert.userId}`);
    }
    members.push({ deviceId: m.deviceId, userId: m.userId, role: m.role, certificate: cert, signPublicKey: cert.signPublicKey, boxPublicKey: cert.boxPublicKey });
  }
  return new VerifiedRoster(roster, policy, members, bytes);
}

/**
 * A client's memory of one order's roster chain: the highest epoch and chain
 * head seen, plus the verified rosters of earlier epochs (late envelopes of an
 * old epoch still verify). It only moves forward, one epoch at a time.
 *
 * - an epoch older than the head: ROSTER_ROLLBACK
 * - the head's epoch with another hash, or the next epoch not linking to the head: ROSTER_FORK
 * - an epoch more than one ahead: ROSTER_BAD_CHAIN (fetch the missing ones and accept them in order)
 * - without a pinned head, a first roster other than epoch 1: ROSTER_BAD_CHAIN
 */
export class RosterChain {
  private readonly history = new Map<number, VerifiedRoster>();
  private headLink: RosterLink | undefined;
  private headRoster: VerifiedRoster | undefined;

  /**
   * @param pinned the head persisted from an earlier session ({orderId, epoch, hash}): the explicit
   * opt-in to start from that head rather than from epoch 1. The chain then accepts that head's own
   * bytes or its successors only. Without it, the first roster accepted must be epoch 1.
   */
  constructor(
    readonly orderId: string,
    private readonly trustedAuthorities: readonly Uint8Array[],
    pinned?: RosterLink,
  ) {
    if (pinned && pinned.orderId !== orderId) throw new CryptoError('INVALID_ARGUMENT', 'pinned head is of another order');
    this.headLink = pinned;
  }

  /** The newest verified roster (undefined until one is accepted). */
  get head(): VerifiedRoster | undefined {
    return this.headRoster;
  }

  /** {orderId, epoch, hash} of the head: persist it and pass it back as `pinned`. */
  get pin(): RosterLink | undefined {
    return this.headLink;
  }

  /** The verified roster of `epoch`, if this chain accepted it. */
  rosterAt(epoch: number): VerifiedRoster | undefined {
    return this.history.get(epoch);
  }

  /** Verify `bytes` as the next (or current) roster and advance the head. Idempotent for the current head. */
  accept(bytes: Uint8Array, now: number): VerifiedRoster {
    const decoded = decodeRoster(bytes);
    if (decoded.orderId !== this.orderId) throw new CryptoError('WRONG_CONTEXT', `roster of ${decoded.orderId} offered to the chain of ${this.orderId}`);
    const head = this.headLink;
    let verified: VerifiedRoster;
    if (!head) {
      // Without a pin the chain must be verified from its genesis: a validly signed roster of a
      // later epoch proves nothing about the epochs before it (it may be a stale or forked branch).
      if (decoded.epoch !== 1) {
        throw new CryptoError('ROSTER_BAD_CHAIN', `a chain without a pinned head starts at epoch 1, not ${decoded.epoch}: fetch from epoch 1, or pass the head you pinned`);
      }
      verified = verifyRoster(bytes, { trustedAuthorities: this.trustedAuthorities, now });
    } else if (decoded.epoch < head.epoch) {
      throw new CryptoError('ROSTER_ROLLBACK', `epoch ${decoded.epoch} is older than the accepted epoch ${head.epoch}`);
    } else if (decoded.epoch === head.epoch) {
      const h = rosterHash(bytes);
      if (!bytesEqual(h, head.hash)) throw new CryptoError('ROSTER_FORK', `a second roster for epoch ${head.epoch}`);
      if (this.headRoster) return this.headRoster;
      verified = verifyRoster(bytes, { trustedAuthorities: this.trustedAuthorities, now });
    } else if (decoded.epoch === head.epoch + 1) {
      if (!bytesEqual(decoded.prevHash, head.hash)) {
        throw new CryptoError('ROSTER_FORK', `epoch ${decoded.epoch} links to another epoch ${head.epoch} than the accepted one`);
      }
      verified = verifyRoster(bytes, { trustedAuthorities: this.trustedAuthorities, previous: head, now });
    } else {
      throw new CryptoError('ROSTER_BAD_CHAIN', `epoch ${decoded.epoch} skips ahead of the accepted epoch ${head.epoch}`);
    }
    this.history.set(verified.epoch, verified);
    this.headRoster = verified;
    this.headLink = { orderId: verified.orderId, epoch: verified.epoch, hash: verified.hash };
    return verified;
  }
}
