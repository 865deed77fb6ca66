/**
 * Network profiles of DESIGN §5 as typed, validated data, plus a pure mapping to
 * `tc netem` arguments for hosts whose kernel has netem (this one does not; see
 * README.md for how each profile is realised here instead).
 *
 * Rates are kbit/s (1 kbit = 1000 bit, as `tc` reads "kbit"); delays are ONE-WAY
 * milliseconds, so a profile's round trip is delayMs + upDelayMs.
 *
 * @example
 *   const p = profile('courier-flaky', { outageScale: 0.1 }); // 1.4 s blackhole for a smoke run
 *   toNetemArgs(p, 'down'); // ['delay', '100ms', '50ms', 'distribution', 'normal', ...]
 */
import { z } from 'zod';

const OutageSchema = z.object({
  /** Start, in ms after the impairment schedule starts (usually: the load starts). */
  atMs: z.number().int().nonnegative(),
  durationMs: z.number().int().positive(),
  /**
   * blackhole: every packet silently vanishes (tunnel, lift, dead cell); TCP only
   * notices through timeouts. reset: the path answers with TCP RST (a NAT or carrier
   * gateway dropped its state), so sockets fail fast and reconnects are refused
   * until the outage ends.
   */
  kind: z.enum(['blackhole', 'reset']),
});

/**
 * How loss is spread over time. 'uniform': every packet dropped independently with
 * lossPct. 'bursty': a two-state (Gilbert-Elliott style) model in TIME: the path
 * alternates between good periods (no loss) and bad periods (badLossPct), with
 * exponentially distributed lengths. The long-run average must equal lossPct:
 * badLossPct × meanBadMs / (meanBadMs + meanGoodMs).
 */
const BurstinessSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('uniform') }),
  z.object({
    kind: z.literal('bursty'),
    badLossPct: z.number().gt(0).max(100),
    meanBadMs: z.number().positive(),
    meanGoodMs: z.number().positive(),
  }),
]);

export const NetworkProfileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/),
    /** Where the numbers come from, so nobody has to guess later. */
    source: z.string().min(1),
    /** Server → client rate; null = not shaped. */
    downKbit: z.number().positive().nullable(),
    /** Client → server rate; null = not shaped. */
    upKbit: z.number().positive().nullable(),
    /** One-way delay server → client. */
    delayMs: z.number().nonnegative(),
    /** One-way delay client → server (differs only for edge-lossy, 400/440 ms). */
    upDelayMs: z.number().nonnegative(),
    /** ± jitter around each one-way delay. */
    jitterMs: z.number().nonnegative(),
    /** Long-run packet loss per direction, percent. */
    lossPct: z.number().min(0).max(100),
    burstiness: BurstinessSchema,
    outages: z.array(OutageSchema),
  })
  .superRefine((p, ctx) => {
    if (p.jitterMs > Math.min(p.delayMs, p.upDelayMs)) {
      ctx.addIssue({ code: 'custom', message: `${p.name}: jitter larger than the delay would need negative delays` });
    }
    if (p.burstiness.kind === 'bursty') {
      const b = p.burstiness;
      const avg = (b.badLossPct * b.meanBadMs) / (b.meanBadMs + b.meanGoodMs);
      if (Math.abs(avg - p.lossPct) > 0.05) {
        ctx.addIssue({ code: 'custom', message: `${p.name}: bursty model averages ${avg.toFixed(2)}% but lossPct is ${p.lossPct}%` });
      }
    }
    const sorted = [...p.outages].sort((a, b) => a.atMs - b.atMs);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      if (prev.atMs + prev.durationMs > sorted[i]!.atMs) {
        ctx.addIssue({ code: 'custom', message: `${p.name}: outages overlap at ${sorted[i]!.atMs} ms` });
      }
    }
  });

export type NetworkProfile = z.infer<typeof NetworkProfileSchema>;
export type Outage = NetworkProfile['outages'][number];
export type OutageKind = Outage['kind'];
export type Burstiness = NetworkProfile['burstiness'];
export type Direction = 'down' | 'up';

