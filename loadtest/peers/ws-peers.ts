/**
 * PeerTargets for the two WebSocket relays (bare uWS and `ws`): same URL scheme,
 * same client (the `ws` library in the driver), different server process.
 * Neither relay resumes anything: a dropped socket reconnects and simply misses
 * what was published meanwhile, which is exactly what the comparison shows.
 */
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { decodePayload, encodePayload } from '../driver/payload.ts';
import type { PeerTarget, Publisher, Receiver, ReceiverSink, StartedServer } from '../driver/target.ts';
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
  private payloadBytes = 256;
  private stopping = false;

  constructor(
    readonly name: 'bare-uws' | 'ws',
    private readonly opts: { pin?: boolean } = {},
  ) {}

  async start(plan: { payloadBytes: number }): Promise<StartedServer> {
    this.payloadBytes = plan.payloadBytes;
    if (this.server) return { pid: this.server.pid };
    this.stopping = false;
    this.port = await freePort();
    const { cmd, args } = tsxArgs(ENTRIES[this.name], [String(this.port), serverHost()]);
    this.server = await spawnServer({ cmd, args, port: this.port, pin: this.opts.pin ?? false });
    return { pid: this.server.pid };
  }

  private url(order: number, role: 'pub' | 'sub'): string {
    return `ws://${serverHost()}:${this.port}/o/${order}/${role}`;
  }

  async connectPublisher(order: number): Promise<Publisher> {
    let ws = await open(this.url(order, 'pub'));
    const size = this.payloadBytes;
    let closed = false;
    const keep = () =>
      ws.once('close', () => {
        if (closed || this.stopping) return;
        setTimeout(() => void open(this.url(order, 'pub')).then((n) => ((ws = n), keep()), () => undefined), RECONNECT_DELAY_MS);
      });
    keep();
    return {
      publish: (seq, intendedMs) => {
        // A publish while disconnected is lost: these relays have no outbox.
        if (ws.readyState === WebSocket.OPEN) ws.send(encodePayload({ order, seq, intendedMs }, size));
      },
      close: async () => {
        closed = true;
        ws.close();
      },
    };
  }

  async connectReceiver(order: number, _party: number, sink: ReceiverSink): Promise<Receiver> {
    let closed = false;
    const attach = (ws: WebSocket) => {
      ws.on('message', (data: Buffer) => {
        const p = decodePayload(data);
        if (p && p.order === order) sink.message({ seq: p.seq, intendedMs: p.intendedMs });
      });
      ws.on('error', () => undefined);
      ws.once('close', () => {
        if (closed || this.stopping) return;
        sink.disconnected();
        const retry = () =>
          void open(this.url(order, 'sub')).then(
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
    let current = await open(this.url(order, 'sub'));
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
