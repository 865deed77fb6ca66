/**
 * The namespace topology and every command that builds or impairs it, as pure
 * data (argv lists). netns.ts runs them; tests read them.
 *
 *   sr-<id>-srv              sr-<id>-mid (shaper)               sr-<id>-cli
 *   sr-srv0 10.213.0.1/30 ── sr-m-srv 10.213.0.2   sr-m-cli 10.213.0.5 ── sr-cli0 10.213.0.6/30
 *                             egress: tbf upKbit    egress: tbf downKbit
 *                             nft forward: loss per direction, RST during reset outages
 *
 * Impairment sits in the middle namespace on FORWARDED packets, so both endpoints'
 * TCP stacks meet it as they would a real network: drops are in-network drops
 * (not local send errors) and queues are router queues (not the sender's own
 * qdisc, which TCP small queues would simply throttle against).
 * The 10.213.0.x addresses exist only inside these namespaces; every run has its
 * own namespaces, so runs can reuse the same addresses.
 */
import type { Direction, NetworkProfile } from './profiles.ts';

export const NS_PREFIX = 'sr-';

export interface Topology {
  runId: string;
  serverNs: string;
  shaperNs: string;
  clientNs: string;
  serverAddr: string;
  clientAddr: string;
  /** Shaper interface that sends towards the clients (down) / the server (up). */
  shaperDev: Record<Direction, string>;
}

export const SERVER_ADDR = '10.213.0.1';
export const SHAPER_SERVER_SIDE = '10.213.0.2';
export const SHAPER_CLIENT_SIDE = '10.213.0.5';
export const CLIENT_ADDR = '10.213.0.6';

/** nft table in the shaper namespace; `inet` so the rules would also see IPv6. */
export const NFT_TABLE = 'sr_impair';

/**
 * Loss is expressed in units of 1/10,000 so 1.6% (16/1000) and 0.05% steps are
 * exact: `numgen random mod 10000 < N`.
 */
export const LOSS_RESOLUTION = 10_000;

/** Smallest tbf bucket: one full-size frame must fit or tbf drops it outright. */
const MIN_BURST_BYTES = 1600;
/**
 * Shaper queue: one second of data at the link rate, at least 16 KB. Mobile
 * links buffer generously (bufferbloat); a tiny queue would turn shaping into loss.
 */
const MIN_QUEUE_BYTES = 16_000;

export function topology(runId: string): Topology {
  if (!/^[a-z0-9]{1,8}$/.test(runId)) throw new Error(`runId must be 1–8 lowercase letters/digits, got "${runId}"`);
  return {
    runId,
    serverNs: `${NS_PREFIX}${runId}-srv`,
    shaperNs: `${NS_PREFIX}${runId}-mid`,
    clientNs: `${NS_PREFIX}${runId}-cli`,
    serverAddr: SERVER_ADDR,
    clientAddr: CLIENT_ADDR,
    shaperDev: { down: 'sr-m-cli', up: 'sr-m-srv' },
  };
}

const inNs = (ns: string, ...argv: string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv];