export const PROFILE_NAMES = ['lan', '3g-slow', '4g-slow', '3g-average', 'edge-lossy', '2g-rural', 'courier-flaky'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

const UNIFORM: Burstiness = { kind: 'uniform' };

const THREE_G_AVERAGE: NetworkProfile = {
  name: '3g-average',
  source: 'Facebook Augmented Traffic Control default profile "3G - Average": 780/330 kbit/s, 100 ms each way',
  downKbit: 780,
  upKbit: 330,
  delayMs: 100,
  upDelayMs: 100,
  jitterMs: 0,
  lossPct: 0,
  burstiness: UNIFORM,
  outages: [],
};

const PROFILES: Record<ProfileName, NetworkProfile> = {
  lan: {
    name: 'lan',
    source: 'baseline: no impairment',
    downKbit: null,
    upKbit: null,
    delayMs: 0,
    upDelayMs: 0,
    jitterMs: 0,
    lossPct: 0,
    burstiness: UNIFORM,
    outages: [],
  },
  '3g-slow': {
    name: '3g-slow',
    // DevTools gives 400 ms request latency (a round trip); split evenly per direction.
    source: 'Chrome DevTools "Slow 3G" (formerly "3G"): 400 kbit/s both ways, 400 ms RTT',
    downKbit: 400,
    upKbit: 400,
    delayMs: 200,
    upDelayMs: 200,
    jitterMs: 0,
    lossPct: 0,
    burstiness: UNIFORM,
    outages: [],
  },
  '4g-slow': {
    name: '4g-slow',
    source: 'Chrome DevTools "Slow 4G": 1.6 Mbit/s × 0.9 down, 750 kbit/s × 0.9 up, 150 ms RTT',
    downKbit: 1440,
    upKbit: 675,
    delayMs: 75,
    upDelayMs: 75,
    jitterMs: 0,
    lossPct: 0,
    burstiness: UNIFORM,
    outages: [],
  },
  '3g-average': THREE_G_AVERAGE,
  'edge-lossy': {
    name: 'edge-lossy',
    source: 'Facebook ATC "Edge - Lossy": down 240 kbit/s 400 ms 1%, up 200 kbit/s 440 ms 1%',
    downKbit: 240,
    upKbit: 200,
    delayMs: 400,
    upDelayMs: 440,
    jitterMs: 0,
    lossPct: 1,
    burstiness: UNIFORM,
    outages: [],
  },
  '2g-rural': {
    name: '2g-rural',
    source: 'Facebook ATC "2G - Developing Rural": down 20 kbit/s, up 18 kbit/s, 650 ms, 2% loss',
    downKbit: 20,
    upKbit: 18,
    delayMs: 650,
    upDelayMs: 650,
    jitterMs: 0,
    lossPct: 2,
    burstiness: UNIFORM,
    outages: [],
  },
  'courier-flaky': {
    ...THREE_G_AVERAGE,
    name: 'courier-flaky',
    source:
      'ours (DESIGN §5): 3g-average + ±50 ms jitter + bursty ~1.6% loss + outages of 10–30 s; ' +
      'the 14 s blackhole and 12 s reset are the ones behind the broker comparison in DESIGN §5',
    jitterMs: 50,
    lossPct: 1.6,
    // Bad spells of ~0.4 s at 20% loss every ~5 s: what a courier sees moving between
    // cells. 20 × 400 / 5000 = 1.6%.
    burstiness: { kind: 'bursty', badLossPct: 20, meanBadMs: 400, meanGoodMs: 4600 },
    outages: [
      { atMs: 15_000, durationMs: 14_000, kind: 'blackhole' },
      { atMs: 40_000, durationMs: 12_000, kind: 'reset' },
    ],
  },
};

export interface ProfileOptions {
  /**
   * Multiply outage start times and durations (e.g. 0.1 turns the 14 s blackhole
   * into 1.4 s) so a smoke run finishes quickly while keeping the shape.
   */
  outageScale?: number;
}

/**
 * A validated copy of a named profile. Throws on an unknown name (the message
 * lists the valid ones).
 */
export function profile(name: string, opts: ProfileOptions = {}): NetworkProfile {
  if (!isProfileName(name)) {
    throw new Error(`unknown network profile "${name}"; choose one of: ${PROFILE_NAMES.join(', ')}`);
  }
  const base = structuredClone(PROFILES[name]);
  const scaled = opts.outageScale === undefined ? base : scaleOutages(base, opts.outageScale);
  return NetworkProfileSchema.parse(scaled);
}

export function isProfileName(name: string): name is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(name);
}

