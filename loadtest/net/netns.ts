/**
 * Real impairment with network namespaces (root only): builds the topology of
 * topology.ts, shapes it to a profile with tbf and nftables, plays outages and
 * loss bursts with timers, and always tears it down, also when the process dies
 * (exit hook + signal handlers; `tsx loadtest/net/cli.ts cleanup` or
 * `loadtest/net/netns.sh cleanup` for what a SIGKILL left behind).
 *
 * @example
 *   if (!available().ok) throw new Error(available().reason);
 *   await withNetwork(profile('3g-slow'), async (net) => {
 *     const server = net.exec(net.serverNs, 'node', ['server.js', '--host', net.serverAddr]);
 *     const client = net.exec(net.clientNs, 'node', ['client.js', net.serverAddr]);
 *   });
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Direction, NetworkProfile } from './profiles.ts';
import { ProxyControlClient } from './proxy-control.ts';
import type { ToxicsPatch } from './proxy.ts';
import { impairmentEvents } from './schedule.ts';
import {
  NFT_TABLE,
  NS_PREFIX,
  CLIENT_ADDR,
  DELAY_TUN,
  blackholeCommand,
  delayLineCommands,
  nftRuleset,
  resetOutageScript,
  setLossScript,
  setupCommands,
  shapeCommands,
  teardownCommands,
  topology,
  type Topology,
} from './topology.ts';

const INSTALL_HINT = 'apt-get install -y iproute2 nftables';

/**
 * Whether this host can build namespaces: root, and the ip, tc and nft tools.
 * `reason` is one sentence saying what is missing and how to get it.
 */
export function available(): { ok: boolean; reason?: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' };
  const missing = [
    ['ip', ['-V']],
    ['tc', ['-V']],
    ['nft', ['-v']],
  ]
    .filter(([cmd, args]) => spawnSync(cmd as string, args as string[], { stdio: 'ignore' }).status !== 0)
    .map(([cmd]) => cmd as string);
  const notRoot = process.getuid?.() !== 0;
  if (!notRoot && missing.length === 0) return { ok: true };
  const what = [...(notRoot ? ['root'] : []), ...missing].join(', ');
  return { ok: false, reason: `namespace impairment needs root and iproute2+nftables (missing: ${what}): run as root and ${INSTALL_HINT}` };
}

/** A short random id for namespace names, e.g. "k3x9q2". */
export function newRunId(): string {
  return randomBytes(6).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, 'x').slice(0, 6);
}

/** Names of existing namespaces that start with prefix (default every `sr-` one). */
export function listNamespaces(prefix = NS_PREFIX): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

/**
 * Remove namespaces left behind by crashed runs: kills the processes inside them
 * (by pid, they can only be ours) and deletes them. Returns the names removed.
 * Removes every `sr-` namespace by default; pass `sr-<runId>-` to be narrower.
 */
export function cleanup(prefix = NS_PREFIX): string[] {
  if (!prefix.startsWith(NS_PREFIX)) throw new Error(`cleanup only touches ${NS_PREFIX}* namespaces`);
  const names = listNamespaces(prefix);
  for (const ns of names) destroyNamespace(ns);
  return names;
}

