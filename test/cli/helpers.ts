/**
 * Running `sealrelay` as a user would: a child process of `node bin/sealrelay.js`
 * in a scratch directory, with its own device state, no colour, and a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'sealrelay.js');

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Sandbox {
  readonly dir: string;
  /** Run `sealrelay ...args` in the sandbox; resolves when it exits. */
  run(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<Run>;
  /** Start `sealrelay ...args` and leave it running (for --follow). */
  start(args: string[], opts?: { env?: Record<string, string> }): Started;
  cleanup(): Promise<void>;
}

export interface Started {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<Run>;
}

export async function sandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'sealrelay-cli-'));
  const children = new Set<ChildProcess>();
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ ...process.env, SEALRELAY_STATE: join(dir, 'state'), NO_COLOR: '1', ...extra });
  const start = (args: string[], extra?: Record<string, string>): Started => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.on('close', () => children.delete(child));
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout: out, stderr: err })));
    return { child, stdout: () => out, stderr: () => err, exited };
  };
  return {
    dir,
    start: (args, opts = {}) => start(args, opts.env),
    async run(args, opts = {}) {
      const s = start(args, opts.env);
      const timer = setTimeout(() => s.child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
      const r = await s.exited;
      clearTimeout(timer);
      return r;
    },
    // A failed test can leave a --follow tail running: end what this sandbox started.
    cleanup: async () => {
      for (const c of children) c.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Parse `--json` output: one object per non-empty line. */
export function jsonLines(s: string): Record<string, unknown>[] {
  const lines = s.split('\n');
  lines.pop(); // '' after the last newline, or a line still being written
  return lines
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The `seq N` a `send` printed. */
export function seqOf(r: Run): number {
  const m = /seq (\d+)/.exec(r.stdout);
  if (!m || r.code !== 0) throw new Error(`send failed (exit ${r.code}): ${r.stderr || r.stdout}`);
  return Number(m[1]);
}

export async function until(done: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
