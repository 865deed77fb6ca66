/**
 * Server-side figures from /proc, so a peer written in C (Mosquitto, NATS) and our
 * Node relay are measured the same way: CPU time from /proc/<pid>/stat (utime +
 * stime, in clock ticks) and memory from /proc/<pid>/status (VmRSS, VmHWM).
 * Parsing is pure; reading is a thin shell.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcStat {
  /** User + system CPU time, µs. */
  readonly cpuUs: number;
  readonly userUs: number;
  readonly systemUs: number;
  readonly threads: number;
}

export interface ProcStatus {
  readonly rssBytes: number;
  /** Peak RSS the kernel has seen for this process. */
  readonly hwmBytes: number;
}

/**
 * Parse /proc/<pid>/stat. The command name (field 2) is in parentheses and may
 * itself hold spaces and parentheses, so fields are counted after the LAST ')'.
 */
export function parseProcStat(text: string, clockTicksPerSec: number): ProcStat {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat line: no ")"');
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state); utime is field 14, stime 15, num_threads 20.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const threads = Number(rest[17]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('not a /proc/<pid>/stat line: bad utime/stime');
  const us = 1_000_000 / clockTicksPerSec;
  return { cpuUs: (utime + stime) * us, userUs: utime * us, systemUs: stime * us, threads };
}

/** Parse VmRSS and VmHWM (kB) out of /proc/<pid>/status. */
export function parseProcStatus(text: string): ProcStatus {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    if (!m) throw new Error(`no ${key} in /proc/<pid>/status (a kernel thread or a zombie?)`);
    return Number(m[1]) * 1024;
  };
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

let ticks: number | undefined;
/** USER_HZ; 100 on every mainstream Linux, asked once. */
export function clockTicksPerSec(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

export function readProc(pid: number): ProcStat & ProcStatus {
  const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'), clockTicksPerSec());
  return { ...stat, ...parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8')) };
}

export interface ProcUsage {
  readonly pid: number;
  readonly cpuUs: number;
  readonly rssBytes: number;
  readonly peakRssBytes: number;
  /** CPU used ÷ wall time: 1.0 is one core fully busy (saturated). */
  readonly cpuCores: number;
}

/**
 * CPU between start() and stop(), RSS sampled every `everyMs` so the peak during
 * the run is seen (VmHWM would include start-up spikes before the measurement).
 */
export class ProcSampler {
  private start: (ProcStat & ProcStatus) | undefined;
  private startWall = 0;
  private peak = 0;
  private last: (ProcStat & ProcStatus) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly pid: number,
    private readonly everyMs = 250,
  ) {}

  begin(): void {
    this.start = readProc(this.pid);
    this.last = this.start;
    this.peak = this.start.rssBytes;
    this.startWall = performance.now();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  private sample(): void {
    try {
      this.last = readProc(this.pid);
      this.peak = Math.max(this.peak, this.last.rssBytes);
    } catch {
      // The process died (a relay-restart scenario kills it): keep the last sample.
    }
  }

  end(): ProcUsage {
    if (!this.start) throw new Error('ProcSampler.end() before begin()');
    clearInterval(this.timer);
    this.sample();
    const last = this.last ?? this.start;
    const wallUs = (performance.now() - this.startWall) * 1000;
    const cpuUs = last.cpuUs - this.start.cpuUs;
    return { pid: this.pid, cpuUs, rssBytes: last.rssBytes, peakRssBytes: this.peak, cpuCores: wallUs > 0 ? cpuUs / wallUs : 0 };
  }
}

/** The driver's own CPU (this process), from process.cpuUsage, between begin and end. */
export class SelfCpu {
  private start = process.cpuUsage();
  private wall = performance.now();
  begin(): void {
    this.start = process.cpuUsage();
    this.wall = performance.now();
  }
  end(): { cpuUs: number; cpuCores: number } {
    const d = process.cpuUsage(this.start);
    const cpuUs = d.user + d.system;
    const wallUs = (performance.now() - this.wall) * 1000;
    return { cpuUs, cpuCores: wallUs > 0 ? cpuUs / wallUs : 0 };
  }
}
