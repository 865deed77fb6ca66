/**
 * `npm run loadtest -- --scenario S --profile P [--target T --rate R --duration D --orders N | --clients N --mix steady|location --bodies pre-sealed|sdk --store memory|redis --nodes 1|2 --outage-scale F --json]`
 *
 * Runs one scenario against one target on one network profile (impaired profiles
 * in network namespaces, as root; outages start when the network is built, a few
 * seconds before the load), writes the JSON
 * report (and an HTML one) under reports/, prints a summary; with --json the
 * report is ONE JSON object on the last line of stdout.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { available as namespacesAvailable, withNetwork } from './net/netns.ts';
import { isProfileName, profile as networkProfile, PROFILE_NAMES } from './net/profiles.ts';
import { MIXES, type MixName } from './driver/mix.ts';
import { runLoad } from './driver/run.ts';
import { summaryLine, writeReport } from './driver/report.ts';
import { PeerUnavailable, type PeerTarget } from './driver/target.ts';
import { MosquittoPeer } from './peers/mosquitto.ts';
import { NatsPeer } from './peers/nats.ts';
import { canPin, pinSelfToDriverCore } from './peers/process.ts';
import { ensureOpenFiles } from './driver/limits.ts';
import { WsRelayPeer } from './peers/ws-peers.ts';
import { writeRunHtml } from './report/html.ts';
import { SCENARIOS, ScenarioUnsupported, planScenario, type ScenarioName } from './scenarios.ts';
import { SealRelayTarget } from './targets/sealrelay.ts';

const TARGETS = ['sealrelay', 'bare-uws', 'ws', 'mosquitto', 'nats-core', 'nats-jetstream'] as const;

function die(msg: string): never {
  console.error(`loadtest: ${msg}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'steady' },
    profile: { type: 'string', default: 'lan' },
    target: { type: 'string', default: 'sealrelay' },
    rate: { type: 'string', default: '200' },
    duration: { type: 'string', default: '30' },
    orders: { type: 'string' },
    clients: { type: 'string' },
    mix: { type: 'string', default: 'steady' },
    bodies: { type: 'string', default: 'pre-sealed' },
    store: { type: 'string', default: 'memory' },
    nodes: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    'outage-scale': { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});

const scenario = values.scenario as ScenarioName;
if (!SCENARIOS.includes(scenario)) die(`unknown scenario "${values.scenario}"; one of ${SCENARIOS.join(', ')}`);
if (!isProfileName(values.profile!)) die(`unknown profile "${values.profile}"; one of ${PROFILE_NAMES.join(', ')}`);
if (values.profile !== 'lan' && !process.env.LT_SERVER_NS) {
  // Impaired profile: build the namespaces, then run THIS command again inside the
  // client namespace; servers go to the server namespace (peers/process.ts).
  const avail = namespacesAvailable();
  if (!avail.ok) die(`profile "${values.profile}" needs network namespaces: ${avail.reason}`);
  const p = networkProfile(values.profile!, { outageScale: Number(values['outage-scale']) });
  const code = await withNetwork(
    p,
    async (net) => {
      // 'ipc' survives `ip netns exec` (it execs): the driver says when the load starts,
      // and the profile's outages and loss bursts are timed from then, not from set-up.
      const child = net.exec(net.clientNs, process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
        stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, LT_SERVER_NS: net.serverNs, LT_SERVER_HOST: net.serverAddr },
      });
      let schedule: { stop(): void } | undefined;
      child.on('message', (m) => {
        if ((m as { t?: string }).t === 'load-started' && !schedule) schedule = net.startSchedule();
      });
      const exit = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
      schedule?.stop();
      return exit;
    },
    { schedule: 'manual' },
  );
  process.exit(code);
}
const store = values.store as 'memory' | 'redis';
if (store !== 'memory' && store !== 'redis') die('--store is memory or redis');
const nodes = Number(values.nodes);
if (nodes !== 1 && nodes !== 2) die('--nodes is 1 or 2');
if (nodes === 2 && store !== 'redis') die('--nodes 2 needs --store redis (the nodes share it)');
const rate = Number(values.rate);
const durationMs = Number(values.duration) * 1000;
/** Receivers per order (shipper, consignee, dispatcher); --clients counts receivers. */
const RECEIVERS_PER_ORDER = 3;
if (values.orders !== undefined && values.clients !== undefined) die('give --orders or --clients, not both');
const orders = values.clients !== undefined ? Math.ceil(Number(values.clients) / RECEIVERS_PER_ORDER) : Number(values.orders ?? 25);
if (!(rate > 0) || !(durationMs > 0) || !(orders >= 1)) die('--rate, --duration (s) and --orders (or --clients) must be positive numbers');
if (!(values.mix! in MIXES)) die(`unknown mix "${values.mix}"; one of ${Object.keys(MIXES).join(', ')}`);
const mix = MIXES[values.mix as MixName];
const bodies = values.bodies as 'pre-sealed' | 'sdk';
if (bodies !== 'pre-sealed' && bodies !== 'sdk') die('--bodies is pre-sealed or sdk');
if (bodies === 'sdk' && values.target !== 'sealrelay') die('--bodies sdk needs --target sealrelay: the peers carry opaque bytes');
// Every party holds a socket in this process and another in the server: make sure both fit.
const fds = ensureOpenFiles(orders * (RECEIVERS_PER_ORDER + 1) * 2 + 512);
if (!fds.ok) die(fds.reason);
if (fds.raisedTo) console.error(`loadtest: raised the open-file limit to ${fds.raisedTo} for ${orders * (RECEIVERS_PER_ORDER + 1)} parties`);

