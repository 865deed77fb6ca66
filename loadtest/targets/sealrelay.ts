/**
 * sealrelay as a load target: real authenticated devices in real orders with
 * signed rosters, the relay started as its own (pinnable) process on the memory
 * or Redis store, couriers replaying pre-sealed envelopes, receivers resuming
 * with afterSeq and acking cumulatively.
 *
 * @example
 *   const target = new SealRelayTarget({ store: 'memory', pin: true });
 *   const report = await runLoad({ target, scenario: 'steady', profile: 'lan', orders: 250, ratePerSec: 2000, durationMs: 10_000 });
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeEnvelopeHeader } from '../../crypto/index.ts';
import { decodeServerFrame, encodeFrame } from '../../protocol/codec.ts';
import type { PeerTarget, Publisher, Receiver, ReceiverSink, StartedServer } from '../driver/target.ts';
import { PeerUnavailable } from '../driver/target.ts';
import { freePort, hasBinary, serverHost, spawnServer, tsxArgs, type ServerProcess } from '../peers/process.ts';
import { bodyBytesForEnvelope, makeFixtures, preSeal, type LoadFixtures } from './fixtures.ts';
import { wire } from './relay-connection.ts';
import { ACK_EVERY_MS, ErrorTally, SealPublisher, SealReceiver } from './sealrelay-clients.ts';

const RELAY_MAIN = fileURLToPath(new URL('./relay-main.ts', import.meta.url));

export interface SealRelayOptions {
  readonly store: 'memory' | 'redis';
  readonly pin?: boolean;
  /** Extra relay settings (RelayConfigInput), e.g. rate limits for a peak scenario. */
  readonly relayConfig?: Record<string, unknown>;
  /** Envelopes about this long (the smallest real sealed envelope is ~400 bytes). */
  readonly envelopeBytes?: number;
  /**
   * Relay nodes on one Redis (failover): clients start on node k % nodes and try
   * the next node on every reconnect attempt; the nodes share a relay id and a
   * ticket secret so a device resumes on either.
   */
  readonly nodes?: 1 | 2;
}

export class SealRelayTarget implements PeerTarget {
  readonly name: string;
  readonly bodies = 'pre-sealed' as const;
  readonly errors = new ErrorTally();
  private fixtures: LoadFixtures | undefined;
  private nodes: Array<{ port: number; proc: ServerProcess | undefined }> = [];
  private readonly ticketSecret = randomBytes(32).toString('hex');
  private redis: { proc: ServerProcess; dir: string } | undefined;
  private publishers: SealPublisher[] = [];
  private readonly receivers = new Set<SealReceiver>();
  private ackTicker: NodeJS.Timeout | undefined;
  /** Size of the envelopes actually sent, for the report. */
  envelopeBytes = 0;

  constructor(private readonly opts: SealRelayOptions) {
    if ((opts.nodes ?? 1) > 1 && opts.store !== 'redis') throw new RangeError('several relay nodes need the redis store');
    this.name = `sealrelay-${opts.store}${(opts.nodes ?? 1) > 1 ? `-x${opts.nodes}` : ''}`;
  }

  /** Where client k connects: its home node first, then the next one on each attempt. */
  private urlFor(k: number): () => string {
    let attempt = 0;
    return () => `ws://${serverHost()}:${this.nodes[(k + attempt++) % this.nodes.length]!.port}/`;
  }
  private envelopes: Uint8Array[][] = [];

  /** HTTP base URL of the running relay (autocannon runs). */
  get httpUrl(): string {
    return `http://${serverHost()}:${this.nodes[0]!.port}`;
  }

  /** The orders, devices and pre-sealed envelopes of the current run (HTTP runs and k6 fixtures reuse them). */
  get loadFixtures(): { fixtures: LoadFixtures; envelopes: readonly (readonly Uint8Array[])[] } {
    if (!this.fixtures) throw new Error('start() first');
    return { fixtures: this.fixtures, envelopes: this.envelopes };
  }

  async start(plan: { orders: number; receiversPerOrder: number; messagesPerOrder: number }): Promise<StartedServer> {
    if (this.opts.store === 'redis' && !hasBinary('redis-server')) throw new PeerUnavailable(this.name, 'apt-get install -y redis-server');
    const runId = Math.random().toString(36).slice(2, 8);
    this.fixtures = await makeFixtures({ orders: plan.orders, receiversPerOrder: plan.receiversPerOrder, runId });
    const body = bodyBytesForEnvelope(this.opts.envelopeBytes ?? 256);
    const envelopes = this.fixtures.orders.map((o) => preSeal(o, plan.messagesPerOrder, body));
    this.envelopes = envelopes;
    this.envelopeBytes = envelopes[0]?.[0]?.byteLength ?? 0;
    this.warmEnvelope = envelopes[0]?.[0];
    if (this.opts.store === 'redis') await this.startRedis();
    this.nodes = [];
    for (let i = 0; i < (this.opts.nodes ?? 1); i++) this.nodes.push({ port: await freePort(), proc: undefined });
    for (let i = 0; i < this.nodes.length; i++) await this.startNode(i);
    this.publishers = this.fixtures.orders.map((o, i) => new SealPublisher(this.urlFor(i), o.publisher, this.errors, o.orderId, envelopes[i]!));
    for (let i = 0; i < this.publishers.length; i += 50) {
      await Promise.all(
        this.publishers.slice(i, i + 50).map(async (p, k) => {
          await p.openWithRetry();
          await p.putRoster(this.fixtures!.orders[i + k]!.roster);
        }),
      );
    }
    this.ackTicker = setInterval(() => {
      for (const r of this.receivers) r.flushAck();
    }, ACK_EVERY_MS);
    // The last node is the one a failover keeps: sample it as "the server", the others beside it.
    const others = this.nodes.slice(0, -1).map((n, i) => ({ name: `relay-node-${i}`, pid: n.proc!.pid }));
    const sidecars = [...others, ...(this.redis ? [{ name: 'redis-server', pid: this.redis.proc.pid }] : [])];
    return { pid: this.nodes[this.nodes.length - 1]!.proc!.pid, payloadBytes: this.envelopeBytes, ...(sidecars.length ? { sidecars } : {}) };
  }

