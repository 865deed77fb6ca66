/**
 * Offline audit of one order: verifies the roster chain, every key package's
 * outer signature and policy, every envelope's signature, policy compliance
 * and per-sender hash chain, using public keys only (no content key is needed
 * or accepted). Pure: bytes in, a report out.
 */
import { CryptoError, type CryptoErrorCode } from './errors.ts';
import { toHex } from './encoding.ts';
import { verifySig } from './identity.ts';
import { mayPublish, mayPublishAny, mayRead } from './policy.ts';
import { type RosterLink, type VerifiedRoster, decodeRoster, rosterHash, verifyRoster } from './roster.ts';
import { decodeKeyPackage } from './senderkey.ts';
import { ChainTracker, decodeEnvelope, envelopeHash } from './envelope.ts';
import { type SenderKeyContext, senderChainKey } from './ratchet.ts';

export interface OrderLog {
  /** Signed rosters, epoch 1 first. */
  rosters: readonly Uint8Array[];
  keyPackages: readonly Uint8Array[];
  /** Envelopes in the order's sequence order. */
  envelopes: readonly Uint8Array[];
}

export type AuditAnomalyCode = CryptoErrorCode | 'GAP' | 'REORDER' | 'DUPLICATE' | 'CHAIN_BREAK' | 'UNKNOWN_EPOCH' | 'MISSING_KEY_PACKAGE';

export interface AuditAnomaly {
  code: AuditAnomalyCode;
  /** e.g. 'roster[1]', 'keyPackage[3]', 'envelope[17]'. */
  where: string;
  detail: string;
}

export interface AuditReport {
  ok: boolean;
  anomalies: AuditAnomaly[];
  stats: { rosters: number; epochs: number; keyPackages: number; envelopes: number; senders: number; senderChains: number };
}

export interface AuditOptions {
  trustedAuthorities: readonly Uint8Array[];
  /** The audit's clock; member certificates are judged at each roster's issuedAt (they may have expired since, legitimately). */
  now: number;
}

function describe(e: unknown): { code: AuditAnomalyCode; detail: string } {
  if (e instanceof CryptoError) return { code: e.code, detail: e.message };
  return { code: 'MALFORMED', detail: String(e) };
}

/**
 * Audit an exported order log.
 * @example const report = auditOrder({ rosters, keyPackages, envelopes }, { trustedAuthorities: [pk], now: Date.now() });
 */