const pinned = canPin() && pinSelfToDriverCore();
const makeTarget = (): PeerTarget => {
  switch (values.target as (typeof TARGETS)[number]) {
    case 'sealrelay':
      // Rate limits raised for peak: a surge of 4× must measure the relay, not its per-device throttle.
      return new SealRelayTarget({
        store,
        pin: pinned,
        nodes: nodes as 1 | 2,
        bodies,
        relayConfig: scenario === 'peak' ? { rateLimits: { publishPerSecond: 1000, publishBurst: 2000, framesPerSecond: 2000, framesBurst: 4000 } } : {},
      });
    case 'bare-uws':
    case 'ws':
      return new WsRelayPeer(values.target as 'bare-uws' | 'ws', { pin: pinned });
    case 'mosquitto':
      return new MosquittoPeer({ pin: pinned });
    case 'nats-core':
      return new NatsPeer('core', { pin: pinned });
    case 'nats-jetstream':
      return new NatsPeer('jetstream', { pin: pinned });
    default:
      return die(`unknown target "${values.target}"; one of ${TARGETS.join(', ')}`);
  }
};

const target = makeTarget();
try {
  const plan = planScenario(scenario, target, durationMs);
  const report = await runLoad({
    target,
    scenario,
    profile: values.profile!,
    orders,
    receiversPerOrder: RECEIVERS_PER_ORDER,
    mix,
    ratePerSec: rate,
    durationMs,
    arrival: plan.arrival,
    shape: plan.shape,
    events: plan.events,
    // Impaired paths need time: 20 kbit/s moves a 406-byte envelope to 3 receivers in half a second.
    drainMs: plan.drainMs + (values.profile === 'lan' ? 0 : 30_000),
    seed: Number(values.seed),
    store: target instanceof SealRelayTarget ? store : undefined,
    pinned,
    progress: !values.json,
    // Thousands of parties connect in batches; the relay authenticates each with a signature.
    connectConcurrency: 200,
    onLoadStart: () => {
      process.send?.({ t: 'load-started' });
      process.channel?.unref();
    },
  });
  const file = writeReport(report);
  const html = writeRunHtml(report, file.replace(/\.json$/, '.html'));
  const say = values.json ? (s: string) => console.error(s) : (s: string) => console.log(s);
  say(summaryLine(report));
  if (target instanceof SealRelayTarget && target.errors.byCode.size > 0) say(`relay errors seen by clients: ${JSON.stringify(target.errors.toJSON())}`);
  say(`report: ${file}\nhtml:   ${html}`);
  if (values.json) console.log(JSON.stringify(report));
  const stormsMet = (report.storms ?? []).every((s) => s.met);
  process.exitCode = report.valid && stormsMet && report.lost + report.duplicates + report.reordered === 0 ? 0 : 1;
} catch (err) {
  if (err instanceof PeerUnavailable || err instanceof ScenarioUnsupported) die(err.message);
  throw err;
} finally {
  await target.stop().catch(() => undefined);
}