  private async startRedis(): Promise<void> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'sr-lt-redis-'));
    // AOF with fsync every second: the durable set-up DESIGN §4 assumes, at its usual cost.
    const proc = await spawnServer({
      cmd: 'redis-server',
      args: ['--port', String(port), '--bind', serverHost(), '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'],
      port,
      pin: this.opts.pin ?? false,
    });
    this.redis = { proc, dir };
    this.redisPort = port;
  }
  private redisPort = 0;

  private async startNode(i: number): Promise<void> {
    const node = this.nodes[i]!;
    const config = {
      host: serverHost(),
      port: node.port,
      relayId: 'sealrelay-loadtest',
      ticketSecrets: [this.ticketSecret],
      trustedAuthorities: [Buffer.from(this.fixtures!.authority.publicKey).toString('hex')],
      ...(this.redis ? { redisUrl: `redis://${serverHost()}:${this.redisPort}` } : {}),
      ...this.opts.relayConfig,
    };
    const { cmd, args } = tsxArgs(RELAY_MAIN);
    // SEALRELAY_LT_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof': node flags for the relay child only.
    const nodeArgs = process.env.SEALRELAY_LT_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    args.unshift(...nodeArgs);
    node.proc = await spawnServer({ cmd, args, port: node.port, pin: this.opts.pin ?? false, env: { SEALRELAY_LT_CONFIG: JSON.stringify(config) }, readyTimeoutMs: 30_000 });
  }

  /** The failover scenario: kill relay node i (-9 by default) and leave it dead. */
  async killNode(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.nodes[i]?.proc?.stop(signal);
  }

  get nodeCount(): number {
    return this.nodes.length || (this.opts.nodes ?? 1);
  }

  errorCounts(): Record<string, number> {
    return this.errors.toJSON();
  }

  /** The relay-restart scenario: kill the relay (-9 by default) and start it again on the same port and store. */
  async restartRelay(signal: NodeJS.Signals = 'SIGKILL'): Promise<number> {
    await this.nodes[0]?.proc?.stop(signal);
    await this.startNode(0);
    return this.nodes[0]!.proc!.pid;
  }

  /**
   * Decode one deliver and one puback frame locally before the clock starts:
   * first use of the frame schemas (zod compiles them lazily) and of the envelope
   * header parser otherwise stalls the driver by ~100–300 ms at t = 0.
   */
  async warmUp(): Promise<void> {
    const env = this.warmEnvelope;
    if (!env) return;
    for (let i = 0; i < 200; i++) {
      decodeServerFrame(encodeFrame({ t: 'deliver', order: 'warm', messages: [{ seq: i + 1, prev: i, envelope: wire(env), at: Date.now() }] }));
      decodeServerFrame(encodeFrame({ t: 'puback', order: 'warm', clientMsgId: String(i), seq: i + 1, duplicate: false }));
      decodeEnvelopeHeader(env);
    }
  }
  private warmEnvelope: Uint8Array | undefined;

  async connectPublisher(order: number): Promise<Publisher> {
    const p = this.publishers[order];
    if (!p) throw new RangeError(`no publisher for order ${order}: start() first`);
    return { publish: (seq) => p.publish(seq), close: () => p.close() };
  }

  async connectReceiver(order: number, party: number, sink: ReceiverSink): Promise<Receiver> {
    const o = this.fixtures?.orders[order];
    const device = o?.receivers[party];
    if (!o || !device) throw new RangeError(`no receiver ${party} of order ${order}`);
    const r = new SealReceiver(this.urlFor(order * 3 + party), device, this.errors, o.orderId, sink);
    await r.openWithRetry();
    this.receivers.add(r);
    return {
      interrupt: () => r.interrupt(),
      stall: (ms) => r.stall(ms),
      close: async () => {
        r.flushAck();
        this.receivers.delete(r);
        await r.close();
      },
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.ackTicker);
    await Promise.allSettled([...this.receivers].map((r) => r.close()));
    this.receivers.clear();
    await Promise.allSettled(this.publishers.map((p) => p.close()));
    await Promise.allSettled(this.nodes.map((n) => n.proc?.stop()));
    this.nodes = [];
    if (this.redis) {
      await this.redis.proc.stop();
      rmSync(this.redis.dir, { recursive: true, force: true });
      this.redis = undefined;
    }
  }
}
