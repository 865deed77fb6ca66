/**
 * Reconnect-storm figures (issue 5: "reconnect storm of 5,000 clients: all
 * resumed and caught up within 10 s"): for one moment when many clients lost
 * their sockets together, how many came back, how many resumed their session
 * with a ticket, and how long until the LAST had resumed and the LAST had caught
 * up. Pure: it reads the receivers' reconnect logs (accounting.ts).
 */
import type { ReconnectRecord } from './accounting.ts';

/** Issue 5's goal: every client resumed and caught up within this long after the storm. */
export const STORM_GOAL_MS = 10_000;

/** A storm as the runner marks it: when (epoch ms and ms after the first send) and which receivers it hit. */
export interface StormMark {
  readonly name: string;
  readonly atEpochMs: number;
  readonly atMs: number;
  readonly receivers: readonly number[];
}

export interface StormFigures {
  readonly name: string;
  /** When the sockets dropped, ms after the first scheduled send. */
  readonly atMs: number;
  /** Clients whose socket was dropped. */
  readonly clients: number;
  /** Of those, how many connected again. */
  readonly resumed: number;
  /** …and how many of them resumed their session with a resumption ticket (sealrelay; peers have none). */
  readonly resumedWithTicket: number;
  /** …and how many had everything their publishers had sent by their reconnect. */
  readonly caughtUp: number;
  /** From the storm until the last client had reconnected (null when some never did). */
  readonly allResumedMs: number | null;
  /** From the storm until the last client had caught up (null when some never did). */
  readonly allCaughtUpMs: number | null;
  /** Longest catch-up of one client, from its reconnect. */
  readonly maxCatchUpMs: number;
  readonly goalMs: number;
  /** Every client resumed and caught up within goalMs. */
  readonly met: boolean;
  /**
   * CPU the driver and the server spent from the storm until the last client caught
   * up (or the run ended), ms. A driver near 1 ms per ms of the window was the
   * bottleneck of its own storm: the relay may recover faster than the figure says.
   */
  readonly driverCpuMs?: number;
  readonly serverCpuMs?: number;
}

/**
 * Cumulative CPU of the driver and the server sampled over time, so the CPU of any
 * window (a storm's recovery) can be read afterwards. Pure: the caller samples.
 */
export class CpuTimeline {
  private readonly at: number[] = [];
  private readonly driver: number[] = [];
  private readonly server: number[] = [];

  /** Cumulative CPU µs of each at `atMs` (non-decreasing times). */
  sample(atMs: number, driverUs: number, serverUs: number): void {
    this.at.push(atMs);
    this.driver.push(driverUs);
    this.server.push(serverUs);
  }

  /** CPU ms each spent between two times (the end clamped to the last sample), interpolated between samples; undefined before the first sample. */
  between(fromMs: number, toMs: number): { driverMs: number; serverMs: number } | undefined {
    if (this.at.length < 2 || fromMs < this.at[0]!) return undefined;
    toMs = Math.min(toMs, this.at[this.at.length - 1]!);
    const at = (xs: number[], t: number) => {
      let i = 1;
      while (i < this.at.length - 1 && this.at[i]! < t) i++;
      const t0 = this.at[i - 1]!;
      const t1 = this.at[i]!;
      const f = t1 > t0 ? (t - t0) / (t1 - t0) : 1;
      return xs[i - 1]! + f * (xs[i]! - xs[i - 1]!);
    };
    return { driverMs: Math.round((at(this.driver, toMs) - at(this.driver, fromMs)) / 1000), serverMs: Math.round((at(this.server, toMs) - at(this.server, fromMs)) / 1000) };
  }
}

export function stormFigures(mark: StormMark, logs: ReadonlyArray<readonly ReconnectRecord[]>, goalMs = STORM_GOAL_MS, cpu?: CpuTimeline, endMs?: number): StormFigures {
  let resumed = 0;
  let withTicket = 0;
  let caughtUp = 0;
  let lastResumed = 0;
  let lastCaughtUp = 0;
  let maxCatchUp = 0;
  for (const r of mark.receivers) {
    const after = (logs[r] ?? []).filter((x) => x.at >= mark.atEpochMs);
    const first = after[0];
    if (!first) continue;
    resumed++;
    if (first.resumed) withTicket++;
    lastResumed = Math.max(lastResumed, first.at - mark.atEpochMs);
    // A catch-up cut short by another drop is superseded by the next reconnect's.
    const done = after.find((x) => x.caughtUpAt !== undefined);
    if (!done) continue;
    caughtUp++;
    lastCaughtUp = Math.max(lastCaughtUp, done.caughtUpAt! - mark.atEpochMs);
    maxCatchUp = Math.max(maxCatchUp, done.caughtUpAt! - done.at);
  }
  const clients = mark.receivers.length;
  const allResumedMs = resumed === clients ? Math.round(lastResumed) : null;
  const allCaughtUpMs = caughtUp === clients ? Math.round(lastCaughtUp) : null;
  const window = cpu?.between(mark.atEpochMs, allCaughtUpMs !== null ? mark.atEpochMs + allCaughtUpMs : (endMs ?? mark.atEpochMs));
  return {
    name: mark.name,
    atMs: Math.round(mark.atMs),
    clients,
    resumed,
    resumedWithTicket: withTicket,
    caughtUp,
    allResumedMs,
    allCaughtUpMs,
    maxCatchUpMs: Math.round(maxCatchUp),
    goalMs,
    met: allCaughtUpMs !== null && allResumedMs !== null && allCaughtUpMs <= goalMs,
    ...(window ? { driverCpuMs: window.driverMs, serverCpuMs: window.serverMs } : {}),
  };
}

/** Why a run with this storm cannot vouch for its delivery figures, or undefined. */
export function stormInvalidReason(s: StormFigures): string | undefined {
  if (s.resumed < s.clients) return `storm "${s.name}": ${s.clients - s.resumed} of ${s.clients} clients never reconnected`;
  if (s.caughtUp < s.clients) return `storm "${s.name}": ${s.clients - s.caughtUp} of ${s.clients} clients never caught up`;
  return undefined;
}

/**
 * When the run's worst scheduler lag fell inside this storm's recovery (from the
 * storm until the last client caught up), a note saying so: the driver was busy
 * reconnecting the storm's clients on its own core. The run stays invalid (sends
 * left late, and their latency counts that); the note says why.
 */
export function stormLagNote(s: StormFigures, maxLagAtMs: number): string | undefined {
  const end = s.atMs + (s.allCaughtUpMs ?? Infinity);
  if (maxLagAtMs < s.atMs || maxLagAtMs > end) return undefined;
  const cpu = s.driverCpuMs !== undefined ? `, ${s.driverCpuMs} ms of driver CPU` : '';
  return `the worst lag fell ${Math.round(maxLagAtMs - s.atMs)} ms into storm "${s.name}" while the driver reconnected ${s.clients} clients${cpu}`;
}
