/**
 * The open-file limit: every client socket is a file descriptor in the driver,
 * and another in the server it talks to (servers started here inherit this
 * process's limit). 5,000 receivers and their publishers need ~7,000 of each;
 * the usual soft limit is 1,024. Node cannot call setrlimit, so the soft limit is
 * raised (up to the hard limit, which needs no privilege) with util-linux
 * `prlimit --pid` on this process before any server is spawned.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface OpenFiles {
  readonly soft: number;
  readonly hard: number;
}

/** `Max open files` of /proc/<pid>/limits; Infinity for "unlimited". */
export function parseOpenFiles(limits: string): OpenFiles | undefined {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (!m) return undefined;
  const n = (s: string) => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: n(m[1]!), hard: n(m[2]!) };
}

export function openFiles(pid: number | 'self' = 'self'): OpenFiles | undefined {
  try {
    return parseOpenFiles(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Make sure this process may hold `needed` descriptors: nothing to do, raised
 * (`raisedTo`), or not possible (`reason` says what to run).
 */
export function ensureOpenFiles(needed: number): { ok: true; raisedTo?: number } | { ok: false; reason: string } {
  const now = openFiles();
  if (!now) return { ok: true }; // no /proc: not Linux; the OS error will say it if it comes to that
  if (now.soft >= needed) return { ok: true };
  const fix = `run \`ulimit -n ${needed}\` first (as root if the hard limit is lower), or lower --orders`;
  if (now.hard < needed) return { ok: false, reason: `${needed} open files needed, the hard limit is ${now.hard}: ${fix}` };
  const target = Number.isFinite(now.hard) ? now.hard : needed;
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}:${Number.isFinite(now.hard) ? now.hard : 'unlimited'}`], { stdio: 'ignore' });
  const after = openFiles();
  if (r.status === 0 && after && after.soft >= needed) return { ok: true, raisedTo: after.soft };
  return { ok: false, reason: `${needed} open files needed, the soft limit is ${now.soft} and prlimit could not raise it: ${fix}` };
}
