/**
 * A relay that serves an old or a different roster chain is caught, both when an
 * order is opened (against the head this device pinned before) and on a push.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { RosterSync } from '../../client/roster-sync.ts';
import { MemoryStorage } from '../../client/storage/memory.ts';
import { makeParty, makeWorld, rosterFor, type World } from './world.ts';

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});

/** A relay that pages its answer one roster at a time, as a size-limited relay may. */
const serve = (chain: Uint8Array[]) => async (from: number) => ({
  rosters: chain.slice(from - 1, from),
  ...(from < chain.length ? { nextEpoch: from + 1 } : {}),
});

describe('roster chain sync', () => {
  it('verifies the chain from epoch 1 and pins its head', async () => {
    const r1 = rosterFor(w, 'o', [w.shipper, w.courier]);
    const r2 = rosterFor(w, 'o', [w.shipper, w.consignee], r1.roster);
    const storage = new MemoryStorage();
    const sync = await RosterSync.load('o', serve([r1.bytes, r2.bytes]), storage, w.trusted, Date.now());
    expect(sync.head.epoch).toBe(2);
    expect(sync.rosterAt(1)?.memberByDevice(w.courier.keys.deviceId)).toBeDefined();
    expect(await storage.list('roster/')).toEqual(['roster/o']);
  });

  it('refuses a relay that later serves only an older epoch (rollback)', async () => {
    const r1 = rosterFor(w, 'o', [w.shipper, w.courier]);
    const r2 = rosterFor(w, 'o', [w.shipper], r1.roster);
    const storage = new MemoryStorage();
    await RosterSync.load('o', serve([r1.bytes, r2.bytes]), storage, w.trusted, Date.now());
    await expect(RosterSync.load('o', serve([r1.bytes]), storage, w.trusted, Date.now())).rejects.toMatchObject({ code: 'ROSTER_ROLLBACK' });
  });

  it('refuses a relay that later serves a different roster for a seen epoch (fork)', async () => {
    const r1 = rosterFor(w, 'o', [w.shipper, w.courier]);
    const other = rosterFor(w, 'o', [w.shipper, w.consignee]);
    const storage = new MemoryStorage();
    await RosterSync.load('o', serve([r1.bytes]), storage, w.trusted, Date.now());
    await expect(RosterSync.load('o', serve([other.bytes]), storage, w.trusted, Date.now())).rejects.toMatchObject({ code: 'ROSTER_FORK' });
  });

  it('refuses a roster signed by an authority it does not trust, and an order with no roster', async () => {
    const stranger = await makeWorld();
    const foreign = rosterFor(stranger, 'o', [stranger.shipper]);
    await expect(RosterSync.load('o', serve([foreign.bytes]), new MemoryStorage(), w.trusted, Date.now())).rejects.toMatchObject({ code: 'UNTRUSTED_AUTHORITY' });
    await expect(RosterSync.load('o', serve([]), new MemoryStorage(), w.trusted, Date.now())).rejects.toMatchObject({ code: 'ROSTER_MISSING' });
  });

  it('accepts the next epoch pushed to it, and refuses a pushed fork of it', async () => {
    const r1 = rosterFor(w, 'o', [w.shipper, w.courier]);
    const sync = await RosterSync.load('o', serve([r1.bytes]), new MemoryStorage(), w.trusted, Date.now());
    const r2 = rosterFor(w, 'o', [w.shipper, makeParty(w.authority, 'courier')], r1.roster);
    const fork = rosterFor(w, 'o', [w.shipper], r1.roster);
    expect((await sync.accept(r2.bytes, Date.now())).epoch).toBe(2);
    await expect(sync.accept(fork.bytes, Date.now())).rejects.toMatchObject({ code: 'ROSTER_FORK' });
    await expect(sync.accept(r1.bytes, Date.now())).rejects.toMatchObject({ code: 'ROSTER_ROLLBACK' });
  });
});
