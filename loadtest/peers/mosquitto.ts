/**
 * Mosquitto with MQTT QoS 1: the broker with a delivery guarantee people reach for
 * first. Each receiver has a persistent session (clean: false, fixed client id) so
 * QoS 1 messages queued while it was away are redelivered on reconnect; QoS 1 is
 * at-least-once, so duplicates are possible and counted. Topics are
 * `o/<order>/<scope>`; a receiver subscribes to the scopes its role reads.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { locationOnly, scopesReadBy, type Mix } from '../driver/mix.ts';
import { decodePayload, encodePayload } from '../driver/payload.ts';
import { PeerUnavailable, type PeerTarget, type Publisher, type Receiver, type ReceiverSink, type StartPlan, type StartedServer } from '../driver/target.ts';
import { freePort, hasBinary, serverHost, spawnServer, type ServerProcess } from './process.ts';

const BINARIES = ['mosquitto', '/usr/sbin/mosquitto'];

export class MosquittoPeer implements PeerTarget {
  readonly name = 'mosquitto';
  readonly bodies = 'opaque' as const;
  private server: ServerProcess | undefined;
  private dir: string | undefined;
  private port = 0;
  private mix: Mix = locationOnly();
  private readonly runId = Math.random().toString(36).slice(2, 8);

  constructor(private readonly opts: { pin?: boolean } = {}) {}

  async start(plan: StartPlan): Promise<StartedServer> {
    this.mix = plan.mix;
    if (this.server) return { pid: this.server.pid };
    const bin = BINARIES.find(hasBinary);
    if (!bin) throw new PeerUnavailable(this.name, 'apt-get install -y mosquitto');
    this.port = await freePort();
    this.dir = mkdtempSync(join(tmpdir(), 'sr-mosquitto-'));
    const conf = join(this.dir, 'mosquitto.conf');
    // Unlimited queues: a QoS 1 broker that drops queued messages under load would
    // be measured as lossy for a setting, not for its design.
    writeFileSync(
      conf,
      [`listener ${this.port} ${serverHost()}`, 'allow_anonymous true', 'persistence false', 'max_queued_messages 0', 'max_inflight_messages 0', 'log_type error', ''].join('\n'),
    );
    this.server = await spawnServer({ cmd: bin, args: ['-c', conf], port: this.port, pin: this.opts.pin ?? false });
    return { pid: this.server.pid };
  }

  private connect(clientId: string, clean: boolean): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
      const c = mqtt.connect(`mqtt://${serverHost()}:${this.port}`, { clientId, clean, reconnectPeriod: 250, connectTimeout: 10_000, protocolVersion: 4 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
  }

  async connectPublisher(order: number, party: number): Promise<Publisher> {
    const c = await this.connect(`pub-${this.runId}-${order}-${party}`, false);
    const classes = this.mix.classes;
    return {
      // mqtt.js queues publishes while offline and resends unacked QoS 1 ones on reconnect.
      publish: ({ cls, seq, intendedMs }) =>
        void c.publish(`o/${order}/${classes[cls]!.scope}`, Buffer.from(encodePayload({ order, seq, intendedMs, cls }, classes[cls]!.bytes)), { qos: 1 }),
      close: () => new Promise<void>((r) => c.end(false, {}, () => r())),
    };
  }

  async connectReceiver(order: number, receiver: number, sink: ReceiverSink): Promise<Receiver> {
    const c = await this.connect(`sub-${this.runId}-${order}-${receiver}`, false);
    for (const scope of scopesReadBy(this.mix, receiver)) await c.subscribeAsync(`o/${order}/${scope}`, { qos: 1 });
    c.on('message', (_topic, data) => {
      const p = decodePayload(data);
      if (p && p.order === order) sink.message({ cls: p.cls, seq: p.seq, intendedMs: p.intendedMs });
    });
    c.on('offline', () => sink.disconnected());
    c.on('connect', () => sink.reconnected());
    c.on('error', () => undefined);
    return {
      interrupt: () => c.stream.destroy(),
      close: () => new Promise<void>((r) => c.end(true, {}, () => r())),
    };
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
