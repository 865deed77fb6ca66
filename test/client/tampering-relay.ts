/**
 * A malicious relay for tests: a WebSocket man-in-the-middle in front of the
 * real relay that decodes every relay frame and lets a test rewrite deliveries
 * and roster answers. It keeps `prev` links consistent with what it forwards, as
 * a careful attacker would, so the client cannot spot tampering by sequence
 * numbers alone and must rely on signatures and sender hash chains.
 */
import WebSocket, { WebSocketServer } from 'ws';
import { decodeServerFrame, encodeFrame, type DeliveredMessage, type ServerFrameOf } from '../../protocol/index.ts';

export type DeliverHook = (order: string, messages: DeliveredMessage[]) => DeliveredMessage[];
export type RostersHook = (frame: ServerFrameOf<'rosters'>) => ServerFrameOf<'rosters'>;
export type KeyPackagesHook = (frame: ServerFrameOf<'kp'>) => ServerFrameOf<'kp'>;

export class TamperingRelay {
  deliver: DeliverHook | undefined;
  rosters: RostersHook | undefined;
  keyPackages: KeyPackagesHook | undefined;
  private readonly lastForwarded = new Map<string, number>();

  private constructor(
    private readonly server: WebSocketServer,
    private readonly upstream: string,
  ) {
    server.on('connection', (client) => this.bridge(client));
  }

  static async start(upstream: string): Promise<TamperingRelay> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => server.once('listening', () => r()));
    return new TamperingRelay(server, upstream);
  }

  get url(): string {
    const a = this.server.address();
    return `ws://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`;
  }

  close(): Promise<void> {
    for (const c of this.server.clients) c.terminate();
    return new Promise((r) => this.server.close(() => r()));
  }

  private bridge(client: WebSocket): void {
    const up = new WebSocket(this.upstream);
    const early: Buffer[] = [];
    up.on('open', () => early.splice(0).forEach((b) => up.send(b)));
    client.on('message', (data: Buffer) => (up.readyState === WebSocket.OPEN ? up.send(data) : early.push(data)));
    up.on('message', (data: Buffer) => {
      const out = this.rewrite(new Uint8Array(data));
      if (out && client.readyState === WebSocket.OPEN) client.send(out);
    });
    const end = () => {
      client.terminate();
      up.terminate();
    };
    client.on('close', end);
    up.on('close', end);
    client.on('error', end);
    up.on('error', end);
  }

  private rewrite(bytes: Uint8Array): Uint8Array | undefined {
    const frame = decodeServerFrame(bytes);
    if (frame.t === 'rosters' && this.rosters) return encodeFrame(this.rosters(frame));
    if (frame.t === 'kp' && this.keyPackages) return encodeFrame(this.keyPackages(frame));
    if (frame.t !== 'deliver' || !this.deliver) return bytes;
    const messages = this.deliver(frame.order, frame.messages.map((m) => ({ ...m })));
    if (messages.length === 0) return undefined;
    // Re-link: each forwarded message points at the previous forwarded one.
    let prev = this.lastForwarded.get(frame.order) ?? messages[0]!.prev;
    for (const m of messages) {
      m.prev = prev;
      prev = m.seq;
    }
    this.lastForwarded.set(frame.order, prev);
    return encodeFrame({ ...frame, messages });
  }
}
