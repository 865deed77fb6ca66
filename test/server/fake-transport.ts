/**
 * An in-memory Transport for unit tests: connections whose outbound bytes are
 * captured (and decoded on demand), with a settable buffered amount so tests
 * can provoke backpressure without a network.
 */
import { decodeServerFrame } from '../../protocol/codec.ts';
import type { ServerFrame } from '../../protocol/frames.ts';
import type { Connection, HttpHandler, HttpMethod, RouteOptions, SendResult, SocketHandler, SocketOptions, Transport } from '../../server/transport.ts';

export class FakeConnection implements Connection {
  static next = 0;
  readonly id = `fake-${++FakeConnection.next}`;
  readonly remoteAddress = '127.0.0.1';
  closed = false;
  closeCode: number | undefined;
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  /** When set, every send adds its size to bufferedAmount (a reader that stopped reading). */
  stalled = false;
  hardLimit = Infinity;

  send(bytes: Uint8Array): SendResult {
    if (this.closed) return 'dropped';
    if (this.bufferedAmount > this.hardLimit) return 'dropped';
    // Copy, as the Connection contract promises the caller (it may reuse its buffer); Buffer#slice would not copy.
    this.sent.push(Uint8Array.prototype.slice.call(bytes));
    if (this.stalled) this.bufferedAmount += bytes.byteLength;
    return this.bufferedAmount > 0 ? 'backpressure' : 'ok';
  }
  end(code: number): void {
    this.closed = true;
    this.closeCode = code;
  }
  terminate(): void {
    this.closed = true;
  }
  cork(fn: () => void): void {
    fn();
  }
  frames(): ServerFrame[] {
    return this.sent.map((b) => decodeServerFrame(b));
  }
}

/** A Transport with no network: tests open connections and push bytes by hand. */
export class FakeTransport implements Transport {
  readonly description = 'fake';
  private handler: SocketHandler | undefined;
  readonly routes = new Map<string, HttpHandler>();

  ws(_pattern: string, _options: SocketOptions, handler: SocketHandler): void {
    this.handler ??= handler;
  }
  route(method: HttpMethod, pattern: string, _options: RouteOptions, handler: HttpHandler): void {
    this.routes.set(`${method} ${pattern}`, handler);
  }
  async listen(): Promise<number> {
    return 0;
  }
  stopListening(): void {}

  connect(): FakeConnection {
    const conn = new FakeConnection();
    const end = conn.end.bind(conn);
    // Mirror uWS: end() runs the close callback synchronously.
    conn.end = (code: number) => {
      if (conn.closed) return;
      end(code);
      this.handler!.close(conn, code);
    };
    this.handler!.open(conn);
    return conn;
  }
  receive(conn: FakeConnection, bytes: Uint8Array, isBinary = true): void {
    this.handler!.message(conn, bytes, isBinary);
  }
}
