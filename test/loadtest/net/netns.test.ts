import { spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { available, listNamespaces, withNetwork, type NetworkContext } from '../../../loadtest/net/netns.ts';
import { profile, type NetworkProfile } from '../../../loadtest/net/profiles.ts';

const TOOL = fileURLToPath(new URL('./fixtures/tcp-tool.mjs', import.meta.url));
const PORT = '7000';

// Without root/ip/tc/nft these tests skip with one loud line, except in CI, where
// a missing prerequisite must fail rather than quietly test nothing.
const avail = available();
const inCi = process.env.CI === 'true';
const skip = !avail.ok && !inCi;
if (skip) console.warn(`SKIPPING namespace tests: ${avail.reason}`);
const hasPython = spawnSync('python3', ['-c', 'import fcntl'], { stdio: 'ignore' }).status === 0;
if (!skip && !hasPython && !inCi) console.warn('SKIPPING the packet-delay test: it needs python3 (apt-get install -y python3)');

type Line = Record<string, unknown>;

/** Resolves with the next JSON line from a child's stdout that satisfies pred. */
function nextLine(child: ChildProcess, pred: (l: Line) => boolean = () => true, timeoutMs = 20_000): Promise<Line> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      child.stdout?.off('data', onData);
      reject(new Error(`no matching line within ${timeoutMs} ms; got: ${buf}`));
    }, timeoutMs);
    const onData = (b: Buffer): void => {
      buf += b.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, i)) as Line;
        buf = buf.slice(i + 1);
        if (pred(line)) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          resolve(line);
          return;
        }
      }
    };
    child.stdout?.on('data', onData);
  });
}

/** Start the echo/sink server in the server namespace. */
async function serve(net: NetworkContext): Promise<void> {
  const srv = net.exec(net.serverNs, 'node', [TOOL, 'serve', '0.0.0.0', PORT]);
  await nextLine(srv, (l) => 'listening' in l);
}

/** Run one tool mode in the client namespace and return its result line. */
function client(net: NetworkContext, mode: string, arg: string, port = PORT): Promise<Line> {
  return nextLine(net.exec(net.clientNs, 'node', [TOOL, mode, net.serverAddr, port, arg]), undefined, 30_000);
}

const unimpaired = (over: Partial<NetworkProfile>): NetworkProfile => ({ ...profile('lan'), name: 'test', ...over });

