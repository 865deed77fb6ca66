/**
 * The narrow slice of a WebSocket/HTTP server the relay uses. The relay logic is
 * written against these interfaces only, so unit tests drive it with a fake
 * (test/server/fake-transport.ts) and integration tests with uWebSockets.js
 * (server/uws/transport.ts). Nothing here knows about frames or orders.
 */

/** What happened to bytes handed to `send`. */
export type SendResult =
  /** Written or queued below the transport's own limit. */
  | 'ok'
  /** Queued, but the socket's buffer is now above its drain threshold: stop sending until `drain`. */
  | 'backpressure'
  /** Not sent at all (the buffer is over its hard limit, or the socket is closed). */
  | 'dropped';

/** One accepted WebSocket. Valid from `open` until `close`; every method is a no-op after close. */
export interface Connection {
  /** Process-unique id, used in logs and metrics. */
  readonly id: string;
  /** Peer IP address as text. */
  readonly remoteAddress: string;
  /** Bytes queued in user space that the kernel has not accepted yet. */
  readonly bufferedAmount: number;
  readonly closed: boolean;
  /**
   * Send one binary message. The bytes are copied (or written) before send returns:
   * the caller may reuse them at once (the session encodes into one reused buffer).
   */
  send(bytes: Uint8Array): SendResult;
  /** Close with a WebSocket close frame (code, short reason). The `close` callback runs synchronously. */
  end(code: number, reason: string): void;
  /** Abort the TCP connection without a close frame. */
  terminate(): void;
  /** Batch several sends into one syscall. */
  cork(fn: () => void): void;
}

/** Callbacks for one WebSocket route. `bytes` in `message` is a private copy the handler may keep. */
export interface SocketHandler {
  open(conn: Connection): void;
  message(conn: Connection, bytes: Uint8Array, isBinary: boolean): void;
  /** The send buffer shrank: paused senders may resume. */
  drain(conn: Connection): void;
  close(conn: Connection, code: number): void;
}

export interface SocketOptions {
  /** Larger messages close the socket (transport-level check before any allocation). */
  readonly maxPayloadBytes: number;
  /** Seconds without traffic before the transport closes the socket (0 = never). */
  readonly idleTimeoutS: number;
  /** Hard cap on buffered outbound bytes; sends beyond it are 'dropped'. */
  readonly maxBackpressureBytes: number;
}

export type HttpMethod = 'get' | 'post' | 'put' | 'del';

/** A fully received HTTP request (the adapter buffers the body up to the route's limit). */
export interface HttpRequest {
  readonly method: string;
  /** Path without the query string, as sent (not decoded). */
  readonly path: string;
  /** The raw query string, without '?'. */
  readonly query: string;
  /** Route parameters (`:name` segments) in order, URL-decoded. */
  readonly params: readonly string[];
  readonly remoteAddress: string;
  readonly body: Uint8Array;
  /** Lower-case header name → value ('' when absent). */
  header(name: string): string;
}

export interface HttpReply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
}

export interface RouteOptions {
  /** Bodies larger than this are refused with 413 before they are buffered. */
  readonly maxBodyBytes: number;
}

export type HttpHandler = (req: HttpRequest) => Promise<HttpReply> | HttpReply;

export interface Transport {
  /** Which implementation this is, for the start-up log ('uWebSockets.js 20.x native', 'fake'). */
  readonly description: string;
  ws(pattern: string, options: SocketOptions, handler: SocketHandler): void;
  route(method: HttpMethod, pattern: string, options: RouteOptions, handler: HttpHandler): void;
  /** Listen; resolves with the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number>;
  /** Stop accepting new connections; open ones stay. */
  stopListening(): void;
}
