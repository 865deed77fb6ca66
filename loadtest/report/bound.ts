/**
 * Issue 5's latency bound on an impaired profile: p99 within 2 × one-way delay +
 * transfer time + 1 s. "2 × one-way delay" is the publisher's uplink delay plus the
 * receiver's downlink delay (edge-lossy's differ); transfer time is the largest
 * message of the run through the uplink and then the downlink at the profile's
 * rates. Profiles with outages are judged by catch-up time instead (DESIGN §5):
 * their p99 includes the outage by construction.
 */
import { isProfileName, profile as networkProfile } from '../net/profiles.ts';
import type { RunReport } from '../driver/report.ts';

export interface BoundVerdict {
  readonly profile: string;
  /** The bound in ms; undefined where it does not apply (lan, outages). */
  readonly boundMs?: number;
  readonly p99Ms: number;
  /** true / false against the bound; undefined where it does not apply. */
  readonly met?: boolean;
  readonly note: string;
}

export function latencyBound(r: RunReport): BoundVerdict {
  const p99Ms = r.latencyMs.p99;
  if (!isProfileName(r.profile) || r.profile === 'lan') return { profile: r.profile, p99Ms, note: 'no bound on lan (issue 3 compares it with bare uWS)' };
  const p = networkProfile(r.profile);
  if (p.outages.length > 0) return { profile: r.profile, p99Ms, note: `outages: judged by catch-up, ${r.maxCatchUpMs} ms at most (${r.reconnects} reconnects)` };
  const bytes = Math.max(r.payloadBytes, ...(r.mix?.classes.map((c) => c.bytes) ?? []));
  const transfer = (kbit: number | null) => (kbit ? (bytes * 8) / kbit : 0); // bits / (kbit/s) = ms
  const boundMs = Math.round(p.upDelayMs + p.delayMs + transfer(p.upKbit) + transfer(p.downKbit) + 1000);
  const met = p99Ms <= boundMs;
  return { profile: r.profile, boundMs, p99Ms, met, note: `p99 ${p99Ms} ms ${met ? '≤' : '>'} bound ${boundMs} ms (${p.upDelayMs}+${p.delayMs} ms delay, ${bytes} B through ${p.upKbit ?? '∞'}/${p.downKbit ?? '∞'} kbit/s, +1 s)` };
}
