/**
 * The named scenarios of issue 5, as data for the runner: a rate shape and timed
 * events. Each says what it does to the system and what the report must show.
 */
import type { RunEvent, RunOptions } from './driver/run.ts';
import type { PeerTarget } from './driver/target.ts';
import { SealRelayTarget } from './targets/sealrelay.ts';

export const SCENARIOS = ['steady', 'peak', 'reconnect-storm', 'relay-restart', 'failover', 'slow-consumer'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export class ScenarioUnsupported extends Error {}

export interface ScenarioPlan {
  readonly arrival: RunOptions['arrival'];
  readonly shape?: RunOptions['shape'];
  readonly events: RunEvent[];
  /** Extra drain time for scenarios whose clients must reconnect and catch up. */
  readonly drainMs: number;
}

/** Peak: the middle third of the run at PEAK_MULTIPLIER × the steady rate (11.11 at 20:00). */
export const PEAK_MULTIPLIER = 4;
/** How long a slow consumer stops reading. */
export const SLOW_CONSUMER_STALL_MS = 5000;

export function planScenario(name: ScenarioName, target: PeerTarget, durationMs: number): ScenarioPlan {
  const third = Math.round(durationMs / 3);
  switch (name) {
    case 'steady':
      // Couriers post on their own clocks: Poisson arrivals, not a metronome.
      return { arrival: 'poisson', events: [], drainMs: 5000 };
    case 'peak':
      return { arrival: 'poisson', shape: (t) => (t >= third && t < 2 * third ? PEAK_MULTIPLIER : 1), events: [], drainMs: 10_000 };
    case 'reconnect-storm':
      return {
        arrival: 'poisson',
        drainMs: 20_000,
        events: [
          {
            atMs: third,
            name: 'every receiver drops its socket at once',
            run: (ctx) => {
              ctx.markStorm('every receiver drops its socket at once');
              for (const r of ctx.receivers) r.interrupt?.();
            },
          },
        ],
      };
    case 'relay-restart': {
      if (!(target instanceof SealRelayTarget)) throw new ScenarioUnsupported('relay-restart needs --target sealrelay (it kills -9 our relay)');
      return {
        arrival: 'poisson',
        drainMs: 30_000,
        events: [{ atMs: third, name: 'kill -9 the relay and start it again', run: async () => void (await target.restartRelay('SIGKILL')) }],
      };
    }
    case 'slow-consumer':
      return {
        arrival: 'poisson',
        drainMs: SLOW_CONSUMER_STALL_MS + 10_000,
        events: [
          {
            atMs: third,
            name: `one receiver per order stops reading for ${SLOW_CONSUMER_STALL_MS} ms`,
            run: (ctx) => {
              ctx.receivers.forEach((r, i) => i % 3 === 0 && r.stall?.(SLOW_CONSUMER_STALL_MS));
            },
          },
        ],
      };
    case 'failover': {
      if (!(target instanceof SealRelayTarget) || target.nodeCount < 2) throw new ScenarioUnsupported('failover needs --target sealrelay --store redis --nodes 2');
      return {
        arrival: 'poisson',
        drainMs: 30_000,
        events: [{ atMs: third, name: 'kill -9 relay node 0; its clients move to node 1', run: () => target.killNode(0, 'SIGKILL') }],
      };
    }
  }
}
