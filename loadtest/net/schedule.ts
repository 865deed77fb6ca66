/**
 * When impairments switch on and off, as pure data: bursty-loss spells and
 * outages become one time-ordered list of events that netns.ts plays with timers.
 */
import type { Burstiness, NetworkProfile, OutageKind } from './profiles.ts';

export type ImpairmentEvent =
  | { atMs: number; type: 'loss'; pct: number }
  | { atMs: number; type: 'outage'; kind: OutageKind; on: boolean };

/** Exponentially distributed duration with the given mean; random() in [0, 1). */
function exp(meanMs: number, random: () => number): number {
  return -meanMs * Math.log(1 - random());
}

/**
 * Good/bad spells of a bursty loss model up to horizonMs, starting in a good
 * spell. Uniform loss needs no events (the base rule carries it).
 */
export function lossSpells(b: Burstiness, horizonMs: number, random: () => number): ImpairmentEvent[] {
  if (b.kind !== 'bursty') return [];
  const events: ImpairmentEvent[] = [];
  let t = 0;
  let bad = false;
  while (true) {
    t += exp(bad ? b.meanBadMs : b.meanGoodMs, random);
    if (t >= horizonMs) break;
    bad = !bad;
    events.push({ atMs: Math.round(t), type: 'loss', pct: bad ? b.badLossPct : 0 });
  }
  return events;
}

/** Every event of a profile's run of horizonMs, in time order. Pure given random. */
export function impairmentEvents(p: NetworkProfile, horizonMs: number, random: () => number): ImpairmentEvent[] {
  const events = lossSpells(p.burstiness, horizonMs, random);
  for (const o of p.outages) {
    // An outage that starts inside the horizon always gets its end, so no run is
    // left with the link down.
    if (o.atMs >= horizonMs) continue;
    events.push({ atMs: o.atMs, type: 'outage', kind: o.kind, on: true });
    events.push({ atMs: o.atMs + o.durationMs, type: 'outage', kind: o.kind, on: false });
  }
  // Stable sort: at equal times an outage ending precedes the next starting.
  return events.sort((a, b) => a.atMs - b.atMs);
}
