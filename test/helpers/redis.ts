/**
 * Real Redis for the test suites, never a mock.
 *
 * - `startRedis()` uses REDIS_URL when set, else starts `redis-server` from PATH on a
 *   free loopback port with a fresh temp dir. AOF is on with `appendfsync everysec` by
 *   default: Redis writes the AOF buffer to the file before it replies, so an
 *   acknowledged write survives a kill -9 of the *process* even with everysec (the
 *   page cache keeps it); `always` additionally survives a machine crash and is what
 *   the crash test asks for, to exercise the production setting.
 * - `startRedisCluster(3)` starts three masters with `cluster-enabled yes`, joins them
 *   with `redis-cli --cluster create … --cluster-yes` and waits for `cluster_state:ok`.
 * - Everything started is stopped by `stop()` and, as a last resort, when the test
 *   process exits, so a failing suite does not leak servers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Null when REDIS_URL points at a server we did not start. */
  readonly dir: string | null;
  /** SIGKILL the server (no chance to flush or shut down cleanly). */
  kill9(): Promise<void>;
  /** Start it again on the same port and dir (AOF replay). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisCluster {
  /** Seed node URLs. */
  readonly nodes: string[];
  stop(): Promise<void>;
}

export interface StartOptions {
  appendfsync?: 'always' | 'everysec';
  /** Ignore REDIS_URL: tests that kill and restart the server need their own. */
  own?: boolean;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

let warned = false;
/**
 * True when the Redis suites can run. Without Redis they are skipped with one loud
 * line, except on CI (`CI=true`), where a missing Redis must fail the run rather
 * than let it pass green with the durability tests unexercised.
 */
export function redisAvailable(opts: { ownServer?: boolean; cluster?: boolean } = {}): boolean {
  const needBinary = opts.ownServer || opts.cluster || !process.env.REDIS_URL;
  const ok = (!needBinary || onPath('redis-server')) && (!opts.cluster || onPath('redis-cli'));
  if (ok) return true;
  if (process.env.CI === 'true') {
    throw new Error('Redis suites cannot run on CI: install redis-server and redis-cli (apt-get install -y redis-server)');
  }
  if (!warned) console.warn('SKIP redis suites: apt-get install -y redis-server or set REDIS_URL');
  warned = true;
  return false;
}

/** A loopback port that is free now, and (for cluster nodes) whose bus port +10000 is free too. */
export async function freePort(withBus = false): Promise<number> {
  for (;;) {
    const port = withBus ? 20000 + Math.floor(Math.random() * 30000) : await ephemeral();
    if (await isFree(port) && (!withBus || (await isFree(port + 10000)))) return port;
  }
}

async function ephemeral(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Send one inline command over raw TCP; resolves with the reply text, rejects if unreachable. */
export function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error('timeout')); }, timeoutMs);
    s.on('connect', () => s.write(`${command}\r\n`));
    s.on('data', (d) => {
      data += d.toString();
      // A bulk reply ($<len>\r\n<body>\r\n) is complete when the body has arrived.
      const m = /^\$(\d+)\r\n/.exec(data);
      if (!m || data.length >= m[0].length + Number(m[1]) + 2) { clearTimeout(timer); s.end(); resolve(data); }
    });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function spawnServer(port: number, dir: string, extra: string[]): ChildProcess {
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'yes', '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning',
    ...extra,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

/**
 * @example const redis = await startRedis(); afterAll(() => redis.stop());
 */
export async function startRedis(opts: StartOptions = {}): Promise<RedisServer> {
  const url = process.env.REDIS_URL;
  if (url && !opts.own) {
    const noop = async () => undefined;
    const refuse = async () => { throw new Error('cannot kill a server given by REDIS_URL'); };
    return { url, port: Number(new URL(url).port || 6379), dir: null, kill9: refuse, restart: refuse, stop: noop };
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sealrelay-redis-'));
  const extra = ['--appendfsync', opts.appendfsync ?? 'everysec'];
  let child = spawnServer(port, dir, extra);
  const ready = () => waitFor(`redis-server on ${port}`, async () => (await rawCommand(port, 'PING')).startsWith('+PONG'));
  await ready();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    kill9: () => stopChild(child, 'SIGKILL'),
    restart: async () => {
      await stopChild(child, 'SIGKILL');
      child = spawnServer(port, dir, extra);
      await ready();
    },
    stop: async () => {
      await stopChild(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * @example const cluster = await startRedisCluster(3); afterAll(() => cluster.stop());
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const root = mkdtempSync(join(tmpdir(), 'sealrelay-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => stopChild(c, 'SIGKILL')));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort(true);
      const dir = join(root, String(port));
      mkdirSync(dir);
      ports.push(port);
      children.push(spawnServer(port, dir, ['--appendfsync', 'everysec', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']));
    }
    for (const port of ports) await waitFor(`cluster node ${port}`, async () => (await rawCommand(port, 'PING')).startsWith('+PONG'));
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const port of ports) {
      await waitFor(`cluster_state:ok on ${port}`, async () => (await rawCommand(port, 'CLUSTER INFO')).includes('cluster_state:ok'), 30_000);
    }
    return { nodes: ports.map((p) => `redis://127.0.0.1:${p}`), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
