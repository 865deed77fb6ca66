/**
 * sealrelay as a load target: real authenticated devices in real orders with
 * signed rosters, the relay started as its own (pinnable) process on the memory
 * or Redis store. Each party of an order is one device on one socket: it
 * publishes its classes of the mix (outbox retried with the same clientMsgId)
 * and, if it receives, resumes with afterSeq and acks cumulatively. Attachment
 * messages upload their encrypted blob over signed HTTP first.
 *
 * Bodies are either `pre-sealed` (every envelope sealed before the clock starts,
 * so the driver spends its core on sockets; receivers read the stream and
 * sequence from the clear header) or `sdk` (sealed at send time, opened —
 * verified, decrypted, schema-checked — by every receiver; sdk-bodies.ts).
 *
 * @example
 *   const target = new SealRelayTarget({ store: 'memory', pin: true, bodies: 'sdk' });
 *   const report = await runLoad({ target, scenario: 'steady', profile: 'lan', orders: 25, ratePerSec: 200, durationMs: 10_000, mix: STEADY_MIX });
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envelopeRoute, OutboundSenderKey, sealEnvelope, type EnvelopeRoute } from '../../crypto/index.ts';
import { decodeBody, type AttachmentRef } from '../../client/messages.ts';
import { decodeServerFrame, encodeFrame } from '../../protocol/codec.ts';
import { locationOnly, partyOfReceiver, type Mix } from '../driver/mix.ts';
import { epochNowMs } from '../driver/payload.ts';
import type { AttachmentStats, Outgoing, PeerTarget, Publisher, Receiver, ReceiverSink, StartPlan, StartedServer } from '../driver/target.ts';
import { PeerUnavailable } from '../driver/target.ts';
import { LOADTEST_RELAY_ID } from '../http/signing.ts';
import { freePort, hasBinary, serverHost, spawnServer, tsxArgs, type ServerProcess } from '../peers/process.ts';
import { BlobUploads, prepareAttachment, type PreparedAttachment } from './attachments.ts';
import { messageBody } from './bodies.ts';
import { makeFixtures, partyDevice, type LoadFixtures, type LoadOrder } from './fixtures.ts';
import { wire } from './relay-connection.ts';
import { ACK_EVERY_MS, ErrorTally, SealParty } from './sealrelay-clients.ts';
import { SdkOrder } from './sdk-bodies.ts';

const RELAY_MAIN = fileURLToPath(new URL('./relay-main.ts', import.meta.url));
/** Sockets opened at once while setting up (each authenticates with a signature). */
const SETUP_BATCH = 100;
/**
 * Blob memory of the load relay: a mix at a few thousand messages per second
 * uploads tens of MiB of attachments a minute, past the 256 MiB default.
 */
const LOAD_BLOB_BUDGET_BYTES = 2 * 1024 * 1024 * 1024;

export type Bodies = 'pre-sealed' | 'sdk';

export interface SealRelayOptions {
  readonly store: 'memory' | 'redis';
  readonly pin?: boolean;
  /** Extra relay settings (RelayConfigInput), e.g. rate limits for a peak scenario. */
  readonly relayConfig?: Record<string, unknown>;
  /** How bodies are made (default 'pre-sealed'). */
  readonly bodies?: Bodies;
  /**
   * Relay nodes on one Redis (failover): clients start on node k % nodes and try
   * the next node on every reconnect attempt; the nodes share a relay id and a
   * ticket secret so a device resumes on either.
   */
  readonly nodes?: 1 | 2;
}

export class SealRelayTarget implements PeerTarget {
  readonly name: string;
  readonly bodies: Bodies;
  readonly errors = new ErrorTally();
  /** bodies 'sdk': deliveries that did not open, by code. */
  readonly openErrors = new ErrorTally();
  private fixtures: LoadFixtures | undefined;
  private mix: Mix = locationOnly();
  private nodes: Array<{ port: number; proc: ServerProcess | undefined }> = [];
  private readonly ticketSecret = randomBytes(32).toString('hex');
  private redis: { proc: ServerProcess; dir: string } | undefined;
  /** parties[order][party]: one device, one socket. */
  private parties: SealParty[][] = [];
  private ackTicker: NodeJS.Timeout | undefined;
  /** bodies 'pre-sealed': envelopes[order][cls][seq - 1]. */
  private sealed: Uint8Array[][][] = [];
  /** bodies 'pre-sealed': the attachment of each media message, attachments[order][cls][seq - 1]. */
  private attachments: (PreparedAttachment | undefined)[][][] = [];
  private sdk: SdkOrder[] = [];
  /** Per order: the class of an envelope from its clear header. */
  private classes: Array<Map<string, number>> = [];
  private uploads = new BlobUploads((attempt) => this.httpUrlOf(attempt));
  /** Size of the envelopes of each class, for the report. */
  classBytes: number[] = [];

