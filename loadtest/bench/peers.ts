/**
 * The peer comparison of issue 5 / DESIGN §6, side by side in one run on the
 * same workload and driver: sealrelay (memory, and Redis when installed), bare
 * uWS, `ws`, Mosquitto QoS 1, NATS core and JetStream. Writes every run's JSON,
 * a matrix HTML report and a Markdown table for BENCHMARKS.md.
 *
 *   npx tsx loadtest/bench/peers.ts --rates 2000,10000 --duration 10 --orders 250 [--peers a,b] [--json]
 *
 * A peer whose server is not installed is skipped with a loud line.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runLoad } from '../driver/run.ts';
import { summaryLine, writeReport, type RunReport } from '../driver/report.ts';
import { PeerUnavailable, type PeerTarget } from '../driver/target.ts';
import { MosquittoPeer } from '../peers/mosquitto.ts';
import { NatsPeer } from '../peers/nats.ts';
import { canPin, pinSelfToDriverCore } from '../peers/process.ts';
import { WsRelayPeer } from '../peers/ws-peers.ts';
import { writeMatrixHtml } from '../report/html.ts';
import { markdownTable } from '../report/markdown.ts';
import { SealRelayTarget } from '../targets/sealrelay.ts';
import { DEFAULT_ENVELOPE_BYTES } from './summary.ts';

const PEERS: Record<string, (pin: boolean) => PeerTarget> = {
  'sealrelay-memory': (pin) => new SealRelayTarget({ store: 'memory', pin }),
  'sealrelay-redis': (pin) => new SealRelayTarget({ store: 'redis', pin }),
  'bare-uws': (pin) => new WsRelayPeer('bare-uws', { pin }),
  ws: (pin) => new WsRelayPeer('ws', { pin }),
  mosquitto: (pin) => new MosquittoPeer({ pin }),
  'nats-core': (pin) => new NatsPeer('core', { pin }),
  'nats-jetstream': (pin) => new NatsPeer('jetstream', { pin }),
};

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '2000,10000' },
    duration: { type: 'string', default: '10' },
    orders: { type: 'string', default: '250' },
    peers: { type: 'string', default: Object.keys(PEERS).join(',') },
    json: { type: 'boolean', default: false },
  },
});
const say = values.json ? (s: string) => console.error(s) : (s: string) => console.log(s);
const pinned = canPin() && pinSelfToDriverCore();
const reports: RunReport[] = [];
for (const rate of values.rates!.split(',').map(Number)) {
  for (const name of values.peers!.split(',')) {
    const make = PEERS[name];
    if (!make) throw new Error(`unknown peer ${name}; one of ${Object.keys(PEERS).join(', ')}`);
    try {
      const r = await runLoad({
        target: make(pinned),
        scenario: 'peers',
        profile: 'lan',
        orders: Number(values.orders),
        ratePerSec: rate,
        durationMs: Number(values.duration) * 1000,
        payloadBytes: DEFAULT_ENVELOPE_BYTES,
        pinned,
        progress: !values.json,
      });
      writeReport(r);
      reports.push(r);
      say(summaryLine(r));
    } catch (err) {
      if (err instanceof PeerUnavailable) say(`SKIPPED ${err.peer}: ${err.hint}`);
      else throw err;
    }
  }
}
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const html = writeMatrixHtml('Peers, side by side (lan)', reports, `reports/peers-${stamp}.html`);
writeFileSync(`reports/peers-${stamp}.md`, markdownTable(reports) + '\n');
say(`matrix: ${html}`);
if (values.json) console.log(JSON.stringify({ runs: reports }));
