/**
 * Scheduler lag: how late the driver actually sent compared with the schedule.
 * Latency is measured from the intended time, so a late send still counts its
 * lateness against the system (no coordinated omission); but if the driver
 * itself falls behind, the offered rate was not the rate we claim, and the run
 * says so by marking itself invalid.
 *
 * The rule (documented in loadtest/README.md):
 *   - a send is LATE when it left more than LATE_SEND_MS after its intended time;
 *   - the run is INVALID when any send left more than MAX_LAG_MS late, or when more
 *     than MAX_LATE_FRACTION of all sends were late.
 * 50 ms is far above the timer's normal ~1 ms jitter and GC pauses of a healthy
 * driver, and far below anything that would change the offered rate over a second.
 */

export const LATE_SEND_MS = 10;
export const MAX_LAG_MS = 50;
export const MAX_LATE_FRACTION = 0.01;

export interface LagSummary {
  readonly sends: number;
  readonly late: number;
  readonly maxLagMs: number;
  /** Intended time of the send that left latest (same clock as record()'s). */
  readonly maxLagAtMs: number;
  readonly meanLagMs: number;
  readonly valid: boolean;
  /** Why the run is invalid, or undefined when it is valid. */
  readonly reason: string | undefined;
}

export class LagMonitor {
  private sends = 0;
  private late = 0;
  private maxLag = 0;
  private maxLagAt = 0;
  private sumLag = 0;

  constructor(
    private readonly lateMs = LATE_SEND_MS,
    private readonly maxLagMs = MAX_LAG_MS,
    private readonly maxLateFraction = MAX_LATE_FRACTION,
  ) {}

  /** Record one send: intended and actual time, ms on the same clock. */
  record(intendedMs: number, actualMs: number): void {
    const lag = Math.max(0, actualMs - intendedMs);
    this.sends++;
    this.sumLag += lag;
    if (lag > this.lateMs) this.late++;
    if (lag > this.maxLag) {
      this.maxLag = lag;
      this.maxLagAt = intendedMs;
    }
  }

  summary(): LagSummary {
    const lateFraction = this.sends === 0 ? 0 : this.late / this.sends;
    let reason: string | undefined;
    if (this.maxLag > this.maxLagMs) reason = `scheduler lagged ${this.maxLag.toFixed(1)} ms behind (limit ${this.maxLagMs} ms)`;
    else if (lateFraction > this.maxLateFraction)
      reason = `${(lateFraction * 100).toFixed(2)}% of sends were more than ${this.lateMs} ms late (limit ${this.maxLateFraction * 100}%)`;
    return {
      sends: this.sends,
      late: this.late,
      maxLagMs: round3(this.maxLag),
      maxLagAtMs: round3(this.maxLagAt),
      meanLagMs: round3(this.sends === 0 ? 0 : this.sumLag / this.sends),
      valid: reason === undefined,
      reason,
    };
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