  constructor(private readonly opts: SealRelayOptions) {
    if ((opts.nodes ?? 1) > 1 && opts.store !== 'redis') throw new RangeError('several relay nodes need the redis store');
    this.name = `sealrelay-${opts.store}${(opts.nodes ?? 1) > 1 ? `-x${opts.nodes}` : ''}`;
    this.bodies = opts.bodies ?? 'pre-sealed';
  }

  /** Size of the most frequent class's envelopes (what bench:relay hands the bare relay). */
  get envelopeBytes(): number {
    return this.classBytes[0] ?? 0;
  }

  /**
   * Where client k connects: its home node first, then the next one on each
   * attempt. Party p of order i is client i + p, so with two nodes each node is home
   * to half the couriers and half the receivers.
   */
  private urlFor(k: number): () => string {
    let attempt = 0;
    return () => `ws://${serverHost()}:${this.nodes[(k + attempt++) % this.nodes.length]!.port}/`;
  }

  /** HTTP base URL of the running relay (autocannon runs). */
  get httpUrl(): string {
    return this.httpUrlOf(0);
  }

  /** HTTP base URL of node `k % nodes`: an upload retried after a failover goes to the surviving node. */
  private httpUrlOf(k: number): string {
    return `http://${serverHost()}:${this.nodes[k % this.nodes.length]!.port}`;
  }

  /** The orders, devices and pre-sealed envelopes of class 0 (HTTP runs and k6 fixtures reuse them). */
  get loadFixtures(): { fixtures: LoadFixtures; envelopes: readonly (readonly Uint8Array[])[] } {
    if (!this.fixtures) throw new Error('start() first');
    return { fixtures: this.fixtures, envelopes: this.sealed.map((byClass) => byClass[0] ?? []) };
  }

  async start(plan: StartPlan): Promise<StartedServer> {
    if (this.opts.store === 'redis' && !hasBinary('redis-server')) throw new PeerUnavailable(this.name, 'apt-get install -y redis-server');
    const runId = Math.random().toString(36).slice(2, 8);
    this.mix = plan.mix;
    const now = Date.now();
    this.fixtures = await makeFixtures({ orders: plan.orders, receiversPerOrder: plan.receiversPerOrder, runId });
    const orders = this.fixtures.orders;
    this.classes = orders.map((o) => new Map(this.mix.classes.map((c, i) => [classKey(partyDevice(o, c.sender).deviceId, c.kind, c.scope), i])));
    this.classBytes = this.mix.classes.map((_, c) => (orders[0] ? this.sampleEnvelope(orders[0], c).byteLength : 0));
    if (this.bodies === 'pre-sealed') this.preSeal(plan);
    else {
      const trusted = [this.fixtures.authority.publicKey];
      this.sdk = [];
      for (const o of orders) this.sdk.push(await SdkOrder.create(o, this.mix, trusted, now));
    }
    this.warmEnvelope = this.sealed[0]?.[0]?.[0] ?? (orders[0] ? this.sampleEnvelope(orders[0], 0) : undefined);
    if (this.opts.store === 'redis') await this.startRedis();
    this.nodes = [];
    for (let i = 0; i < (this.opts.nodes ?? 1); i++) this.nodes.push({ port: await freePort(), proc: undefined });
    for (let i = 0; i < this.nodes.length; i++) await this.startNode(i);
    await this.connectParties(plan.receiversPerOrder);
    this.ackTicker = setInterval(() => {
      for (const row of this.parties) for (const p of row) if (p.receiving) p.flushAck();
    }, ACK_EVERY_MS);
    // The last node is the one a failover keeps: sample it as "the server", the others beside it.
    const others = this.nodes.slice(0, -1).map((n, i) => ({ name: `relay-node-${i}`, pid: n.proc!.pid }));
    const sidecars = [...others, ...(this.redis ? [{ name: 'redis-server', pid: this.redis.proc.pid }] : [])];
    return { pid: this.nodes[this.nodes.length - 1]!.proc!.pid, classBytes: this.classBytes, ...(sidecars.length ? { sidecars } : {}) };
  }

