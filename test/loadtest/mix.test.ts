import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, mayPublish } from '../../crypto/public.ts';
import { assignClasses, locationOnly, MixInvalid, mixFor, PARTY_ROLES, receiverReads, scopesReadBy, sendingParties, STEADY_MIX } from '../../loadtest/driver/mix.ts';
import { buildSchedule, seededRandom } from '../../loadtest/driver/schedule.ts';
import { buildStreams } from '../../loadtest/driver/streams.ts';

const byName = (name: string) => STEADY_MIX.classes.findIndex((c) => c.name === name);

describe('the steady mix', () => {
  it('is courier location, chat from courier, shipper and consignee, shipper–dispatcher terms and a courier photo now and then, per 100 messages', () => {
    expect(STEADY_MIX.classes.map((c) => [c.name, PARTY_ROLES[c.sender], c.kind, c.scope, c.weight])).toEqual([
      ['location', 'courier', 'location', 'shared', 72],
      ['chat-courier', 'courier', 'text', 'shared', 6],
      ['chat-shipper', 'shipper', 'text', 'shared', 8],
      ['chat-consignee', 'consignee', 'text', 'shared', 8],
      ['terms-shipper', 'shipper', 'text', 'commercial', 4],
      ['photo-courier', 'courier', 'media', 'shared', 2],
    ]);
    expect(STEADY_MIX.classes[byName('photo-courier')]!.attachmentBytes).toBe(64 * 1024);
  });

  it('only holds messages the role policy lets their sender publish', () => {
    for (const c of STEADY_MIX.classes) expect(mayPublish(DEFAULT_POLICY, PARTY_ROLES[c.sender]!, c.kind, c.scope), c.name).toBe(true);
    expect(() => mixFor(STEADY_MIX, 3)).not.toThrow();
  });

  it('is refused when a class is one the policy forbids its sender', () => {
    const bad = { name: 'bad', classes: [{ name: 'courier-terms', sender: 0, kind: 'text' as const, scope: 'commercial', weight: 1, bytes: 400 }] };
    expect(() => mixFor(bad, 3)).toThrow(MixInvalid);
    expect(() => mixFor(bad, 3)).toThrow(/courier to publish text into commercial/);
  });

  it('reaches the receivers whose role reads the scope: the consignee never gets the commercial terms', () => {
    const terms = byName('terms-shipper');
    // receivers 0, 1, 2 are the shipper, the consignee and the dispatcher
    expect([0, 1, 2].map((r) => receiverReads(STEADY_MIX, r, terms))).toEqual([true, false, true]);
    expect([0, 1, 2].map((r) => receiverReads(STEADY_MIX, r, byName('location')))).toEqual([true, true, true]);
    expect(scopesReadBy(STEADY_MIX, 1)).toEqual(['shared']);
    expect(scopesReadBy(STEADY_MIX, 2).sort()).toEqual(['commercial', 'shared']);
  });

  it('leaves out the classes of parties an order does not have', () => {
    const one = mixFor(STEADY_MIX, 1); // the courier and the shipper only
    expect(one.classes.map((c) => c.name)).toEqual(['location', 'chat-courier', 'chat-shipper', 'terms-shipper', 'photo-courier']);
    expect(sendingParties(one)).toEqual([0, 1]);
    expect(mixFor(locationOnly(), 1).classes).toHaveLength(1);
  });
});

describe('drawing a class for each send', () => {
  it('follows the weights and gives the same draw for the same seed', () => {
    const a = assignClasses(100_000, STEADY_MIX, seededRandom(3));
    const b = assignClasses(100_000, STEADY_MIX, seededRandom(3));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const counts = STEADY_MIX.classes.map((_, c) => a.filter((x) => x === c).length / 1000);
    STEADY_MIX.classes.forEach((c, i) => expect(counts[i]).toBeCloseTo(c.weight, -0.3)); // within ±1 per 100
  });
});

describe('streams', () => {
  it('number each (order, class) from 1 in send order, count them, and find a send back from its stream sequence', () => {
    const schedule = buildSchedule({ ratePerSec: 1000, durationMs: 1000, streams: 4, arrival: 'constant' });
    const cls = assignClasses(schedule.length, STEADY_MIX, seededRandom(1));
    const s = buildStreams(schedule, cls, 4, STEADY_MIX.classes.length);
    let total = 0;
    for (let o = 0; o < 4; o++) {
      for (let c = 0; c < STEADY_MIX.classes.length; c++) {
        const n = s.count(o, c);
        total += n;
        let last = -1;
        for (let q = 1; q <= n; q++) {
          const i = s.sendIndex(o, c, q);
          expect([schedule.stream[i], s.cls[i], s.seq[i]]).toEqual([o, c, q]);
          expect(i).toBeGreaterThan(last); // a stream's sequence is its send order
          last = i;
        }
        expect(s.sendIndex(o, c, n + 1)).toBe(-1);
      }
    }
    expect(total).toBe(schedule.length);
  });
});
