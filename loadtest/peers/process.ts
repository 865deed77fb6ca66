/**
 * Starting servers under test as child processes, so /proc figures are theirs
 * alone: free ports, optional CPU pinning with taskset (which execs, so the pid we
 * sample IS the server), waiting until the port accepts, and stopping by pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/** The repo root: children run tsx with our node_modules. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Where servers run. On `lan` everything is on this host's loopback. Under an
 * impaired profile the CLI re-runs the driver inside the client namespace and
 * sets LT_SERVER_NS / LT_SERVER_HOST: servers are then started in the server
 * namespace (`ip netns exec` execs, so the pid is still the server's) and bound to
 * its address, and every client connects across the shaped path.
 */
export function serverHost(): string {
  return process.env.LT_SERVER_HOST ?? '127.0.0.1';
}
export function serverNetns(): string | undefined {
  return process.env.LT_SERVER_NS || undefined;
}

export const SERVER_CORE = 0;
export const DRIVER_CORE = 1;

export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Whether the server can have core 0 and the driver core 1 (two cores and taskset). */
export function canPin(): boolean {
  return os.cpus().length >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
}

/** Pin this process (all its threads) to the driver core. Returns whether it worked. */
export function pinSelfToDriverCore(): boolean {
  if (!canPin()) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', String(DRIVER_CORE), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

export function hasBinary(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Last lines of the child's output, for error messages. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnServerOptions {
  readonly cmd: string;
  readonly args: readonly string[];
  /** TCP port that accepts once the server is ready. */
  readonly port: number;
  readonly host?: string;
  readonly pin?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly readyTimeoutMs?: number;
}

export async function spawnServer(o: SpawnServerOptions): Promise<ServerProcess> {
  const pinned = o.pin && canPin() ? ['taskset', '-c', String(SERVER_CORE)] : [];
  const ns = serverNetns();
  const argv = [...(ns ? ['ip', 'netns', 'exec', ns] : []), ...pinned, o.cmd, ...o.args];
  const [cmd, ...args] = argv as [string, ...string[]];
  const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (b: Buffer) => (tail = (tail + b.toString()).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, sig) => reject(new Error(`${o.cmd} exited (${code ?? sig}) before it was ready:\n${tail}`))),
  );
  exited.catch(() => undefined);
  const deadline = Date.now() + (o.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (await Promise.race([portOpen(o.host ?? serverHost(), o.port), exited])) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${o.cmd} did not accept on port ${o.port} within ${o.readyTimeoutMs ?? 15_000} ms:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    pid: child.pid!,
    output: () => tail,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await once(child, 'exit');
      clearTimeout(timer);
    },
  };
}

/** Run a TypeScript entry under tsx in a plain node process (not the tsx wrapper), so the pid is the server. */
export function tsxArgs(entry: string, args: readonly string[] = []): { cmd: string; args: string[] } {
  return { cmd: process.execPath, args: ['--import', 'tsx', entry, ...args] };
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
