import { code } from './fixtures.ts';
import { describe, expect, it } from 'vitest';
import {
  cryptoReady, signRoster, verifyRoster, decodeRoster, rosterHash, RosterChain, AuthorityKey, CryptoError, DEFAULT_POLICY, loadPolicy, policyHash,
  type RosterMemberInput,
} from '../../crypto/index.ts';
import { Writer } from '../../crypto/encoding.ts';
import { DAY, NOW, ORDER, makeParty, makeWorld, member, nextRoster } from './fixtures.ts';

await cryptoReady();

describe('rosters', () => {
  it('round-trip: signed, decoded and verified, with members looked up by device', () => {
    const w = makeWorld();
    const d = decodeRoster(w.rosterBytes);
    expect(d.epoch).toBe(1);
    expect(d.prevHash).toEqual(new Uint8Array(32));
    expect(w.roster.members).toHaveLength(6);
    expect(w.roster.memberByDevice(w.courier.keys.deviceId)?.role).toBe('courier');
    expect(w.roster.memberByDevice('d_nobody')).toBeUndefined();
    expect(w.roster.hash).toEqual(rosterHash(w.rosterBytes));
    expect(w.roster.readersOf('commercial').map((m) => m.role)).toEqual(['shipper', 'dispatcher', 'auditor']);
  });

  it('link each epoch to the hash of the previous one', () => {
    const w = makeWorld();
    const r2 = nextRoster(w, w.roster, w.all.slice(0, 4));
    expect(r2.roster.epoch).toBe(2);
    expect(r2.roster.prevHash).toEqual(w.roster.hash);
  });

  it('signed by an untrusted authority are rejected', () => {
    const w = makeWorld();
    expect(code(() => verifyRoster(w.rosterBytes, { trustedAuthorities: [AuthorityKey.generate().publicKey], now: NOW }))).toBe('UNTRUSTED_AUTHORITY');
  });

  it('with a tampered byte never verify', () => {
    const w = makeWorld();
    for (let i = 0; i < w.rosterBytes.length; i += 7) {
      const t = w.rosterBytes.slice();
      t[i]! ^= 0x40;
      expect(() => verifyRoster(t, { trustedAuthorities: w.trusted, now: NOW }), `byte ${i}`).toThrow(CryptoError);
    }
  });

  it('have one valid byte string: a malleated signature (S + L), trailing bytes or a re-encoded id never verify', () => {
    const w = makeWorld();
    const bytes = w.rosterBytes;
    // Ed25519 S (the last 32 bytes, little-endian) plus the group order L satisfies the same equation;
    // libsodium refuses S >= L, so no second signature (and no second rosterHash) exists for one roster.
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    const sAt = bytes.length - 32;
    let S = 0n;
    for (let i = 31; i >= 0; i--) S = (S << 8n) | BigInt(bytes[sAt + i]!);
    const mall = bytes.slice();
    let v = S + L;
    for (let i = 0; i < 32; i++, v >>= 8n) mall[sAt + i] = Number(v & 0xffn);
    expect(code(() => verifyRoster(mall, { trustedAuthorities: w.trusted, now: NOW }))).toBe('BAD_SIGNATURE');
    expect(code(() => verifyRoster(Uint8Array.from([...bytes, 0]), { trustedAuthorities: w.trusted, now: NOW }))).toBe('MALFORMED');
    // the order id with a leading BOM is another id (the signature then fails), not another encoding of it
    const at = 4 + 'sealrelay/roster/v2'.length + 4;
    const bom = new Uint8Array(bytes.length + 3);
    bom.set(bytes.subarray(0, at));
    new DataView(bom.buffer).setUint32(at, ORDER.length + 3);
    bom.set([0xef, 0xbb, 0xbf], at + 4);
    bom.set(bytes.subarray(at + 4), at + 7);
    expect(decodeRoster(bom).orderId).toBe(`\ufeff${ORDER}`);
    expect(code(() => verifyRoster(bom, { trustedAuthorities: w.trusted, now: NOW }))).toBe('BAD_SIGNATURE');
  });

  it('that skip an epoch or link to another hash fail with ROSTER_BAD_CHAIN', () => {
    const w = makeWorld();
    const skip = signRoster(w.authority, { orderId: ORDER, epoch: 3, prevHash: w.roster.hash, members: w.all.map(member), policyId: 'sealrelay/default@1', issuedAt: NOW });
    expect(code(() => verifyRoster(skip, { trustedAuthorities: w.trusted, previous: w.roster, now: NOW }))).toBe('ROSTER_BAD_CHAIN');
    const wrong = signRoster(w.authority, { orderId: ORDER, epoch: 2, prevHash: new Uint8Array(32).fill(9), members: w.all.map(member), policyId: 'sealrelay/default@1', issuedAt: NOW });
    expect(code(() => verifyRoster(wrong, { trustedAuthorities: w.trusted, previous: w.roster, now: NOW }))).toBe('ROSTER_BAD_CHAIN');
  });

  it('with a member whose certificate expired are rejected with CERT_EXPIRED', () => {
    const w = makeWorld();
    const old = makeParty(w.authority, 'courier', 'u-old', { notBefore: NOW - 10 * DAY, notAfter: NOW - DAY });
    const bytes = signRoster(w.authority, { orderId: ORDER, epoch: 1, members: [member(w.shipper), member(old)], policyId: 'sealrelay/default@1', issuedAt: NOW });
    expect(code(() => verifyRoster(bytes, { trustedAuthorities: w.trusted, now: NOW }))).toBe('CERT_EXPIRED');
  });

  it('with a device listed twice, a member not matching its certificate, or an unknown policy are rejected', () => {
    const w = makeWorld();
    const dup = signRoster(w.authority, { orderId: ORDER, epoch: 1, members: [member(w.shipper), member(w.shipper)], policyId: 'sealrelay/default@1', issuedAt: NOW });
    expect(code(() => verifyRoster(dup, { trustedAuthorities: w.trusted, now: NOW }))).toBe('DUPLICATE_MEMBER');
    const mismatch = signRoster(w.authority, { orderId: ORDER, epoch: 1, members: [{ ...member(w.shipper), certificate: w.courier.cert }], policyId: 'sealrelay/default@1', issuedAt: NOW });
    expect(code(() => verifyRoster(mismatch, { trustedAuthorities: w.trusted, now: NOW }))).toBe('CERT_MISMATCH');
    expect(code(() => signRoster(w.authority, { orderId: ORDER, epoch: 1, members: [member(w.shipper)], policyId: 'acme/secret@9', issuedAt: NOW }))).toBe('UNKNOWN_POLICY');
    const unknown = signRaw(w.authority, 'acme/secret@9', new Uint8Array(32), [member(w.shipper)]);
    expect(code(() => verifyRoster(unknown, { trustedAuthorities: w.trusted, now: NOW }))).toBe('UNKNOWN_POLICY');
  });

  it('carry the hash of the policy’s rules, and signed for other rules under a known id are rejected with POLICY_MISMATCH', () => {
    const w = makeWorld();
    expect(decodeRoster(w.rosterBytes).policyHash).toEqual(policyHash(DEFAULT_POLICY));
    expect(w.roster.policyHash).toEqual(policyHash(DEFAULT_POLICY));
    // The authority's copy of 'sealrelay/default@1' lets the courier read commercial; ours does not.
    const theirs = loadPolicy({
      ...DEFAULT_POLICY.data,
      scopes: { ...DEFAULT_POLICY.data.scopes, commercial: { readers: ['shipper', 'dispatcher', 'auditor', 'courier'] } },
    });
    expect(theirs.id).toBe(DEFAULT_POLICY.id);
    const bytes = signRaw(w.authority, DEFAULT_POLICY.id, policyHash(theirs), [member(w.shipper), member(w.courier)]);
    expect(code(() => verifyRoster(bytes, { trustedAuthorities: w.trusted, now: NOW }))).toBe('POLICY_MISMATCH');
    const same = signRaw(w.authority, DEFAULT_POLICY.id, policyHash(DEFAULT_POLICY), [member(w.shipper), member(w.courier)]);
    expect(code(() => verifyRoster(same, { trustedAuthorities: w.trusted, now: NOW }))).toBe('no error');
  });

  it('hash a policy by its rules only: description and the order rules are written in do not change it', () => {
    const reordered = loadPolicy({ ...DEFAULT_POLICY.data, description: 'other words', publish: [...DEFAULT_POLICY.data.publish].reverse() });
    expect(policyHash(reordered)).toEqual(policyHash(DEFAULT_POLICY));
    const stricter = loadPolicy({ ...DEFAULT_POLICY.data, publish: DEFAULT_POLICY.data.publish.slice(1) });
    expect(policyHash(stricter)).not.toEqual(policyHash(DEFAULT_POLICY));
  });
});