function destroyNamespace(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split('\n').map(Number).filter((p) => p > 1)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

/** Run one argv to completion; rejects with its stderr on failure. */
function run(argv: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} failed (${code}): ${err.trim()}`))));
    child.stdin.end(input);
  });
}

export interface DropCounters {
  /** Packets dropped server → client by the loss rules. */
  down: { packets: number; bytes: number };
  up: { packets: number; bytes: number };
  /** TCP segments answered with RST during reset outages. */
  resets: { packets: number; bytes: number };
}

export interface NsProxy {
  /** Where clients connect (in the server namespace, reachable from the client one). */
  host: string;
  port: number;
  control: ProxyControlClient;
  stop(): Promise<void>;
}

export interface Schedule {
  stop(): void;
  /** Resolves when every event up to the horizon has been applied (or stop()). */
  done: Promise<void>;
}

export interface NetworkContext {
  readonly runId: string;
  readonly serverNs: string;
  readonly shaperNs: string;
  readonly clientNs: string;
  /** The server namespace's address, 10.213.0.1. */
  readonly serverAddr: string;
  readonly clientAddr: string;
  readonly profile: NetworkProfile;
  /**
   * How the profile's delay and jitter are applied: 'packet' = per packet by the
   * delay line in the shaper namespace (realistic TCP), 'none' = not at all (no
   * delay in the profile, or python3 missing: use startProxy() for delay then).
   */
  readonly delayMode: 'packet' | 'none';
  /** Spawn `cmd args` inside a namespace; the process is killed at teardown. */
  exec(ns: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Blackhole on/off now: the shaper's client-facing link goes down/up. */
  blackhole(on: boolean): Promise<void>;
  /** Reset outage on/off now: forwarded TCP is answered with RST, the rest dropped. */
  resetOutage(on: boolean): Promise<void>;
  /** Change one direction's (or both) random loss now. */
  setLossPct(pct: number, dir?: Direction): Promise<void>;
  dropCounters(): Promise<DropCounters>;
  /**
   * Play the profile's outages and loss bursts from now on (withNetwork does this
   * by default). Times are relative to this call.
   */
  startSchedule(horizonMs?: number): Schedule;
  /**
   * Start a ToxicProxy in the server namespace in front of upstreamPort (on the
   * server namespace's loopback by default). Unless toxics are given it carries
   * the profile's delay and jitter when delayMode is 'none', and nothing (ready
   * for stalls and resets) when the network already delays packets. The network
   * still does rate, loss and outages.
   */
  startProxy(opts: { listenPort: number; upstreamPort: number; upstreamHost?: string; toxics?: ToxicsPatch }): Promise<NsProxy>;
}

export interface NetworkOptions {
  runId?: string;
  /** 'auto' (default) plays outages and bursts while fn runs; 'manual' leaves it to the caller. */
  schedule?: 'auto' | 'manual';
  /** How far ahead to generate loss bursts, ms (default 10 minutes). */
  horizonMs?: number;
  random?: () => number;
  /**
   * 'auto' (default): packet-level delay when the profile has delay or jitter and
   * python3 is present, with one warning line when it falls back to none.
   * 'packet': require it. 'none': leave delay to startProxy().
   */
  delay?: 'auto' | 'packet' | 'none';
}

/** The repo root, for running tsx children with the right node_modules. */
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROXY_MAIN = fileURLToPath(new URL('./proxy-main.ts', import.meta.url));
const DELAY_LINE = fileURLToPath(new URL('./delayline.py', import.meta.url));

let python3Path: string | null | undefined;
/**
 * The real python3 interpreter, resolved once: version-manager shims (pyenv)
 * cost over a second per start, which would be paid per network otherwise.
 */
function python3(): string | null {
  if (python3Path === undefined) {
    const r = spawnSync('python3', ['-c', 'import fcntl, sys; print(sys.executable)'], { encoding: 'utf8' });
    python3Path = r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
  }
  return python3Path;
}

function chooseDelayMode(p: NetworkProfile, wanted: 'auto' | 'packet' | 'none'): 'packet' | 'none' {
  const needed = p.delayMs > 0 || p.upDelayMs > 0 || p.jitterMs > 0;
  if (wanted === 'none' || !needed) return 'none';
  if (python3() !== null) return 'packet';
  if (wanted === 'packet') throw new Error('packet-level delay needs python3 (apt-get install -y python3), or pass delay: "none" and use startProxy()');
  console.warn(`sr-net: python3 missing, so ${p.name} runs WITHOUT packet delay; install python3 or add delay with startProxy()`);
  return 'none';
}
const DEFAULT_HORIZON_MS = 10 * 60_000;

/** Topologies alive in this process, for the exit hook. */
const live = new Map<string, { t: Topology; children: Set<ChildProcess>; tmp: string }>();
let hooksInstalled = false;

function teardownSync(runId: string): void {
  const entry = live.get(runId);
  if (!entry) return;
  live.delete(runId);
  for (const c of entry.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const ns of [entry.t.clientNs, entry.t.shaperNs, entry.t.serverNs]) destroyNamespace(ns);
  rmSync(entry.tmp, { recursive: true, force: true });
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const id of [...live.keys()]) teardownSync(id);
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const id of [...live.keys()]) teardownSync(id);
      process.kill(process.pid, sig); // once() removed us: the default action now ends the process
    });
  }
}

/** A live network; prefer withNetwork, which cannot forget close(). */
export interface Network extends NetworkContext {
  close(): Promise<void>;
}

/** Build the topology for a profile. Throws (after cleaning up) if any step fails. */
export async function createNetwork(p: NetworkProfile, opts: NetworkOptions = {}): Promise<Network> {
  const avail = available();
  if (!avail.ok) throw new Error(avail.reason);
  const t = topology(opts.runId ?? newRunId());
  const children = new Set<ChildProcess>();
  const tmp = mkdtempSync(join(tmpdir(), `${NS_PREFIX}${t.runId}-`));
  installExitHooks();
  live.set(t.runId, { t, children, tmp });
  const random = opts.random ?? Math.random;
  const inShaper = (...argv: string[]): string[] => ['ip', 'netns', 'exec', t.shaperNs, ...argv];
  const nft = (script: string): Promise<string> => run(inShaper('nft', '-f', '-'), script);
  const schedules = new Set<Schedule>();

  const delayMode = chooseDelayMode(p, opts.delay ?? 'auto');
  try {
    for (const cmd of setupCommands(t)) await run(cmd);
    for (const cmd of shapeCommands(t, p)) await run(cmd);
    await nft(nftRuleset(t, p));
    if (delayMode === 'packet') {
      for (const cmd of delayLineCommands(t)) await run(cmd);
      const line = spawn(
        'ip',
        ['netns', 'exec', t.shaperNs, python3()!, DELAY_LINE, DELAY_TUN, CLIENT_ADDR, String(p.delayMs), String(p.upDelayMs), String(p.jitterMs)],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.add(line);
      await new Promise<void>((resolve, reject) => {
        let err = '';
        line.stderr.on('data', (b: Buffer) => (err += b.toString()));
        line.stdout.once('data', () => resolve());
        line.once('exit', (code) => reject(new Error(`delay line exited (${code}): ${err.trim()}`)));
      });
    }
  } catch (e) {
    teardownSync(t.runId);
    throw e;
  }

  const net: Network = {
    runId: t.runId,
    serverNs: t.serverNs,
    shaperNs: t.shaperNs,
    clientNs: t.clientNs,
    serverAddr: t.serverAddr,
    clientAddr: t.clientAddr,
    profile: p,
    delayMode,
    exec(ns, cmd, args, spawnOpts = {}) {
      if (![t.serverNs, t.shaperNs, t.clientNs].includes(ns)) throw new Error(`${ns} is not a namespace of run ${t.runId}`);
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], spawnOpts);
      children.add(child);
      child.on('exit', () => children.delete(child));
      return child;
    },
    async blackhole(on) {
      await run(blackholeCommand(t, on));
    },
    async resetOutage(on) {
      await nft(resetOutageScript(on));
    },
    async setLossPct(pct, dir) {
      for (const d of dir ? [dir] : (['down', 'up'] as const)) await nft(setLossScript(d, pct));
    },
    async dropCounters() {
      const json = await run(inShaper('nft', '-j', 'list', 'counters', 'table', 'inet', NFT_TABLE));
      const found: Record<string, { packets: number; bytes: number }> = {};
      for (const item of (JSON.parse(json) as { nftables: Array<{ counter?: { name: string; packets: number; bytes: number } }> }).nftables) {
        if (item.counter) found[item.counter.name] = { packets: item.counter.packets, bytes: item.counter.bytes };
      }
      const zero = { packets: 0, bytes: 0 };
      return { down: found.drop_down ?? zero, up: found.drop_up ?? zero, resets: found.reset_rst ?? zero };
    },
    startSchedule(horizonMs = opts.horizonMs ?? DEFAULT_HORIZON_MS) {
      const timers: NodeJS.Timeout[] = [];
      let stopped = false;
      let chain = Promise.resolve();
      const events = impairmentEvents(p, horizonMs, random);
      let finish: () => void = () => undefined;
      const done = new Promise<void>((r) => (finish = r));
      let pending = events.length;
      if (pending === 0) finish();
      for (const ev of events) {
        timers.push(
          setTimeout(() => {
            // Applied strictly in order, even if one nft call is slow.
            chain = chain
              .then(async () => {
                if (stopped) return;
                if (ev.type === 'loss') await net.setLossPct(ev.pct);
                else if (ev.kind === 'blackhole') await net.blackhole(ev.on);
                else await net.resetOutage(ev.on);
              })
              .catch((e: unknown) => console.warn(`sr-net ${t.runId}: impairment event failed: ${String(e)}`))
              .finally(() => {
                if (--pending === 0) finish();
              });
          }, ev.atMs),
        );
      }
      const schedule: Schedule = {
        stop() {
          stopped = true;
          for (const tm of timers) clearTimeout(tm);
          schedules.delete(schedule);
          finish();
        },
        done,
      };
      schedules.add(schedule);
      return schedule;
    },
    async startProxy(o) {
      const control = join(tmp, `proxy-${o.listenPort}.sock`);
      // With packet delay active the network already delays; the proxy then only
      // serves stalls and resets unless told otherwise.
      const toxics: ToxicsPatch =
        o.toxics ??
        (delayMode === 'packet'
          ? {}
          : { down: { latencyMs: p.delayMs, jitterMs: p.jitterMs }, up: { latencyMs: p.upDelayMs, jitterMs: p.jitterMs } });
      const child = net.exec(
        t.serverNs,
        process.execPath,
        [
          '--import',
          'tsx',
          PROXY_MAIN,
          '--listen',
          `${t.serverAddr}:${o.listenPort}`,
          '--upstream',
          `${o.upstreamHost ?? '127.0.0.1'}:${o.upstreamPort}`,
          '--control',
          control,
          '--toxics',
          JSON.stringify(toxics),
        ],
        { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const ready = await new Promise<{ port: number }>((resolve, reject) => {
        let out = '';
        let err = '';
        child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
        child.stdout?.on('data', (b: Buffer) => {
          out += b.toString();
          const line = out.split('\n').find((l) => l.includes('"ready"'));
          if (line) resolve(JSON.parse(line) as { port: number });
        });
        child.on('exit', (code) => reject(new Error(`proxy in ${t.serverNs} exited (${code}): ${err.trim()}`)));
      });
      return {
        host: t.serverAddr,
        port: ready.port,
        control: new ProxyControlClient({ socketPath: control }),
        stop: async () => {
          if (child.exitCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        },
      };
    },
    async close() {
      for (const s of [...schedules]) s.stop();
      const exits = [...children].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))));
      for (const c of children) c.kill('SIGTERM');
      // Give children a moment to exit cleanly; teardownSync SIGKILLs the rest.
      await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 1000))]);
      if (live.has(t.runId)) {
        for (const cmd of teardownCommands(t)) await run(cmd).catch(() => undefined);
        teardownSync(t.runId);
      }
    },
  };
  return net;
}

/**
 * Build the network for `p`, run fn inside it, and always tear it down. With
 * schedule 'auto' (default) the profile's outages and loss bursts start when fn
 * starts.
 */
export async function withNetwork<T>(p: NetworkProfile, fn: (net: NetworkContext) => Promise<T>, opts: NetworkOptions = {}): Promise<T> {
  const net = await createNetwork(p, opts);
  try {
    if ((opts.schedule ?? 'auto') === 'auto') net.startSchedule();
    return await fn(net);
  } finally {
    await net.close();
  }
}
