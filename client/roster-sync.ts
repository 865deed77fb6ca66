/**
 * This device's view of one order's roster chain: verified from epoch 1 on every
 * open (so envelopes of any past epoch can be checked), compared against the head
 * this device pinned in storage last time (so a relay cannot serve an older or a
 * different chain after a restart), and advanced only one verified epoch at a time.
 */
import { z } from 'zod';
import { RosterChain, isCryptoError, type RosterLink, type VerifiedRoster } from '../crypto/index.ts';
import { SealRelayError } from './errors.ts';
import { getJson, setJson, type ClientStorage } from './storage/types.ts';

const Pin = z.object({ epoch: z.number().int().positive(), hash: z.string().regex(/^[0-9a-f]{64}$/) });
const keyOf = (order: string) => `roster/${order}`;
/** Pages of `rosters` followed in one refresh: far beyond any real order's chain. */
const MAX_PAGES = 1000;
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Fetch a page of an order's rosters from `fromEpoch` (ascending); `nextEpoch` when more follow. */
export type RosterFetcher = (fromEpoch: number) => Promise<{ readonly rosters: readonly Uint8Array[]; readonly nextEpoch?: number }>;

export class RosterSync {
  private constructor(
    readonly orderId: string,
    private readonly chain: RosterChain,
    private readonly storage: ClientStorage,
    /** False until the served chain was compared with the pin: nothing is persisted before that. */
    private checked: boolean,
  ) {}

  /**
   * Verify the whole chain and check it extends what this device saw before.
   * Throws SealRelayError ROSTER_MISSING, or with the crypto code: ROSTER_ROLLBACK,
   * ROSTER_FORK, ROSTER_BAD_CHAIN, BAD_SIGNATURE, UNTRUSTED_AUTHORITY, …
   */
  static async load(orderId: string, fetch: RosterFetcher, storage: ClientStorage, trusted: readonly Uint8Array[], now: number): Promise<RosterSync> {
    // Read the pin before refresh(), which persists whatever head the relay gave us.
    const pinned = Pin.safeParse(await getJson(storage, keyOf(orderId)));
    const sync = new RosterSync(orderId, new RosterChain(orderId, trusted), storage, false);
    await sync.refresh(fetch, now);
    if (!sync.chain.head) throw new SealRelayError('ROSTER_MISSING');
    if (pinned.success) {
      const { epoch, hash } = pinned.data;
      const head = sync.chain.head;
      if (head.epoch < epoch) {
        throw new SealRelayError('ROSTER_ROLLBACK', `the relay serves epoch ${head.epoch} of ${orderId}, but this device already saw epoch ${epoch}`);
      }
      const same = sync.chain.rosterAt(epoch);
      if (!same || hex(same.hash) !== hash) {
        throw new SealRelayError('ROSTER_FORK', `the relay's epoch ${epoch} of ${orderId} differs from the one this device saw`);
      }
    }
    sync.checked = true;
    await sync.persist();
    return sync;
  }

  get head(): VerifiedRoster {
    return this.chain.head!;
  }

  get pin(): RosterLink | undefined {
    return this.chain.pin;
  }

  rosterAt(epoch: number): VerifiedRoster | undefined {
    return this.chain.rosterAt(epoch);
  }

  /** Fetch and accept every epoch after the head. Returns the newly accepted rosters. */
  async refresh(fetch: RosterFetcher, now: number): Promise<VerifiedRoster[]> {
    const added: VerifiedRoster[] = [];
    let from = (this.chain.head?.epoch ?? 0) + 1;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const page = await fetch(from);
      for (const bytes of page.rosters) {
        const before = this.chain.head?.epoch ?? 0;
        const r = this.acceptOrThrow(bytes, now);
        if (r.epoch > before) added.push(r);
      }
      // Follow the relay's paging, but only forward: a relay cannot loop us.
      if (page.nextEpoch === undefined || page.nextEpoch <= from) break;
      from = page.nextEpoch;
    }
    if (added.length > 0) await this.persist();
    return added;
  }

  /** A roster pushed by the relay: the next epoch (accepted), the current one (no-op), or an error. */
  async accept(bytes: Uint8Array, now: number): Promise<VerifiedRoster> {
    const r = this.acceptOrThrow(bytes, now);
    await this.persist();
    return r;
  }

  private acceptOrThrow(bytes: Uint8Array, now: number): VerifiedRoster {
    try {
      return this.chain.accept(bytes, now);
    } catch (e) {
      if (isCryptoError(e)) throw new SealRelayError(e.code, `roster of ${this.orderId}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  private async persist(): Promise<void> {
    if (!this.checked) return;
    const head = this.chain.head;
    if (head) await setJson(this.storage, keyOf(this.orderId), { epoch: head.epoch, hash: hex(head.hash) });
  }
}
