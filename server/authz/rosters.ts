/**
 * The relay's verified view of every order's roster chain, cached per order and
 * loaded from the store on first use. Authorization asks it synchronously
 * (`canRead`, `memberOf`) once the needed epoch is loaded (`ensureEpoch`).
 *
 * A new roster is accepted only if it verifies against the trusted authorities
 * AND extends the chain head (`verifyRoster` with `previous`), and only if the
 * store's compare-and-set agrees, so two relay nodes can never accept different
 * rosters for one epoch.
 *
 * The store, not this cache, is the source of truth for the current epoch: it
 * refuses appends sealed for any other epoch, it announces every accepted roster
 * (`store.onRoster`: this node then refreshes at once, which ends removed members'
 * subscriptions), and `synced()` re-reads the store's epoch for the checks that do
 * not go through an append (sub, kp_put).
 */
import { ProtocolError } from '../../protocol/errors.ts';
import type { MessageStore } from '../store/types.ts';
import { decodeRoster, mayRead, rosterErrorCode, verifyRoster, type Roster, type VerifiedRoster } from '../trust.ts';

/** Orders whose rosters stay cached; beyond this one not used recently is dropped (approximately the least recently used; reloaded on demand). */
export const MAX_CACHED_ORDERS = 50_000;

export type RosterListener = (order: string, roster: VerifiedRoster, previous: VerifiedRoster | undefined) => void;

interface Chain {
  /** chain[i] is epoch i + 1. */
  readonly rosters: VerifiedRoster[];
  /** Used since eviction last looked at it (CLOCK, an approximate LRU: a use is one store, not a Map reorder). */
  used?: boolean;
  readers: WeakMap<VerifiedRoster, Map<string, Set<string>>>;
}

export class RosterBook {
  private readonly chains = new Map<string, Chain>();
  private readonly loading = new Map<string, Promise<Chain>>();
  private readonly writes = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<RosterListener>();
  private readonly stopHints: () => void;

  constructor(
    private readonly store: MessageStore,
    private readonly trustedAuthorities: readonly Uint8Array[],
    private readonly now: () => number = Date.now,
    private readonly onError: (err: unknown, order: string) => void = () => undefined,
    private readonly maxCached = MAX_CACHED_ORDERS,
    /**
     * Orders whose chain must stay cached whatever the cap: those with live
     * subscriptions on this node. An evicted chain does not hear roster hints (they
     * only refresh cached chains), so a member removed meanwhile would keep its
     * subscription here without MEMBER_REMOVED until something reloaded the chain.
     */
    private readonly pinned: (order: string) => boolean = () => false,
  ) {
    this.stopHints = store.onRoster((order, epoch) => {
      // Only orders this node holds matter: an uncached order loads the whole chain on first use.
      const chain = this.chains.get(order);
      if (chain && chain.rosters.length < epoch) this.refresh(order).catch((err) => this.onError(err, order));
    });
  }

  /** Stop listening to the store's roster hints. */
  close(): void {
    this.stopHints();
  }

  /**
   * The current roster after checking the store's epoch (one cheap read): another
   * node may have accepted a newer roster whose hint has not arrived (or was lost).
   */
  async synced(order: string): Promise<VerifiedRoster | undefined> {
    const [cached, stored] = await Promise.all([this.current(order), this.store.currentEpoch(order)]);
    if (stored > (cached?.epoch ?? 0)) {
      await this.refresh(order);
      return this.current(order);
    }
    return cached;
  }