/** All seven profiles, validated. */
export function allProfiles(): NetworkProfile[] {
  return PROFILE_NAMES.map((n) => profile(n));
}

/** Outage times × factor (rounded to whole ms, at least 1 ms long). Pure. */
export function scaleOutages(p: NetworkProfile, factor: number): NetworkProfile {
  if (!(factor > 0) || !Number.isFinite(factor)) throw new Error(`outageScale must be a positive number, got ${factor}`);
  return {
    ...p,
    outages: p.outages.map((o) => ({
      ...o,
      atMs: Math.round(o.atMs * factor),
      durationMs: Math.max(1, Math.round(o.durationMs * factor)),
    })),
  };
}

/** Round-trip delay without jitter, ms. */
export function rttMs(p: NetworkProfile): number {
  return p.delayMs + p.upDelayMs;
}

/**
 * Packet size assumed when a time-based burst model must be expressed per packet
 * (netem's gemodel counts packets): a full Ethernet MTU, the common case for bulk.
 */
export const NETEM_ASSUMED_PACKET_BYTES = 1500;

const pct = (x: number): string => `${Number(x.toFixed(4))}%`;

/**
 * Arguments after `tc qdisc replace dev <dev> root netem` for one direction, on a
 * host that has netem. Pure: no I/O. 'down' goes on the interface that sends
 * towards clients, 'up' on the one that sends towards the server.
 *
 * - delay ± jitter with a normal distribution (netem's default uniform spread is
 *   less like a radio link). Note netem reorders packets when jitter exceeds the
 *   packet gap; a real radio bearer rarely does, so README suggests a pfifo child.
 * - uniform loss → `loss random P%`; bursty → `loss gemodel p r 1-h 1-k`, with the
 *   time model converted to packets at the profile's rate and 1500-byte packets:
 *   r = 1 / packets-per-bad-spell, p chosen so the bad fraction matches, 1-h =
 *   badLossPct, 1-k = 0.
 * - rate → netem's own `rate` (kernel ≥ 3.3), so one qdisc carries everything.
 * - outages are not expressible in netem; they stay timers (link down / RST).
 */
export function toNetemArgs(p: NetworkProfile, dir: Direction): string[] {
  const delay = dir === 'down' ? p.delayMs : p.upDelayMs;
  const kbit = dir === 'down' ? p.downKbit : p.upKbit;
  const args: string[] = [];
  if (delay > 0 || p.jitterMs > 0) {
    args.push('delay', `${delay}ms`);
    if (p.jitterMs > 0) args.push(`${p.jitterMs}ms`, 'distribution', 'normal');
  }
  if (p.lossPct > 0) {
    if (p.burstiness.kind === 'bursty') {
      const b = p.burstiness;
      // Without a rate we cannot turn ms into packets; assume 10 Mbit/s in that case.
      const pktPerMs = ((kbit ?? 10_000) * 1000) / 8 / NETEM_ASSUMED_PACKET_BYTES / 1000;
      const badPackets = Math.max(1, b.meanBadMs * pktPerMs);
      const r = 1 / badPackets;
      const badFraction = b.meanBadMs / (b.meanBadMs + b.meanGoodMs);
      const pGoodToBad = (r * badFraction) / (1 - badFraction);
      args.push('loss', 'gemodel', pct(pGoodToBad * 100), pct(r * 100), pct(b.badLossPct), pct(0));
    } else {
      args.push('loss', 'random', pct(p.lossPct));
    }
  }
  if (kbit !== null) args.push('rate', `${kbit}kbit`);
  return args;
}

/**
 * Full argv lists (`tc ...`) applying a profile with netem on two interfaces:
 * downDev sends towards clients, upDev towards the server. Pure. A direction
 * with nothing to impair yields no command.
 */
export function toNetemCommands(p: NetworkProfile, devs: { downDev: string; upDev: string }): string[][] {
  const cmds: string[][] = [];
  for (const [dir, dev] of [['down', devs.downDev], ['up', devs.upDev]] as const) {
    const args = toNetemArgs(p, dir);
    // An unimpaired direction gets no qdisc at all rather than an empty netem.
    if (args.length > 0) cmds.push(['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'netem', ...args]);
  }
  return cmds;
}
