import { describe, expect, it } from 'vitest';
import { DeliveryLedger, sumTallies } from '../../loadtest/driver/accounting.ts';

function feed(seqs: number[], expected: number) {
  const l = new DeliveryLedger('r');
  seqs.forEach((s, i) => l.onApp(s, i));
  return l.tally(expected);
}

describe('delivery accounting for one receiver', () => {
  it('counts a clean in-order stream as all delivered', () => {
    expect(feed([1, 2, 3, 4, 5], 5)).toMatchObject({ expected: 5, delivered: 5, lost: 0, duplicates: 0, reordered: 0 });
  });

  it('counts missing sequences as lost', () => {
    expect(feed([1, 2, 5], 5)).toMatchObject({ delivered: 3, lost: 2, reordered: 0 });
  });

  it('counts a repeated sequence as a duplicate and not as a reordering', () => {
    expect(feed([1, 2, 2, 3, 1], 3)).toMatchObject({ delivered: 3, duplicates: 2, reordered: 0, lost: 0 });
  });

  it('counts each first arrival below the highest so far as one reordering', () => {
    expect(feed([1, 3, 2], 3)).toMatchObject({ reordered: 1, lost: 0 });
    expect(feed([1, 2, 4, 3, 5], 5)).toMatchObject({ reordered: 1 });
    expect(feed([5, 4, 3, 2, 1], 5)).toMatchObject({ reordered: 4 });
  });

  it('counts sequences the publisher never sent as phantom, not delivered', () => {
    expect(feed([1, 2, 9], 3)).toMatchObject({ delivered: 2, lost: 1, phantom: 1 });
  });

  it('separates raw redeliveries on the wire (dropped by the client) from duplicates the application saw', () => {
    const l = new DeliveryLedger('r');
    for (const wire of [1, 2, 2, 3]) if (l.onWire(wire)) l.onApp(wire, 0);
    expect(l.tally(3)).toMatchObject({ wireMessages: 4, wireRedeliveries: 1, duplicates: 0, delivered: 3 });
  });

  it('times a reconnect and the catch-up until everything sent before it has arrived', () => {
    const l = new DeliveryLedger('r');
    l.onApp(1, 0);
    l.onDisconnect(100);
    l.onReconnect(400, 3); // publisher had sent 1..3 by then
    l.onApp(2, 450);
    expect(l.tally(3).catchUpsPending).toBe(1);
    l.onApp(3, 520);
    const t = l.tally(3);
    expect(t).toMatchObject({ reconnects: 1, downtimesMs: [300], catchUpsMs: [120], catchUpsPending: 0 });
  });

  it('large sequence numbers do not break the seen-set', () => {
    expect(feed([100_000, 1], 100_000)).toMatchObject({ delivered: 2, lost: 99_998, reordered: 1 });
  });
});

describe('a receiver following several streams (message classes)', () => {
  it('keeps order, loss and duplicates per stream: interleaving two senders is not a reordering', () => {
    const l = new DeliveryLedger('r', 2);
    l.onApp(1, 0, 0);
    l.onApp(1, 1, 1);
    l.onApp(2, 2, 1);
    l.onApp(2, 3, 0);
    l.onApp(2, 4, 0);
    expect(l.tally([3, 2])).toMatchObject({ expected: 5, delivered: 4, lost: 1, duplicates: 1, reordered: 0, deliveredByStream: [2, 2] });
  });

  it('counts arrivals on a stream the receiver may not read (expected 0) as phantom, not delivered', () => {
    const l = new DeliveryLedger('consignee', 2);
    l.onApp(1, 0, 0);
    l.onApp(1, 0, 1); // commercial terms, which a consignee must never see
    expect(l.tally([1, 0])).toMatchObject({ expected: 1, delivered: 1, lost: 0, phantom: 1 });
  });

  it('is caught up after a reconnect only once every stream has what its publisher had sent', () => {
    const l = new DeliveryLedger('r', 2);
    l.onDisconnect(0);
    l.onReconnect(100, [2, 1], true);
    l.onApp(1, 110, 0);
    l.onApp(2, 120, 0);
    expect(l.tally([2, 1]).catchUpsPending).toBe(1);
    l.onApp(1, 150, 1);
    expect(l.tally([2, 1])).toMatchObject({ catchUpsMs: [50], catchUpsPending: 0, reconnects: 1, resumed: 1 });
    expect(l.reconnectLog()).toEqual([{ at: 100, resumed: true, caughtUpAt: 150 }]);
  });

  it('ignores streams it may not read when deciding it has caught up', () => {
    const l = new DeliveryLedger('r', 2);
    l.onApp(1, 0, 0);
    l.onReconnect(10, [1, 0]);
    expect(l.reconnectLog()).toEqual([{ at: 10, resumed: false, caughtUpAt: 10 }]);
  });
});

describe('delivery totals over receivers', () => {
  it('sums every receiver and lists only the ones with problems', () => {
    const good = feed([1, 2], 2);
    const bad = feed([2, 2], 2);
    const t = sumTallies([good, bad]);
    expect(t).toMatchObject({ receivers: 2, expected: 4, delivered: 3, lost: 1, duplicates: 1 });
    expect(t.worst).toHaveLength(1);
  });
});
