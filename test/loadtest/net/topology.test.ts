import { describe, expect, it } from 'vitest';
import { profile } from '../../../loadtest/net/profiles.ts';
import { impairmentEvents, lossSpells } from '../../../loadtest/net/schedule.ts';
import {
  blackholeCommand,
  nftRuleset,
  resetOutageScript,
  setLossScript,
  setupCommands,
  shapeCommands,
  teardownCommands,
  topology,
} from '../../../loadtest/net/topology.ts';

/** Deterministic random in [0, 1) (mulberry32) so schedules are reproducible. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('namespace topology commands', () => {
  const t = topology('ab12');

  it('names every namespace sr-<runId>-… and refuses ids that could escape that', () => {
    expect([t.serverNs, t.shaperNs, t.clientNs]).toEqual(['sr-ab12-srv', 'sr-ab12-mid', 'sr-ab12-cli']);
    expect(() => topology('../x')).toThrow();
    expect(() => topology('toolongid9')).toThrow();
  });

  it('only ever touches its own namespaces: every ip command names one of them', () => {
    const own = new Set([t.serverNs, t.shaperNs, t.clientNs]);
    for (const cmd of [...setupCommands(t), ...shapeCommands(t, profile('2g-rural')), ...teardownCommands(t), blackholeCommand(t, true)]) {
      const named = cmd.filter((a) => own.has(a));
      expect(named.length, cmd.join(' ')).toBeGreaterThan(0);
      // `link add` without -n/netns would create the veth in the host namespace.
      if (cmd.includes('link') && cmd.includes('add')) expect(cmd.slice(0, 3)).toEqual(['ip', '-n', t.shaperNs]);
    }
  });

  it('shapes each direction on the shaper interface that sends that way, and lan not at all', () => {
    const cmds = shapeCommands(t, profile('3g-average')).map((c) => c.join(' '));
    expect(cmds).toEqual([
      'ip netns exec sr-ab12-mid tc qdisc replace dev sr-m-cli root tbf rate 780kbit burst 1600 limit 97500',
      'ip netns exec sr-ab12-mid tc qdisc replace dev sr-m-srv root tbf rate 330kbit burst 1600 limit 41250',
    ]);
    expect(shapeCommands(t, profile('lan'))).toEqual([]);
  });

  it('writes loss as numgen drops in 1/10,000 steps, per direction, into named counters', () => {
    const rules = nftRuleset(t, profile('2g-rural'));
    expect(rules).toContain('numgen random mod 10000 < 200 counter name "drop_down" drop');
    expect(rules).toContain('numgen random mod 10000 < 200 counter name "drop_up" drop');
    expect(rules).toContain('iifname "sr-m-srv" jump loss_down');
    // bursty profiles start in a good spell: no loss rule until the schedule says so
    expect(nftRuleset(t, profile('courier-flaky'))).not.toContain('numgen');
    expect(setLossScript('up', 1.6)).toBe(
      'flush chain inet sr_impair loss_up\nadd rule inet sr_impair loss_up numgen random mod 10000 < 160 counter name "drop_up" drop\n',
    );
    expect(setLossScript('down', 0)).toBe('flush chain inet sr_impair loss_down\n');
  });

  it('a reset outage rejects TCP with RST and drops the rest; ending it empties the chain', () => {
    expect(resetOutageScript(true)).toContain('meta l4proto tcp counter name "reset_rst" reject with tcp reset');
    expect(resetOutageScript(false)).toBe('flush chain inet sr_impair outage\n');
  });
});

describe('impairment schedule', () => {
  it('turns outages into on/off events at their times', () => {
    const ev = impairmentEvents(profile('courier-flaky', { outageScale: 0.1 }), 3000, seeded(1)).filter((e) => e.type === 'outage');
    expect(ev).toEqual([
      { atMs: 1500, type: 'outage', kind: 'blackhole', on: true },
      { atMs: 2900, type: 'outage', kind: 'blackhole', on: false },
    ]);
  });

  it('bursty loss spends about meanBad/(meanBad+meanGood) of the time in bad spells, alternating', () => {
    const b = profile('courier-flaky').burstiness;
    const horizon = 2_000_000;
    const spells = lossSpells(b, horizon, seeded(42));
    let badMs = 0;
    for (let i = 0; i < spells.length; i++) {
      const e = spells[i]!;
      if (e.type !== 'loss') throw new Error('only loss events expected');
      expect(e.pct).toBe(i % 2 === 0 ? 20 : 0);
      if (e.pct > 0) badMs += (spells[i + 1]?.atMs ?? horizon) - e.atMs;
    }
    expect(badMs / horizon).toBeGreaterThan(0.065);
    expect(badMs / horizon).toBeLessThan(0.095); // 400 / 5000 = 0.08
  });

  it('uniform loss needs no events', () => {
    expect(impairmentEvents(profile('edge-lossy'), 60_000, seeded(3))).toEqual([]);
  });
});
