import { describe, expect, it } from 'vitest';
import {
  NetworkProfileSchema,
  PROFILE_NAMES,
  allProfiles,
  profile,
  rttMs,
  scaleOutages,
  toNetemArgs,
  toNetemCommands,
  type NetworkProfile,
} from '../../../loadtest/net/profiles.ts';

describe('network profiles', () => {
  it('defines exactly the seven profiles of DESIGN §5, each valid and with a source', () => {
    expect(PROFILE_NAMES).toEqual(['lan', '3g-slow', '4g-slow', '3g-average', 'edge-lossy', '2g-rural', 'courier-flaky']);
    for (const p of allProfiles()) {
      expect(NetworkProfileSchema.safeParse(p).success).toBe(true);
      expect(p.source.length).toBeGreaterThan(5);
    }
  });

  it('carries the table values of DESIGN §5', () => {
    const rows = allProfiles().map((p) => [p.name, p.downKbit, p.upKbit, p.delayMs, p.upDelayMs, p.lossPct]);
    expect(rows).toEqual([
      ['lan', null, null, 0, 0, 0],
      ['3g-slow', 400, 400, 200, 200, 0],
      ['4g-slow', 1440, 675, 75, 75, 0],
      ['3g-average', 780, 330, 100, 100, 0],
      ['edge-lossy', 240, 200, 400, 440, 1],
      ['2g-rural', 20, 18, 650, 650, 2],
      ['courier-flaky', 780, 330, 100, 100, 1.6],
    ]);
    expect(rttMs(profile('3g-slow'))).toBe(400);
  });

  it('courier-flaky is 3g-average plus ±50 ms jitter, bursty loss averaging 1.6% and 10–30 s outages', () => {
    const p = profile('courier-flaky');
    expect(p.jitterMs).toBe(50);
    expect(p.burstiness.kind).toBe('bursty');
    if (p.burstiness.kind !== 'bursty') return;
    const { badLossPct, meanBadMs, meanGoodMs } = p.burstiness;
    expect((badLossPct * meanBadMs) / (meanBadMs + meanGoodMs)).toBeCloseTo(1.6, 2);
    expect(p.outages.map((o) => o.kind).sort()).toEqual(['blackhole', 'reset']);
    for (const o of p.outages) {
      expect(o.durationMs).toBeGreaterThanOrEqual(10_000);
      expect(o.durationMs).toBeLessThanOrEqual(30_000);
    }
  });

  it('scales outages down for a smoke run without touching the rest of the profile', () => {
    const p = profile('courier-flaky', { outageScale: 0.1 });
    expect(p.outages).toEqual([
      { atMs: 1500, durationMs: 1400, kind: 'blackhole' },
      { atMs: 4000, durationMs: 1200, kind: 'reset' },
    ]);
    expect(p.downKbit).toBe(780);
    expect(profile('courier-flaky').outages[0]!.durationMs).toBe(14_000); // the original is not mutated
    expect(() => scaleOutages(p, 0)).toThrow(/positive/);
  });

  it('rejects an unknown name with the list of valid ones', () => {
    expect(() => profile('5g')).toThrow(/lan, 3g-slow/);
  });

  it('rejects profiles that cannot be realised', () => {
    const base = profile('3g-average');
    const bad: NetworkProfile[] = [
      { ...base, jitterMs: 150 }, // would need negative delay
      { ...base, lossPct: 5, burstiness: { kind: 'bursty', badLossPct: 20, meanBadMs: 400, meanGoodMs: 4600 } },
      {
        ...base,
        outages: [
          { atMs: 0, durationMs: 10_000, kind: 'blackhole' },
          { atMs: 5_000, durationMs: 1_000, kind: 'reset' },
        ],
      },
      { ...base, downKbit: 0 },
    ];
    for (const p of bad) expect(NetworkProfileSchema.safeParse(p).success).toBe(false);
  });
});

describe('netem mapping (for hosts whose kernel has netem)', () => {
  it('maps lan to nothing at all', () => {
    expect(toNetemArgs(profile('lan'), 'down')).toEqual([]);
    expect(toNetemCommands(profile('lan'), { downDev: 'a', upDev: 'b' })).toEqual([]);
  });

  it('maps edge-lossy per direction: its own delay, random loss and rate', () => {
    const p = profile('edge-lossy');
    expect(toNetemArgs(p, 'down')).toEqual(['delay', '400ms', 'loss', 'random', '1%', 'rate', '240kbit']);
    expect(toNetemArgs(p, 'up')).toEqual(['delay', '440ms', 'loss', 'random', '1%', 'rate', '200kbit']);
  });

  it('maps jitter to a normal distribution and bursty loss to a Gilbert-Elliott model with the same average', () => {
    const args = toNetemArgs(profile('courier-flaky'), 'down');
    expect(args.slice(0, 5)).toEqual(['delay', '100ms', '50ms', 'distribution', 'normal']);
    const ge = args.indexOf('gemodel');
    expect(args[ge - 1]).toBe('loss');
    const [p, r, oneMinusH, oneMinusK] = args.slice(ge + 1, ge + 5).map((s) => parseFloat(s) / 100);
    // Steady state of the two-state chain: share of packets in the bad state × its loss.
    const avg = (p! / (p! + r!)) * oneMinusH! + (r! / (p! + r!)) * oneMinusK!;
    expect(avg * 100).toBeCloseTo(1.6, 2);
    // 400 ms at 780 kbit/s in 1500-byte packets = 26 packets per bad spell.
    expect(1 / r!).toBeCloseTo(26, 0);
    expect(args.slice(-2)).toEqual(['rate', '780kbit']);
  });

  it('builds full tc command lines for both interfaces', () => {
    expect(toNetemCommands(profile('3g-slow'), { downDev: 'to-cli', upDev: 'to-srv' })).toEqual([
      ['tc', 'qdisc', 'replace', 'dev', 'to-cli', 'root', 'netem', 'delay', '200ms', 'rate', '400kbit'],
      ['tc', 'qdisc', 'replace', 'dev', 'to-srv', 'root', 'netem', 'delay', '200ms', 'rate', '400kbit'],
    ]);
  });
});