/** Commands that create the namespaces, links, addresses and routes. */
export function setupCommands(t: Topology): string[][] {
  const m = t.shaperNs;
  return [
    ['ip', 'netns', 'add', t.serverNs],
    ['ip', 'netns', 'add', m],
    ['ip', 'netns', 'add', t.clientNs],
    // Created inside the shaper namespace and its peer moved straight into the
    // endpoint namespace: no interface ever appears in the host namespace.
    ['ip', '-n', m, 'link', 'add', 'sr-m-srv', 'type', 'veth', 'peer', 'name', 'sr-srv0', 'netns', t.serverNs],
    ['ip', '-n', m, 'link', 'add', 'sr-m-cli', 'type', 'veth', 'peer', 'name', 'sr-cli0', 'netns', t.clientNs],
    ['ip', '-n', t.serverNs, 'addr', 'add', `${SERVER_ADDR}/30`, 'dev', 'sr-srv0'],
    ['ip', '-n', m, 'addr', 'add', `${SHAPER_SERVER_SIDE}/30`, 'dev', 'sr-m-srv'],
    ['ip', '-n', m, 'addr', 'add', `${SHAPER_CLIENT_SIDE}/30`, 'dev', 'sr-m-cli'],
    ['ip', '-n', t.clientNs, 'addr', 'add', `${CLIENT_ADDR}/30`, 'dev', 'sr-cli0'],
    ...[t.serverNs, m, t.clientNs].map((ns) => ['ip', '-n', ns, 'link', 'set', 'lo', 'up']),
    ['ip', '-n', t.serverNs, 'link', 'set', 'sr-srv0', 'up'],
    ['ip', '-n', m, 'link', 'set', 'sr-m-srv', 'up'],
    ['ip', '-n', m, 'link', 'set', 'sr-m-cli', 'up'],
    ['ip', '-n', t.clientNs, 'link', 'set', 'sr-cli0', 'up'],
    // One MSS per skb at the endpoints: veth passes 64 KB GSO super-packets through
    // untouched, and nft would then drop (or keep) 40 segments at a time, so "10%
    // loss" would mean a handful of drops. tbf segments on its own; loss cannot.
    ['ip', '-n', t.serverNs, 'link', 'set', 'sr-srv0', 'gso_max_segs', '1'],
    ['ip', '-n', t.clientNs, 'link', 'set', 'sr-cli0', 'gso_max_segs', '1'],
    ['ip', '-n', t.serverNs, 'route', 'add', 'default', 'via', SHAPER_SERVER_SIDE],
    ['ip', '-n', t.clientNs, 'route', 'add', 'default', 'via', SHAPER_CLIENT_SIDE],
    inNs(m, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'),
  ];
}

/** tbf on the shaper's egress per direction; unshaped directions get none. */
export function shapeCommands(t: Topology, p: NetworkProfile): string[][] {
  const cmds: string[][] = [];
  for (const dir of ['down', 'up'] as const) {
    const kbit = dir === 'down' ? p.downKbit : p.upKbit;
    if (kbit === null) continue;
    const bytesPerSec = (kbit * 1000) / 8;
    // ~10 ms of data per token bucket, never less than one frame.
    const burst = Math.max(MIN_BURST_BYTES, Math.round(bytesPerSec / 100));
    const limit = Math.max(MIN_QUEUE_BYTES, Math.round(bytesPerSec));
    cmds.push(
      inNs(t.shaperNs, 'tc', 'qdisc', 'replace', 'dev', t.shaperDev[dir], 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', `${burst}`, 'limit', `${limit}`),
    );
  }
  return cmds;
}

/**
 * nft ruleset for the shaper (fed to `nft -f -`). Forwarded packets jump to one
 * loss chain per direction and to an outage chain that is empty unless a reset
 * outage is on. Drops are counted in named counters, which survive the chain
 * flushes that change the loss rate.
 */
export function nftRuleset(t: Topology, p: NetworkProfile): string {
  const base = p.burstiness.kind === 'bursty' ? 0 : p.lossPct; // bursty starts in a good spell
  return [
    `table inet ${NFT_TABLE} {`,
    '  counter drop_down { }',
    '  counter drop_up { }',
    '  counter reset_rst { }',
    '  chain loss_down {',
    ...lossRule('down', base),
    '  }',
    '  chain loss_up {',
    ...lossRule('up', base),
    '  }',
    '  chain outage { }',
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    '    jump outage',
    `    iifname "${t.shaperDev.up}" jump loss_down`,
    `    iifname "${t.shaperDev.down}" jump loss_up`,
    '  }',
    '}',
    '',
  ].join('\n');
}

function lossRule(dir: Direction, pct: number): string[] {
  const n = Math.round((pct / 100) * LOSS_RESOLUTION);
  return n > 0 ? [`    numgen random mod ${LOSS_RESOLUTION} < ${n} counter name "drop_${dir}" drop`] : [];
}

/** nft script that replaces one direction's loss rate (counters keep counting). */
export function setLossScript(dir: Direction, pct: number): string {
  const rules = lossRule(dir, pct).map((r) => `add rule inet ${NFT_TABLE} loss_${dir} ${r.trim()}`);
  return [`flush chain inet ${NFT_TABLE} loss_${dir}`, ...rules, ''].join('\n');
}

/**
 * nft script for a reset outage: on, every forwarded TCP segment is answered
 * with an RST (as from a gateway that lost its NAT state) and anything else is
 * dropped; off, the chain is empty again.
 */
export function resetOutageScript(on: boolean): string {
  const lines = [`flush chain inet ${NFT_TABLE} outage`];
  if (on) {
    lines.push(`add rule inet ${NFT_TABLE} outage meta l4proto tcp counter name "reset_rst" reject with tcp reset`);
    lines.push(`add rule inet ${NFT_TABLE} outage drop`);
  }
  return [...lines, ''].join('\n');
}

/** TUN device of the packet delay line, and the routing table that feeds it. */
export const DELAY_TUN = 'sr-tun';
const DELAY_TABLE = '101';

/**
 * Routing for the packet delay line (delayline.py): every packet forwarded from
 * either veth goes to the TUN device; what the delay line writes back arrives
 * with iif sr-tun, misses the rules, and takes the main table out of the right
 * veth (through tbf). The TUN device is persistent, so if the delay line dies
 * packets are dropped rather than silently passed undelayed.
 */
export function delayLineCommands(t: Topology): string[][] {
  const m = t.shaperNs;
  return [
    ['ip', '-n', m, 'tuntap', 'add', 'dev', DELAY_TUN, 'mode', 'tun'],
    ['ip', '-n', m, 'link', 'set', DELAY_TUN, 'up'],
    ['ip', '-n', m, 'route', 'add', 'default', 'dev', DELAY_TUN, 'table', DELAY_TABLE],
    ['ip', '-n', m, 'rule', 'add', 'iif', t.shaperDev.up, 'lookup', DELAY_TABLE],
    ['ip', '-n', m, 'rule', 'add', 'iif', t.shaperDev.down, 'lookup', DELAY_TABLE],
    // Packets come back on sr-tun with addresses that live behind the veths.
    inNs(m, 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0'),
    inNs(m, 'sysctl', '-qw', `net.ipv4.conf.${DELAY_TUN}.rp_filter=0`),
  ];
}

/** Blackhole outage: the shaper's client-facing link goes down (the client sees NO-CARRIER, packets vanish). */
export function blackholeCommand(t: Topology, on: boolean): string[] {
  return ['ip', '-n', t.shaperNs, 'link', 'set', t.shaperDev.down, on ? 'down' : 'up'];
}

export function teardownCommands(t: Topology): string[][] {
  return [t.clientNs, t.shaperNs, t.serverNs].map((ns) => ['ip', 'netns', 'del', ns]);
}
