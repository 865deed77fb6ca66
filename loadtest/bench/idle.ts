/**
 * Idle connections: how much server memory one held connection costs. N clients
 * connect (sealrelay: each a distinct device that authenticates with its
 * certificate; bare uWS: a plain subscribed socket), sit idle, and the server's
 * RSS growth over its warm baseline is divided by N.
 */
import WebSocket from 'ws';
import { AuthorityKey, cryptoReady } from '../../crypto/index.ts';
import { readProc } from '../driver/proc.ts';
import { freePort, spawnServer, tsxArgs, type ServerProcess } from '../peers/process.ts';
import { makeDevice, type LoadDevice } from '../targets/fixtures.ts';
import { connectDevice } from '../targets/relay-connection.ts';
import { fileURLToPath } from 'node:url';

export interface IdleResult {
  readonly server: string;
  readonly connections: number;
  readonly baselineRssBytes: number;
  readonly rssBytes: number;
  readonly rssPerConnectionBytes: number;
  readonly connectMs: number;
}

const CONNECT_BATCH = 200;
const SETTLE_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(server: string, proc: ServerProcess, n: number, open: (i: number) => Promise<WebSocket>): Promise<IdleResult> {
  await sleep(SETTLE_MS);
  global.gc?.();
  const baseline = readProc(proc.pid).rssBytes;
  const sockets: WebSocket[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i += CONNECT_BATCH) {
    const batch = await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, n - i) }, (_, k) => open(i + k)));
    sockets.push(...batch);
  }
  const connectMs = Math.round(performance.now() - t0);
  await sleep(SETTLE_MS);
  const rss = readProc(proc.pid).rssBytes;
  for (const s of sockets) s.terminate();
  await proc.stop();
  return { server, connections: n, baselineRssBytes: baseline, rssBytes: rss, rssPerConnectionBytes: Math.round((rss - baseline) / n), connectMs };
}

export async function idleSealRelay(n: number, pin: boolean): Promise<IdleResult> {
  await cryptoReady();
  const authority = AuthorityKey.generate();
  const now = Date.now();
  const devices: LoadDevice[] = [];
  for (let i = 0; i < n; i++) devices.push(await makeDevice(authority, 'courier', `idle-${i}`, now));
  const port = await freePort();
  const { cmd, args } = tsxArgs(fileURLToPath(new URL('../targets/relay-main.ts', import.meta.url)));
  const config = { port, trustedAuthorities: [Buffer.from(authority.publicKey).toString('hex')] };
  const proc = await spawnServer({ cmd, args, port, pin, env: { SEALRELAY_LT_CONFIG: JSON.stringify(config) }, readyTimeoutMs: 30_000 });
  const url = `ws://127.0.0.1:${port}/`;
  return measure('sealrelay-memory', proc, n, async (i) => (await connectDevice(url, devices[i]!, { onFrame: () => undefined, onClose: () => undefined })).ws);
}

export async function idleBareUws(n: number, pin: boolean): Promise<IdleResult> {
  const port = await freePort();
  const { cmd, args } = tsxArgs(fileURLToPath(new URL('../peers/uws-relay-main.ts', import.meta.url)), [String(port)]);
  const proc = await spawnServer({ cmd, args, port, pin });
  return measure('bare-uws', proc, n, (i) => {
    return new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/o/${i % 250}/sub`, { perMessageDeflate: false });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  });
}