/** A roster signed with any policy id and hash (signRoster only signs registered policies). */
function signRaw(authority: AuthorityKey, policyId: string, hash: Uint8Array, members: RosterMemberInput[]): Uint8Array {
  const w = new Writer('sealrelay/roster/v2').u32(2).id(ORDER).u32(1).bytes(new Uint8Array(32)).id(policyId).bytes(hash).u64(NOW)
    .bytes(authority.publicKey).u32(members.length);
  for (const m of members) w.id(m.deviceId).id(m.userId).str(m.role).bytes(m.certificate);
  return w.bytes(authority.sign(w.finish())).finish();
}

describe('a client roster chain', () => {
  it('advances one epoch at a time and keeps earlier rosters for late messages', () => {
    const w = makeWorld();
    const chain = new RosterChain(ORDER, w.trusted);
    chain.accept(w.rosterBytes, NOW);
    const r2 = nextRoster(w, w.roster, w.all.slice(0, 5));
    expect(chain.accept(r2.bytes, NOW).epoch).toBe(2);
    expect(chain.accept(r2.bytes, NOW).epoch).toBe(2); // idempotent
    expect(chain.head?.epoch).toBe(2);
    expect(chain.rosterAt(1)?.hash).toEqual(w.roster.hash);
  });

  it('rejects a rollback to an older epoch with ROSTER_ROLLBACK', () => {
    const w = makeWorld();
    const chain = new RosterChain(ORDER, w.trusted);
    chain.accept(w.rosterBytes, NOW);
    chain.accept(nextRoster(w, w.roster, w.all).bytes, NOW);
    expect(code(() => chain.accept(w.rosterBytes, NOW))).toBe('ROSTER_ROLLBACK');
  });

  it('rejects a second roster for the same epoch, and a next epoch linking elsewhere, with ROSTER_FORK', () => {
    const w = makeWorld();
    const chain = new RosterChain(ORDER, w.trusted);
    chain.accept(w.rosterBytes, NOW);
    const twin = signRoster(w.authority, { orderId: ORDER, epoch: 1, members: w.all.slice(0, 3).map(member), policyId: 'sealrelay/default@1', issuedAt: NOW });
    expect(code(() => chain.accept(twin, NOW))).toBe('ROSTER_FORK');
    const twinRoster = verifyRoster(twin, { trustedAuthorities: w.trusted, now: NOW });
    const offBranch = nextRoster(w, twinRoster, w.all);
    expect(code(() => chain.accept(offBranch.bytes, NOW))).toBe('ROSTER_FORK');
  });

  it('restored from a pinned head refuses a rollback and a fork it never saw the bytes of', () => {
    const w = makeWorld();
    const r2 = nextRoster(w, w.roster, w.all);
    const pinned = { orderId: ORDER, epoch: 2, hash: r2.roster.hash };
    expect(code(() => new RosterChain(ORDER, w.trusted, pinned).accept(w.rosterBytes, NOW))).toBe('ROSTER_ROLLBACK');
    const fork2 = signRoster(w.authority, { orderId: ORDER, epoch: 2, prevHash: w.roster.hash, members: w.all.slice(1).map(member), policyId: 'sealrelay/default@1', issuedAt: NOW });
    expect(code(() => new RosterChain(ORDER, w.trusted, pinned).accept(fork2, NOW))).toBe('ROSTER_FORK');
    expect(new RosterChain(ORDER, w.trusted, pinned).accept(r2.bytes, NOW).epoch).toBe(2);
  });

  it('without a pinned head starts at epoch 1 only (ROSTER_BAD_CHAIN), and a pinned head is the explicit way to start later', () => {
    const w = makeWorld();
    const r2 = nextRoster(w, w.roster, [w.shipper, w.courier]);
    const r3 = nextRoster(w, r2.roster, [w.shipper, w.consignee]);
    expect(code(() => new RosterChain(ORDER, w.trusted).accept(r2.bytes, NOW))).toBe('ROSTER_BAD_CHAIN');
    expect(code(() => new RosterChain(ORDER, w.trusted).accept(r3.bytes, NOW))).toBe('ROSTER_BAD_CHAIN');
    const fromGenesis = new RosterChain(ORDER, w.trusted);
    for (const b of [w.rosterBytes, r2.bytes, r3.bytes]) fromGenesis.accept(b, NOW);
    expect(fromGenesis.head?.epoch).toBe(3);
    const pinned = new RosterChain(ORDER, w.trusted, { orderId: ORDER, epoch: 2, hash: r2.roster.hash });
    expect(pinned.accept(r2.bytes, NOW).epoch).toBe(2);
    expect(pinned.accept(r3.bytes, NOW).epoch).toBe(3);
  });

  it('refuses to jump ahead over a missing epoch and refuses rosters of another order', () => {
    const w = makeWorld();
    const chain = new RosterChain(ORDER, w.trusted);
    chain.accept(w.rosterBytes, NOW);
    const r2 = nextRoster(w, w.roster, w.all);
    const r3 = nextRoster(w, r2.roster, w.all);
    expect(code(() => chain.accept(r3.bytes, NOW))).toBe('ROSTER_BAD_CHAIN');
    expect(code(() => new RosterChain('other-order', w.trusted).accept(w.rosterBytes, NOW))).toBe('WRONG_CONTEXT');
  });
});
