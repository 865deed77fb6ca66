/**
 * Command line for the impairment kit.
 *
 *   tsx loadtest/net/cli.ts profiles                 list the profiles and their netem equivalents
 *   tsx loadtest/net/cli.ts check                    say whether namespaces can be built here
 *   tsx loadtest/net/cli.ts up <profile> [--outage-scale 0.1] [--proxy <listenPort>:<upstreamPort>]
 *                                                    build the network and hold it until Ctrl-C
 *   tsx loadtest/net/cli.ts cleanup                  remove every sr-* namespace a crash left behind
 */
import { parseArgs } from 'node:util';
import { available, cleanup, createNetwork } from './netns.ts';
import { allProfiles, profile, toNetemArgs } from './profiles.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { 'outage-scale': { type: 'string' }, proxy: { type: 'string' } },
});
const [cmd, name] = positionals;

switch (cmd) {
  case 'profiles':
    for (const p of allProfiles()) {
      console.log(`${p.name.padEnd(14)} down: netem ${toNetemArgs(p, 'down').join(' ') || '(none)'}`);
      console.log(`${''.padEnd(14)} up:   netem ${toNetemArgs(p, 'up').join(' ') || '(none)'}`);
    }
    break;
  case 'check': {
    const a = available();
    console.log(a.ok ? 'ok: namespaces, tc and nft are usable' : a.reason);
    process.exitCode = a.ok ? 0 : 1;
    break;
  }
  case 'cleanup': {
    const removed = cleanup();
    console.log(removed.length ? `removed ${removed.join(', ')}` : 'nothing to clean up');
    break;
  }
  case 'up': {
    const scale = values['outage-scale'];
    const p = profile(name ?? '', scale ? { outageScale: Number(scale) } : {});
    const net = await createNetwork(p); // its exit hooks tear down on Ctrl-C, SIGTERM, or a crash
    net.startSchedule();
    console.log(`${p.name} is up as run ${net.runId}: server ns ${net.serverNs} (${net.serverAddr}), client ns ${net.clientNs}`);
    console.log(`  run things with: ip netns exec ${net.clientNs} <cmd>; counters: ip netns exec ${net.shaperNs} nft list counters`);
    if (values.proxy) {
      const [listenPort, upstreamPort] = values.proxy.split(':').map(Number);
      const px = await net.startProxy({ listenPort: listenPort!, upstreamPort: upstreamPort! });
      console.log(`  delay proxy ${px.host}:${px.port} → 127.0.0.1:${upstreamPort} (in ${net.serverNs})`);
    }
    console.log('Ctrl-C tears it down.');
    setInterval(() => undefined, 1 << 30); // hold the process open
    break;
  }
  default:
    console.error('usage: tsx loadtest/net/cli.ts profiles | check | up <profile> [--outage-scale f] [--proxy listen:upstream] | cleanup');
    process.exitCode = 2;
}