export function auditOrder(log: OrderLog, opts: AuditOptions): AuditReport {
  const anomalies: AuditAnomaly[] = [];
  const add = (code: AuditAnomalyCode, where: string, detail: string): void => {
    anomalies.push({ code, where, detail });
  };
  const rosters = new Map<number, VerifiedRoster>();

  // 1. Roster chain. A roster that verifies alone but breaks the chain is reported and still used
  //    to check the messages of its epoch, so one anomaly does not hide the rest.
  let prev: RosterLink | undefined;
  log.rosters.forEach((bytes, i) => {
    const where = `roster[${i}]`;
    let epoch: number;
    try {
      const d = decodeRoster(bytes);
      epoch = d.epoch;
      if (opts.now < d.issuedAt) add('WRONG_CONTEXT', where, `issued at ${d.issuedAt}, after the audit time`);
      let v: VerifiedRoster | undefined;
      try {
        v = verifyRoster(bytes, { trustedAuthorities: opts.trustedAuthorities, previous: prev, now: d.issuedAt });
      } catch (e) {
        const { code, detail } = describe(e);
        add(code, where, detail);
        if (code === 'ROSTER_BAD_CHAIN' || code === 'WRONG_CONTEXT') {
          try {
            v = verifyRoster(bytes, { trustedAuthorities: opts.trustedAuthorities, now: d.issuedAt });
          } catch {
            v = undefined;
          }
        }
      }
      if (v) {
        if (rosters.has(epoch)) add('ROSTER_FORK', where, `a second roster for epoch ${epoch}`);
        else rosters.set(epoch, v);
      }
      prev = { orderId: d.orderId, epoch: d.epoch, hash: rosterHash(bytes) };
    } catch (e) {
      const { code, detail } = describe(e);
      add(code, where, detail);
    }
  });

  // Sender chains are named by (order, epoch, scope, sender, key id). One key id under two
  // contexts means someone copied another chain's id (the copy is signed by its author, so the
  // report names both): KEY_ID_COLLISION, and the two chains are still checked separately.
  const owners = new Map<string, string>(); // senderKeyIdHex → first senderChainKey
  const collided = new Set<string>();
  const checkOwner = (ctx: SenderKeyContext, where: string): void => {
    const kid = toHex(ctx.senderKeyId);
    const key = senderChainKey(ctx);
    const first = owners.get(kid);
    if (first === undefined) owners.set(kid, key);
    else if (first !== key && !collided.has(key)) {
      collided.add(key);
      add('KEY_ID_COLLISION', where, `sender key ${kid.slice(0, 8)} of ${ctx.senderDeviceId} (${ctx.scope}#${ctx.epoch}) is also used by ${first}`);
    }
  };

  // 2. Key packages: signed by a member who may publish into the scope, to a member who may read it.
  const packaged = new Set<string>(); // `${senderChainKey}|${recipient}`
  log.keyPackages.forEach((bytes, i) => {
    const where = `keyPackage[${i}]`;
    try {
      const kp = decodeKeyPackage(bytes);
      const h = kp.header;
      const roster = rosters.get(h.epoch);
      if (!roster) return add('UNKNOWN_EPOCH', where, `no verified roster for epoch ${h.epoch}`);
      if (h.orderId !== roster.orderId) return add('WRONG_CONTEXT', where, `key package of order ${h.orderId}`);
      const sender = roster.memberByDevice(h.senderDeviceId);
      if (!sender) return add('NOT_A_MEMBER', where, `sender ${h.senderDeviceId} is not in epoch ${h.epoch}`);
      if (!verifySig(kp.signature, kp.signedBytes, sender.signPublicKey)) return add('BAD_SIGNATURE', where, `not signed by ${h.senderDeviceId}`);
      const recipient = roster.memberByDevice(h.recipientDeviceId);
      if (!recipient) return add('NOT_A_MEMBER', where, `recipient ${h.recipientDeviceId} is not in epoch ${h.epoch}`);
      if (!mayRead(roster.policy, recipient.role, h.scope)) add('POLICY_DENIED', where, `${recipient.role} ${h.recipientDeviceId} was given the key of ${h.scope}`);
      if (!mayPublishAny(roster.policy, sender.role, h.scope)) add('POLICY_DENIED', where, `${sender.role} ${h.senderDeviceId} distributes a key for ${h.scope}`);
      checkOwner(h, where);
      packaged.add(`${senderChainKey(h)}|${h.recipientDeviceId}`);
    } catch (e) {
      const { code, detail } = describe(e);
      add(code, where, detail);
    }
  });

  // 3. Envelopes: signature by the sender's key of that epoch, policy, per-sender chain.
  const tracker = new ChainTracker();
  const senders = new Set<string>();
  const chains = new Map<string, { roster: VerifiedRoster; scope: string; sender: string; kid: string }>();
  log.envelopes.forEach((bytes, i) => {
    const where = `envelope[${i}]`;
    try {
      const env = decodeEnvelope(bytes);
      const h = env.header;
      const roster = rosters.get(h.epoch);
      if (!roster) return add('UNKNOWN_EPOCH', where, `no verified roster for epoch ${h.epoch}`);
      if (h.orderId !== roster.orderId) return add('WRONG_CONTEXT', where, `envelope of order ${h.orderId}`);
      const sender = roster.memberByDevice(h.senderDeviceId);
      if (!sender) return add('NOT_A_MEMBER', where, `sender ${h.senderDeviceId} is not in epoch ${h.epoch}`);
      if (!verifySig(env.signature, env.signedBytes, sender.signPublicKey)) return add('BAD_SIGNATURE', where, `not signed by ${h.senderDeviceId}`);
      if (!mayPublish(roster.policy, sender.role, h.kind, h.scope)) add('POLICY_DENIED', where, `${sender.role} ${h.senderDeviceId} published ${h.kind} into ${h.scope}`);
      senders.add(h.senderDeviceId);
      checkOwner(h, where);
      const key = senderChainKey(h);
      if (!chains.has(key)) chains.set(key, { roster, scope: h.scope, sender: h.senderDeviceId, kid: toHex(h.senderKeyId) });
      for (const w of tracker.observe(h, envelopeHash(bytes))) {
        if (w.type === 'gap') add('GAP', where, `${w.sender}: expected index ${w.expectedIndex}, got ${w.gotIndex}`);
        else if (w.type === 'reorder') add('REORDER', where, `${w.sender}: index ${w.index} arrived after ${w.expectedIndex - 1}`);
        else if (w.type === 'replay') add('DUPLICATE', where, `${w.sender}: index ${w.index} appears twice`);
        else add('CHAIN_BREAK', where, `${w.sender}: index ${w.index} does not link to its neighbours`);
      }
    } catch (e) {
      const { code, detail } = describe(e);
      add(code, where, detail);
    }
  });

  // 4. Every reader of a scope (other than the sender) must have received each sender key used in it.
  for (const [key, c] of chains) {
    for (const m of c.roster.readersOf(c.scope)) {
      if (m.deviceId !== c.sender && !packaged.has(`${key}|${m.deviceId}`)) {
        add('MISSING_KEY_PACKAGE', `senderKey ${c.kid.slice(0, 8)}`, `${m.role} ${m.deviceId} never got the key of ${c.sender} for ${c.scope}#${c.roster.epoch}`);
      }
    }
  }

  return {
    ok: anomalies.length === 0,
    anomalies,
    stats: {
      rosters: log.rosters.length,
      epochs: rosters.size,
      keyPackages: log.keyPackages.length,
      envelopes: log.envelopes.length,
      senders: senders.size,
      senderChains: chains.size,
    },
  };
}
