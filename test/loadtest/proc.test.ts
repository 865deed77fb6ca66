import { describe, expect, it } from 'vitest';
import { parseProcStat, parseProcStatus, readProc } from '../../loadtest/driver/proc.ts';

// A real line, with a command name that contains a space and a parenthesis.
const STAT =
  '4242 (node (tsx) x) S 1 4242 4242 0 -1 4194560 12345 0 0 0 250 75 0 0 20 0 11 0 123456 1234567168 23456 18446744073709551615 1 1 0 0 0 0 0 16781312 134235650 0 0 0 17 1 0 0 0 0 0';

describe('/proc parsing', () => {
  it('reads utime + stime from /proc/<pid>/stat, counting fields after the last ")"', () => {
    const s = parseProcStat(STAT, 100);
    expect(s.userUs).toBe(2_500_000);
    expect(s.systemUs).toBe(750_000);
    expect(s.cpuUs).toBe(3_250_000);
    expect(s.threads).toBe(11);
  });

  it('reads VmRSS and VmHWM in bytes from /proc/<pid>/status', () => {
    const text = 'Name:\tnode\nVmPeak:\t  999 kB\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\nThreads:\t11\n';
    expect(parseProcStatus(text)).toEqual({ rssBytes: 1024 * 1024, hwmBytes: 2048 * 1024 });
  });

  it('refuses text that is not what it claims to be', () => {
    expect(() => parseProcStat('garbage', 100)).toThrow(/stat/);
    expect(() => parseProcStatus('Name: kthreadd\n')).toThrow(/VmRSS/);
  });

  it('reads this very process', () => {
    const p = readProc(process.pid);
    expect(p.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(p.cpuUs).toBeGreaterThan(0);
  });
});