  /** One envelope of class `cls` of `order`, on a throw-away chain: its size is what every message of the class weighs. */
  private sampleEnvelope(order: LoadOrder, cls: number): Uint8Array {
    const c = this.mix.classes[cls]!;
    const sender = partyDevice(order, c.sender);
    const senderKey = OutboundSenderKey.create({ orderId: order.orderId, epoch: 1, scope: c.scope, senderDeviceId: sender.deviceId, now: Date.now() });
    const ref = c.attachmentBytes ? prepareAttachment(order.orderId, c.attachmentBytes).ref : undefined;
    this.warmRef ??= ref;
    return sealEnvelope({ senderKey, sender: sender.keys, kind: c.kind, body: messageBody(c, 1, Date.now(), ref) });
  }

  /**
   * Every envelope of the run, sealed now by its sender on one chain per class
   * (index k is message k + 1 of the class), with the attachments they name
   * encrypted now too. (Rotation every 100 messages is a client policy the relay
   * does not enforce; rotating would only add key packages to the setup.)
   */
  private preSeal(plan: StartPlan): void {
    const now = Date.now();
    this.sealed = [];
    this.attachments = [];
    for (const [i, o] of this.fixtures!.orders.entries()) {
      const envelopes: Uint8Array[][] = [];
      const files: (PreparedAttachment | undefined)[][] = [];
      this.mix.classes.forEach((c, cls) => {
        const sender = partyDevice(o, c.sender);
        const senderKey = OutboundSenderKey.create({ orderId: o.orderId, epoch: 1, scope: c.scope, senderDeviceId: sender.deviceId, now });
        const n = plan.streamCount(i, cls);
        const out: Uint8Array[] = [];
        const att: (PreparedAttachment | undefined)[] = [];
        for (let seq = 1; seq <= n; seq++) {
          const a = c.attachmentBytes ? prepareAttachment(o.orderId, c.attachmentBytes) : undefined;
          att.push(a);
          out.push(sealEnvelope({ senderKey, sender: sender.keys, kind: c.kind, body: messageBody(c, seq, now, a?.ref) }));
        }
        envelopes.push(out);
        files.push(att);
      });
      this.sealed.push(envelopes);
      this.attachments.push(files);
    }
  }

  /** Open every party's socket (the courier first: it carries the roster), then hand out sender keys (bodies 'sdk'). */
  private async connectParties(receiversPerOrder: number): Promise<void> {
    const orders = this.fixtures!.orders;
    const perOrder = receiversPerOrder + 1;
    this.parties = orders.map((o, i) => Array.from({ length: perOrder }, (_, p) => new SealParty(this.urlFor(i + p), partyDevice(o, p), this.errors, o.orderId)));
    await inBatches(orders.length, SETUP_BATCH, async (i) => {
      const courier = this.parties[i]![0]!;
      await courier.openWithRetry();
      await courier.putRoster(orders[i]!.roster);
    });
    await inBatches(orders.length * receiversPerOrder, SETUP_BATCH, (k) => this.parties[Math.floor(k / receiversPerOrder)]![1 + (k % receiversPerOrder)]!.openWithRetry());
    if (this.bodies !== 'sdk') return;
    const senders = [...new Set(this.mix.classes.map((c) => c.sender))];
    await inBatches(orders.length, SETUP_BATCH, async (i) => {
      for (const p of senders) await this.sdk[i]!.putKeyPackages(p, this.parties[i]![p]!);
    });
    await inBatches(orders.length * receiversPerOrder, SETUP_BATCH, async (k) => {
      const i = Math.floor(k / receiversPerOrder);
      const party = partyOfReceiver(k % receiversPerOrder);
      const failed = await this.sdk[i]!.fetchKeyPackages(party, this.parties[i]![party]!);
      if (failed > 0) this.openErrors.add('KEY_PACKAGE_INVALID');
    });
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
      relayId: LOADTEST_RELAY_ID,
      ticketSecrets: [this.ticketSecret],
      trustedAuthorities: [Buffer.from(this.fixtures!.authority.publicKey).toString('hex')],
      ...(this.redis ? { redisUrl: `redis://${serverHost()}:${this.redisPort}` } : {}),
      blobs: { memoryBudgetBytes: LOAD_BLOB_BUDGET_BYTES },
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

  openFailures(): Record<string, number> | undefined {
    return this.bodies === 'sdk' ? this.openErrors.toJSON() : undefined;
  }

  attachmentStats(): AttachmentStats {
    return this.uploads.stats();
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
      envelopeRoute(env);
    }
    // bodies 'sdk': the SDK's body schemas compile on first use too.
    if (this.bodies !== 'sdk') return;
    for (const c of this.mix.classes) {
      if (c.attachmentBytes && !this.warmRef) continue;
      for (let i = 0; i < 50; i++) decodeBody(c.kind, messageBody(c, i + 1, Date.now(), c.attachmentBytes ? this.warmRef : undefined));
    }
  }
  private warmEnvelope: Uint8Array | undefined;
  private warmRef: AttachmentRef | undefined;