  onChange(listener: RosterListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The current roster of `order`, or undefined when the order has none. */
  async current(order: string): Promise<VerifiedRoster | undefined> {
    const chain = await this.chain(order);
    return chain.rosters[chain.rosters.length - 1];
  }

  /** Make sure rosters up to `epoch` are cached (another node may have accepted newer ones). */
  async ensureEpoch(order: string, epoch: number): Promise<void> {
    const chain = await this.chain(order);
    if (chain.rosters.length >= epoch) return;
    await this.refresh(order);
  }

  /** Synchronous: the cached roster of `epoch`, if loaded. */
  cachedAt(order: string, epoch: number): VerifiedRoster | undefined {
    return this.chains.get(order)?.rosters[epoch - 1];
  }

  cachedHead(order: string): VerifiedRoster | undefined {
    const r = this.chains.get(order)?.rosters;
    return r?.[r.length - 1];
  }

  /** cachedHead for a caller about to act on it (a publish): also marks the chain recently used, as current() does. */
  usedHead(order: string): VerifiedRoster | undefined {
    const cached = this.chains.get(order);
    if (!cached) return undefined;
    cached.used = true;
    return cached.rosters[cached.rosters.length - 1];
  }

  /**
   * May `device` read a message of `scope` sealed for `epoch`? It must be a member
   * of THAT epoch's roster with a role that reads the scope: members never see
   * messages from before they joined, nor from after they were removed.
   * Requires ensureEpoch(order, epoch) first; unknown epochs read as false.
   */
  canRead(order: string, epoch: number, scope: string, device: string): boolean {
    const chain = this.chains.get(order);
    const roster = chain?.rosters[epoch - 1];
    if (!chain || !roster) return false;
    let byScope = chain.readers.get(roster);
    if (!byScope) chain.readers.set(roster, (byScope = new Map()));
    let readers = byScope.get(scope);
    if (!readers) {
      readers = new Set(roster.members.filter((m) => mayRead(roster.policy, m.role, scope)).map((m) => m.deviceId));
      byScope.set(scope, readers);
    }
    return readers.has(device);
  }

  /** Accept a roster for `order`. Throws ProtocolError ROSTER_INVALID / ROSTER_ROLLBACK / ROSTER_FORK. Idempotent for the current head. */
  put(order: string, bytes: Uint8Array): Promise<VerifiedRoster> {
    // One put per order at a time on this node; the store CAS covers other nodes.
    const prior = this.writes.get(order) ?? Promise.resolve();
    const next = prior.catch(() => undefined).then(() => this.putNow(order, bytes));
    this.writes.set(order, next);
    void next.finally(() => {
      if (this.writes.get(order) === next) this.writes.delete(order);
    }).catch(() => undefined);
    return next;
  }

  private async putNow(order: string, bytes: Uint8Array): Promise<VerifiedRoster> {
    let decoded: Roster;
    try {
      decoded = decodeRoster(bytes);
    } catch (err) {
      throw new ProtocolError('ROSTER_INVALID', (err as Error).message.slice(0, 200));
    }
    if (decoded.orderId !== order) throw new ProtocolError('ROSTER_INVALID', `the roster is for order ${decoded.orderId.slice(0, 64)}, not ${order}`);
    const chain = await this.chain(order);
    const head = chain.rosters[chain.rosters.length - 1];
    const headEpoch = head?.epoch ?? 0;
    if (decoded.epoch <= headEpoch) {
      // Re-putting the current head (a retry after a lost ack) is fine; anything older is a rollback.
      if (decoded.epoch === headEpoch && head && Buffer.compare(head.bytes, bytes) === 0) return head;
      if (decoded.epoch < headEpoch) throw new ProtocolError('ROSTER_ROLLBACK', `epoch ${decoded.epoch} is older than the current epoch ${headEpoch}`);
      throw new ProtocolError('ROSTER_FORK', `a different roster for the current epoch ${headEpoch}`);
    }
    if (decoded.epoch !== headEpoch + 1) throw new ProtocolError('ROSTER_FORK', `epoch ${decoded.epoch} does not follow the current epoch ${headEpoch}`);
    let verified: VerifiedRoster;
    try {
      verified = verifyRoster(bytes, { trustedAuthorities: this.trustedAuthorities, previous: head, now: this.now() });
    } catch (err) {
      throw new ProtocolError(rosterErrorCode(err), (err as Error).message.slice(0, 200));
    }
    const won = await this.store.putRoster(order, verified.epoch, verified.bytes);
    if (!won) {
      await this.refresh(order);
      const stored = this.cachedAt(order, verified.epoch);
      if (stored && Buffer.compare(stored.bytes, bytes) === 0) return stored;
      throw new ProtocolError('ROSTER_FORK', `another roster for epoch ${verified.epoch} was accepted first`);
    }
    // The store's own hint may have refreshed the chain already (memory store: synchronously).
    this.append(order, chain, verified);
    return this.cachedAt(order, verified.epoch) ?? verified;
  }

  /** Extend the chain by `roster` if it is the next epoch (a hint-driven refresh may have got there first). */
  private append(order: string, chain: Chain, roster: VerifiedRoster): void {
    if (roster.epoch !== chain.rosters.length + 1) return;
    const previous = chain.rosters[chain.rosters.length - 1];
    chain.rosters.push(roster);
    this.cache(order, chain);
    for (const l of this.listeners) l(order, roster, previous);
  }

  /** Re-read the chain from the store and notify listeners of every new epoch. */
  async refresh(order: string): Promise<void> {
    const chain = await this.chain(order);
    const records = await this.store.rosters(order, chain.rosters.length + 1);
    for (const rec of records) {
      if (rec.epoch !== chain.rosters.length + 1) continue;
      this.append(order, chain, this.verifyStored(rec.bytes, chain.rosters[chain.rosters.length - 1]));
    }
  }

  private chain(order: string): Promise<Chain> {
    const cached = this.chains.get(order);
    if (cached) {
      cached.used = true;
      return Promise.resolve(cached);
    }
    let pending = this.loading.get(order);
    if (!pending) {
      pending = this.load(order).finally(() => this.loading.delete(order));
      this.loading.set(order, pending);
    }
    return pending;
  }

  private async load(order: string): Promise<Chain> {
    const records = await this.store.rosters(order, 1);
    const rosters: VerifiedRoster[] = [];
    for (const rec of records) {
      if (rec.epoch !== rosters.length + 1) break;
      rosters.push(this.verifyStored(rec.bytes, rosters[rosters.length - 1]));
    }
    const chain: Chain = { rosters, readers: new WeakMap() };
    const raced = this.chains.get(order);
    if (raced) return raced;
    // An unknown order (no roster yet) is not cached: requests for random order ids
    // must not push real orders out of the LRU. The chain is cached once it has a roster.
    if (rosters.length > 0) this.cache(order, chain);
    return chain;
  }

  private cache(order: string, chain: Chain): void {
    if (this.chains.get(order) === chain) return;
    this.chains.set(order, chain);
    if (this.chains.size <= this.maxCached) return;
    // CLOCK: from the oldest, give each chain used since the last pass a second
    // chance (to the back, flag cleared); drop the first one that was not used and is
    // not pinned. If every chain is pinned the cache grows past the cap (pinned
    // orders are bounded by this node's subscriptions).
    let looked = 0;
    const limit = 2 * this.chains.size;
    for (const [key, c] of this.chains) {
      if (++looked > limit) return;
      if (key === order) continue;
      if (!c.used && !this.pinned(key)) {
        this.chains.delete(key);
        return;
      }
      c.used = false;
      this.chains.delete(key);
      this.chains.set(key, c);
    }
  }

  /** Orders whose chain is cached (for tests and metrics). */
  get cachedOrders(): number {
    return this.chains.size;
  }

  /**
   * Rosters from the store were verified when accepted; we verify again (the
   * store is not the trust root) at their issue time, because member
   * certificates may have expired since, which does not undo past membership.
   */
  private verifyStored(bytes: Uint8Array, previous: VerifiedRoster | undefined): VerifiedRoster {
    const issuedAt = decodeRoster(bytes).issuedAt;
    try {
      return verifyRoster(bytes, { trustedAuthorities: this.trustedAuthorities, previous, now: issuedAt });
    } catch {
      return verifyRoster(bytes, { trustedAuthorities: this.trustedAuthorities, previous, now: this.now() });
    }
  }
}
