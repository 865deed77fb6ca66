/**
 * `npm run bench:relay`: issue 3's benchmark. In one run, on the same workload
 * (250 orders × 4 parties = 1,000 connections; the courier publishes, 3 receive;
 * open loop at 2,000 and 10,000 publishes/s), our relay on the memory store, on
 * Redis (if redis-server is installed), and a bare uWS pub/sub relay: server on
 * core 0, driver on core 1. Then idle connections: RSS per held connection.
 *
 * Flags: --rates 2000,10000  --duration 10  --orders 250  --quick  --no-idle  --idle N  --json  --servers memory,redis,bare-uws
 * Prints a table; with --json, ONE JSON object on the last line of stdout:
 *   {"runs":[…],"cpuRatioMemory":n,"cpuRatioRedis":n,…}
 */
import { parseArgs } from 'node:util';
import { runLoad } from '../driver/run.ts';
import { writeReport, type RunReport } from '../driver/report.ts';
import { PeerUnavailable, type PeerTarget } from '../driver/target.ts';
import { WsRelayPeer } from '../peers/ws-peers.ts';
import { canPin, hasBinary, pinSelfToDriverCore } from '../peers/process.ts';
import { SealRelayTarget } from '../targets/sealrelay.ts';
import { idleBareUws, idleSealRelay, type IdleResult } from './idle.ts';
import { DEFAULT_ENVELOPE_BYTES, benchSummary, renderBenchTable, type BenchRun } from './summary.ts';

const { values } = parseArgs({
  options: {
    rates: { type: 'string' },
    duration: { type: 'string' },
    orders: { type: 'string' },
    quick: { type: 'boolean', default: false },
    idle: { type: 'string' },
    'no-idle': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    servers: { type: 'string' },
  },
});

const quick = values.quick === true;
const rates = (values.rates ?? (quick ? '500,2000' : '2000,10000')).split(',').map(Number);
const durationMs = Number(values.duration ?? (quick ? 3 : 10)) * 1000;
const orders = Number(values.orders ?? (quick ? 50 : 250));
const idleN = values['no-idle'] ? 0 : Number(values.idle ?? (quick ? 1000 : 10_000));
// Human output goes to stderr when --json is on, so stdout's last line is the object.
const say = values.json ? (s: string) => console.error(s) : (s: string) => console.log(s);

const pinned = canPin() && pinSelfToDriverCore();
if (!pinned) say('NOTE: could not pin server and driver to separate cores (needs 2 cores and taskset); figures will include interference.');
const redis = hasBinary('redis-server');
if (!redis) say('SKIPPED sealrelay-redis: redis-server is not installed (apt-get install -y redis-server).');

// sealrelay runs first at each rate and fixes the envelope size; the bare relay then moves the same bytes.
const targets: Array<() => PeerTarget> = [
  () => new SealRelayTarget({ store: 'memory', pin: pinned }),
  ...(redis ? [() => new SealRelayTarget({ store: 'redis', pin: pinned })] : []),
  () => new WsRelayPeer('bare-uws', { pin: pinned }),
];

// --servers memory,redis,bare-uws: run only these (default: all).
const only = values.servers?.split(',').map((s) => s.trim());
const selected = only
  ? targets.filter((_, i) => only.includes(['memory', ...(redis ? ['redis'] : []), 'bare-uws'][i]!))
  : targets;

const runs: BenchRun[] = [];
const reports: RunReport[] = [];
let envelopeBytes = 0;
for (const rate of rates) {
  for (const make of selected) {
    const target = make();
    try {
      const r = await runLoad({
        target,
        scenario: 'bench-relay',
        profile: 'lan',
        orders,
        ratePerSec: rate,
        durationMs,
        payloadBytes: envelopeBytes || DEFAULT_ENVELOPE_BYTES,
        pinned,
        progress: !values.json,
        store: target instanceof SealRelayTarget ? target.name.replace('sealrelay-', '') : undefined,
      });
      if (target instanceof SealRelayTarget) envelopeBytes = target.envelopeBytes;
      reports.push(r);
      writeReport(r);
      runs.push(BenchRunOf(r));
      say(renderBenchTable([runs[runs.length - 1]!], false));
    } catch (err) {
      if (err instanceof PeerUnavailable) say(`SKIPPED ${err.peer}: ${err.hint}`);
      else throw err;
    }
  }
}

const idle: IdleResult[] = [];
if (idleN > 0) {
  for (const f of [idleSealRelay, idleBareUws]) {
    const r = await f(idleN, pinned);
    idle.push(r);
    say(`idle ${r.server}: ${r.connections} connections held, RSS ${(r.rssBytes / 1048576).toFixed(1)} MiB, ${(r.rssPerConnectionBytes / 1024).toFixed(2)} KiB per connection (connected in ${r.connectMs} ms)`);
  }
}

const summary = benchSummary(runs, idle, { envelopeBytes, pinned, orders, durationMs });
say('');
say(renderBenchTable(runs, true));
for (const line of summary.verdicts) say(line);
if (values.json) console.log(JSON.stringify(summary.json));

function BenchRunOf(r: RunReport): BenchRun {
  return {
    server: r.target,
    offeredRate: r.offeredRate,
    deliveredPerSec: r.deliveredPerSec,
    latencyMs: { p50: r.latencyMs.p50, p99: r.latencyMs.p99, p999: r.latencyMs.p999, max: r.latencyMs.max },
    serverCpuUsPerDelivery: r.serverCpuUsPerDelivery,
    rssBytes: r.serverPeakRssBytes,
    lost: r.lost,
    duplicates: r.duplicates,
    reordered: r.reordered,
    redisCpuUsPerDelivery: r.sidecars.find((s) => s.name === 'redis-server')?.cpuUsPerDelivery,
    serverCpuCores: r.serverCpuCores,
    driverCpuCores: r.driverCpuCores,
    valid: r.valid,
    invalidReasons: r.invalidReasons,
  };
}