// Concurrent: each test builds its own sr-<runId>-* namespaces, so they cannot
// interfere, and all timing assertions are lower bounds that contention cannot break.
describe.skipIf(skip).concurrent('network namespaces (root, iproute2, nftables)', () => {
  it('has its prerequisites (fails here in CI when they are missing)', ({ expect }) => {
    expect(avail.reason).toBeUndefined();
  });

  it('shapes bandwidth for real: 200 KB up at 400 kbit/s takes ≥ 3 s, 200 KB down at 800 kbit/s ≥ 1.5 s', async ({ expect }) => {
    const p = unimpaired({ upKbit: 400, downKbit: 800 });
    await withNetwork(p, async (net) => {
      await serve(net);
      const up = await client(net, 'upload', '200000');
      const down = await client(net, 'download', '200000');
      const kbit = (l: Line): string => ((200_000 * 8) / Number(l.ms)).toFixed(0);
      console.info(`tbf: 200 KB up at 400 kbit/s in ${Number(up.ms).toFixed(0)} ms (${kbit(up)} kbit/s), down at 800 kbit/s in ${Number(down.ms).toFixed(0)} ms (${kbit(down)} kbit/s)`);
      expect(up.ok).toBe(true);
      expect(down.ok).toBe(true);
      // Lower bounds only: 200 KB is 4.0 s at 400 kbit/s and 2.0 s at 800 kbit/s.
      expect(Number(up.ms)).toBeGreaterThanOrEqual(3000);
      expect(Number(down.ms)).toBeGreaterThanOrEqual(1500);
    });
  });

  it('drops packets for real at 10% loss, counted by nft, and TCP still delivers every byte intact', async ({ expect }) => {
    await withNetwork(unimpaired({ lossPct: 10 }), async (net) => {
      await serve(net);
      const r = await client(net, 'echo', '300000');
      const c = await net.dropCounters();
      console.info(`10% loss: 300 KB echo in ${Number(r.ms).toFixed(0)} ms; dropped ${c.down.packets} down / ${c.up.packets} up`);
      expect(r.ok).toBe(true);
      expect(c.down.packets).toBeGreaterThan(0);
      expect(c.up.packets).toBeGreaterThan(0);
    });
  });

  it('blackholes traffic while the link is down and delivers it after the link comes back', async ({ expect }) => {
    await withNetwork(profile('lan'), async (net) => {
      await serve(net);
      const c = net.exec(net.clientNs, 'node', [TOOL, 'interactive', net.serverAddr, PORT]);
      await nextLine(c, (l) => 'connected' in l);
      c.stdin?.write('before\n');
      expect(await nextLine(c)).toEqual({ recv: 'before' });

      await net.blackhole(true);
      c.stdin?.write('during\n');
      const reply = nextLine(c);
      const silent = await Promise.race([reply.then(() => false), new Promise((r) => setTimeout(() => r(true), 1000))]);
      expect(silent).toBe(true);

      await net.blackhole(false);
      // TCP's own retransmission brings it through once the path is back.
      expect(await reply).toEqual({ recv: 'during' });
    });
  });

  it('a reset outage answers TCP with RST, refuses new connections, and ends cleanly', async ({ expect }) => {
    await withNetwork(profile('lan'), async (net) => {
      await serve(net);
      const c = net.exec(net.clientNs, 'node', [TOOL, 'interactive', net.serverAddr, PORT]);
      await nextLine(c, (l) => 'connected' in l);
      await net.resetOutage(true);
      c.stdin?.write('x\n');
      expect(await nextLine(c)).toEqual({ error: 'ECONNRESET' });
      expect(await client(net, 'rtt', '1')).toEqual({ error: 'ECONNREFUSED' });
      await net.resetOutage(false);
      expect(await client(net, 'rtt', '1')).toHaveProperty('medianMs');
      expect((await net.dropCounters()).resets.packets).toBeGreaterThanOrEqual(2);
    });
  });

  it.skipIf(!hasPython && !inCi)('delays every packet in the kernel path (200±50 ms each way: TCP itself sees the long RTT), keeping a jittered stream intact', async ({ expect }) => {
    await withNetwork(unimpaired({ delayMs: 200, upDelayMs: 200, jitterMs: 50 }), async (net) => {
      expect(net.delayMode).toBe('packet');
      await serve(net);
      const rtt = await client(net, 'rtt', '5');
      const echo = await client(net, 'echo', '50000');
      console.info(`packet delay 200±50 ms each way: RTT ${Number(rtt.medianMs).toFixed(1)} ms; 50 KB echo intact=${String(echo.ok)} in ${Number(echo.ms).toFixed(0)} ms`);
      // Jitter is symmetric and order is kept, so the median RTT cannot be below 400 - 2×50.
      expect(Number(rtt.medianMs)).toBeGreaterThanOrEqual(300);
      expect(echo.ok).toBe(true);
    });
  });

  it('adds the profile delay through a proxy in the server namespace (3g-slow: ≥ 400 ms RTT)', async ({ expect }) => {
    await withNetwork(profile('3g-slow'), async (net) => {
      await serve(net);
      const direct = await client(net, 'rtt', '5');
      const proxy = await net.startProxy({ listenPort: 7001, upstreamPort: Number(PORT) });
      const slowed = await client(net, 'rtt', '5', String(proxy.port));
      console.info(`3g-slow RTT: ${Number(direct.medianMs).toFixed(2)} ms without the proxy, ${Number(slowed.medianMs).toFixed(1)} ms through it`);
      expect(Number(slowed.medianMs)).toBeGreaterThanOrEqual(400);
      expect((await proxy.control.state()).stats.accepted).toBe(1);
      await proxy.stop();
    }, { delay: 'none' });
  });

  it('tears every namespace down afterwards, also when the body throws', async ({ expect }) => {
    let runId = '';
    await expect(
      withNetwork(profile('lan'), async (net) => {
        runId = net.runId;
        expect(listNamespaces(`sr-${runId}-`)).toHaveLength(3);
        net.exec(net.serverNs, 'sleep', ['60']); // a process left running inside
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(listNamespaces(`sr-${runId}-`)).toEqual([]);
  });
});