  async connectPublisher(order: number, party: number): Promise<Publisher> {
    const p = this.parties[order]?.[party];
    if (!p) throw new RangeError(`no party ${party} of order ${order}: start() first`);
    return {
      publish: (m) => this.send(order, party, p, m),
      // A party that also receives keeps its socket until its receiver closes.
      close: async () => (p.receiving ? undefined : p.close()),
    };
  }

  private send(order: number, party: number, p: SealParty, m: Outgoing): void | Promise<number> {
    const c = this.mix.classes[m.cls]!;
    const id = `${m.cls}.${m.seq}`;
    if (this.bodies === 'pre-sealed') {
      const envelope = this.sealed[order]?.[m.cls]?.[m.seq - 1];
      if (!envelope) throw new RangeError(`no pre-sealed envelope for message ${m.seq} of class ${c.name} of order ${order}`);
      const file = this.attachments[order]?.[m.cls]?.[m.seq - 1];
      if (!file) return p.publish(id, envelope);
      return this.uploads.upload(partyDevice(this.fixtures!.orders[order]!, party), p.orderId, file, m.intendedMs).then(() => {
        p.publish(id, envelope);
        return epochNowMs();
      });
    }
    const sdk = this.sdk[order]!;
    if (!c.attachmentBytes) return p.publish(id, sdk.seal(m.cls, m.seq, messageBody(c, m.seq, m.intendedMs)));
    // As an app does: encrypt the file, upload it, then seal and send the message naming it.
    const file = prepareAttachment(p.orderId, c.attachmentBytes);
    return this.uploads.upload(partyDevice(this.fixtures!.orders[order]!, party), p.orderId, file, m.intendedMs).then(() => {
      const at = epochNowMs();
      p.publish(id, sdk.seal(m.cls, m.seq, messageBody(c, m.seq, at, file.ref)));
      return at;
    });
  }

  async connectReceiver(order: number, receiver: number, sink: ReceiverSink): Promise<Receiver> {
    const party = partyOfReceiver(receiver);
    const p = this.parties[order]?.[party];
    if (!p) throw new RangeError(`no receiver ${receiver} of order ${order}: start() first`);
    const classes = this.classes[order]!;
    p.receive({
      sink,
      classify: (h: EnvelopeRoute) => classes.get(classKey(h.senderDeviceId, h.kind, h.scope)),
      ...(this.bodies === 'sdk' ? { open: this.sdk[order]!.opener(party, p, this.openErrors) } : {}),
    });
    return {
      interrupt: () => p.interrupt(),
      stall: (ms) => p.stall(ms),
      close: async () => {
        p.flushAck();
        await p.close();
      },
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.ackTicker);
    this.uploads.close();
    await Promise.allSettled(this.parties.flat().map((p) => p.close()));
    this.parties = [];
    await Promise.allSettled(this.nodes.map((n) => n.proc?.stop()));
    this.nodes = [];
    if (this.redis) {
      await this.redis.proc.stop();
      rmSync(this.redis.dir, { recursive: true, force: true });
      this.redis = undefined;
    }
    this.uploads = new BlobUploads((attempt) => this.httpUrlOf(attempt));
  }
}

/** The stream of an envelope: its sender, kind and scope name exactly one class of an order. */
function classKey(senderDeviceId: string, kind: string, scope: string): string {
  return `${senderDeviceId}|${kind}|${scope}`;
}

async function inBatches(n: number, batch: number, each: (i: number) => Promise<void>): Promise<void> {
  for (let start = 0; start < n; start += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, n - start) }, (_, k) => each(start + k)));
  }
}
