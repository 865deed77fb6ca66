/**
 * NATS, core (at-most-once, like the bare relays) and JetStream (file-backed
 * stream, one durable pull consumer per receiver and scope with explicit acks:
 * the peer with delivery guarantees). nats-server is started with -js on a free
 * port and a temporary store directory. Subjects are `o.<order>.<scope>`; a
 * receiver follows the scopes its role reads (one consumer each: nats-server 2.9,
 * Debian's, has no multi-subject filters).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, DeliverPolicy, StorageType, connect, type NatsConnection } from 'nats';
import { locationOnly, scopesReadBy, type Mix } from '../driver/mix.ts';
import { decodePayload, encodePayload } from '../driver/payload.ts';
import { PeerUnavailable, type PeerTarget, type Publisher, type Receiver, type ReceiverSink, type StartPlan, type StartedServer } from '../driver/target.ts';
import { freePort, hasBinary, serverHost, spawnServer, type ServerProcess } from './process.ts';

const STREAM = 'ORDERS';

export class NatsPeer implements PeerTarget {
  readonly name: 'nats-core' | 'nats-jetstream';
  readonly bodies = 'opaque' as const;
  private server: ServerProcess | undefined;
  private dir: string | undefined;
  private port = 0;
  private mix: Mix = locationOnly();
  private readonly conns = new Set<NatsConnection>();

  constructor(
    private readonly mode: 'core' | 'jetstream',
    private readonly opts: { pin?: boolean } = {},
  ) {
    this.name = mode === 'core' ? 'nats-core' : 'nats-jetstream';
  }

  async start(plan: StartPlan): Promise<StartedServer> {
    this.mix = plan.mix;
    if (this.server) return { pid: this.server.pid };
    if (!hasBinary('nats-server')) throw new PeerUnavailable(this.name, 'apt-get install -y nats-server (Debian bookworm has 2.9), or put nats-server on PATH');
    this.port = await freePort();
    this.dir = mkdtempSync(join(tmpdir(), 'sr-nats-'));
    this.server = await spawnServer({
      cmd: 'nats-server',
      args: ['-a', serverHost(), '-p', String(this.port), '-js', '-sd', this.dir],
      port: this.port,
      pin: this.opts.pin ?? false,
    });
    if (this.mode === 'jetstream') {
      const nc = await this.open();
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: STREAM, subjects: ['o.>'], storage: StorageType.File });
    }
    return { pid: this.server.pid };
  }

  private async open(): Promise<NatsConnection> {
    // maxReconnectAttempts -1: keep trying, as a mobile client would.
    const nc = await connect({ servers: `${serverHost()}:${this.port}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    this.conns.add(nc);
    return nc;
  }

  async connectPublisher(order: number): Promise<Publisher> {
    const nc = await this.open();
    const js = this.mode === 'jetstream' ? nc.jetstream() : undefined;
    const classes = this.mix.classes;
    return {
      publish: ({ cls, seq, intendedMs }) => {
        const c = classes[cls]!;
        const data = encodePayload({ order, seq, intendedMs, cls }, c.bytes);
        const subject = `o.${order}.${c.scope}`;
        // Open loop: never await the PubAck; a rejected publish is a loss the receivers will show.
        if (js) void js.publish(subject, data).catch(() => undefined);
        else nc.publish(subject, data);
      },
      close: () => nc.drain(),
    };
  }

  async connectReceiver(order: number, receiver: number, sink: ReceiverSink): Promise<Receiver> {
    const nc = await this.open();
    const deliver = (data: Uint8Array) => {
      const p = decodePayload(data);
      if (p && p.order === order) sink.message({ cls: p.cls, seq: p.seq, intendedMs: p.intendedMs });
    };
    const subjects = scopesReadBy(this.mix, receiver).map((scope) => `o.${order}.${scope}`);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') sink.disconnected();
        else if (s.type === 'reconnect') sink.reconnected();
      }
    })().catch(() => undefined);
    const stops: Array<() => void> = [];
    if (this.mode === 'core') {
      for (const subject of subjects) nc.subscribe(subject, { callback: (err, m) => !err && deliver(m.data) });
      await nc.flush();
    } else {
      const jsm = await nc.jetstreamManager();
      for (const [i, subject] of subjects.entries()) {
        const durable = `r_${order}_${receiver}_${i}`;
        await jsm.consumers.add(STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: subject });
        const consumer = await nc.jetstream().consumers.get(STREAM, durable);
        const messages = await consumer.consume({
          max_messages: 256,
          callback: (m) => {
            deliver(m.data);
            m.ack();
          },
        });
        // Stop pulling before closing, or the consumer logs one complaint per pending pull.
        stops.push(() => messages.stop());
      }
    }
    const stopConsumer = () => stops.forEach((s) => s());
    return {
      close: async () => {
        stopConsumer();
        this.conns.delete(nc);
        await nc.close();
      },
    };
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.conns].map((c) => c.close()));
    this.conns.clear();
    await this.server?.stop();
    this.server = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
