/**
 * PeerTargets for the two WebSocket relays (bare uWS and `ws`): same URL scheme,
 * same client (the `ws` library in the driver), different server process.
 * Neither relay resumes anything: a dropped socket reconnects and simply misses
 * what was published meanwhile, which is exactly what the comparison shows.
 *
 * Topics are `<order>.<scope>`: a publisher socket per scope it sends into, a
 * receiver subscribed to the scopes its role reads (`/o/<t1>,<t2>/sub`), so the
 * fan-out is the one the role policy gives sealrelay.
 */
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { locationOnly, scopesReadBy, type Mix } from '../driver/mix.ts';
import { decodePayload, encodePayload } from '../driver/payload.ts';
import type { PeerTarget, Publisher, Receiver, ReceiverSink, StartPlan, StartedServer } from '../driver/target.ts';
import { freePort, serverHost, spawnServer, tsxArgs, type ServerProcess } from './process.ts';

const ENTRIES = {
  'bare-uws': fileURLToPath(new URL('./uws-relay-main.ts', import.meta.url)),
  ws: fileURLToPath(new URL('./ws-relay-main.ts', import.meta.url)),
} as const;

const RECONNECT_DELAY_MS = 250;

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

export class WsRelayPeer implements PeerTarget {
  readonly bodies = 'opaque' as const;
  private server: ServerProcess | undefined;
  private port = 0;
  private mix: Mix = locationOnly();
  private stopping = false;

  constructor(
    readonly name: 'bare-uws' | 'ws',
    private readonly opts: { pin?: boolean } = {},
  ) {}

  async start(plan: StartPlan): Promise<StartedServer> {
    this.mix = plan.mix;
    if (this.server) return { pid: this.server.pid };
    this.stopping = false;
    this.port = await freePort();
    const { cmd, args } = tsxArgs(ENTRIES[this.name], [String(this.port), serverHost()]);
    this.server = await spawnServer({ cmd, args, port: this.port, pin: this.opts.pin ?? false });
    return { pid: this.server.pid };
  }

  private url(topics: readonly string[], role: 'pub' | 'sub'): string {
    return `ws://${serverHost()}:${this.port}/o/${topics.join(',')}/${role}`;
  }

  async connectPublisher(order: number, party: number): Promise<Publisher> {
    const mix = this.mix;
    const scopes = [...new Set(mix.classes.filter((c) => c.sender === party).map((c) => c.scope))];
    let closed = false;
    // One socket per scope this party sends into; each reconnects on its own.
    const sockets = new Map<string, WebSocket>();
    const keep = (scope: string, ws: WebSocket) => {
      sockets.set(scope, ws);
      ws.on('error', () => undefined);
      ws.once('close', () => {
        if (closed || this.stopping) return;
        const retry = () => void open(this.url([`${order}.${scope}`], 'pub')).then((n) => keep(scope, n), () => setTimeout(retry, RECONNECT_DELAY_MS));
        setTimeout(retry, RECONNECT_DELAY_MS);
      });
    };
    for (const scope of scopes) keep(scope, await open(this.url([`${order}.${scope}`], 'pub')));
    return {
      publish: ({ cls, seq, intendedMs }) => {
        const c = mix.classes[cls]!;
        const ws = sockets.get(c.scope);
        // A publish while disconnected is lost: these relays have no outbox.
        if (ws?.readyState === WebSocket.OPEN) ws.send(encodePayload({ order, seq, intendedMs, cls }, c.bytes));
      },
      close: async () => {
        closed = true;
        for (const ws of sockets.values()) ws.close();
      },
    };
  }

  async connectReceiver(order: number, receiver: number, sink: ReceiverSink): Promise<Receiver> {
    let closed = false;
    const url = this.url(
      scopesReadBy(this.mix, receiver).map((s) => `${order}.${s}`),
      'sub',
    );
    const attach = (ws: WebSocket) => {
      ws.on('message', (data: Buffer) => {
        const p = decodePayload(data);
        if (p && p.order === order) sink.message({ cls: p.cls, seq: p.seq, intendedMs: p.intendedMs });
      });
      ws.on('error', () => undefined);
      ws.once('close', () => {
        if (closed || this.stopping) return;
        sink.disconnected();
        const retry = () =>
          void open(url).then(
            (n) => {
              current = n;
              attach(n);
              sink.reconnected();
            },
            () => setTimeout(retry, RECONNECT_DELAY_MS),
          );
        setTimeout(retry, RECONNECT_DELAY_MS);
      });
    };
    let current = await open(url);
    attach(current);
    return {
      interrupt: () => current.terminate(),
      close: async () => {
        closed = true;
        current.close();
      },
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.server?.stop();
    this.server = undefined;
  }
}
