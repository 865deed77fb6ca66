/**
 * uWebSockets.js behind the Transport interface.
 *
 * uWS rules honoured here so that nothing above has to know them:
 * - message ArrayBuffers are valid only during the callback: we copy before
 *   handing bytes on (the codec returns subarrays of its input);
 * - a WebSocket must not be touched after its close callback, nor an
 *   HttpResponse after onAborted or end: every wrapper checks a flag first;
 * - the HttpRequest is stack-allocated: everything is read from it before the
 *   first await;
 * - writes from outside a uWS callback are corked into one syscall.
 */
import type { Connection, HttpHandler, HttpMethod, HttpReply, RouteOptions, SendResult, SocketHandler, SocketOptions, Transport } from '../transport.ts';
import { ByteSlab } from '../../protocol/slab.ts';
import { loadUws } from './loader.ts';
import type { UwsApp, UwsHttpRequest, UwsHttpResponse, UwsModule, UwsWebSocket } from './native.ts';

const decoder = new TextDecoder();
let nextConnectionNumber = 0;
const processTag = Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0');

interface SocketData {
  conn?: UwsConnection;
}

class UwsConnection implements Connection {
  readonly id = `c-${processTag}-${(++nextConnectionNumber).toString(36)}`;
  closed = false;
  readonly remoteAddress: string;

  constructor(private readonly ws: UwsWebSocket<SocketData>) {
    this.remoteAddress = formatAddress(ws.getRemoteAddressAsText());
  }

  get bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  send(bytes: Uint8Array): SendResult {
    if (this.closed) return 'dropped';
    const status = this.ws.send(bytes, true, false);
    return status === 1 ? 'ok' : status === 0 ? 'backpressure' : 'dropped';
  }

  end(code: number, reason: string): void {
    if (this.closed) return;
    // uWS runs the close callback synchronously inside end(); mark first so a
    // handler that reacts to close cannot re-enter this socket.
    this.closed = true;
    this.ws.end(code, reason.slice(0, 120));
  }

  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.close();
  }

  cork(fn: () => void): void {
    if (this.closed) return fn();
    this.ws.cork(fn);
  }
}

/** uWS prints IPv6 (and IPv4-mapped) addresses in full hex; shorten the common mapped form. */
function formatAddress(ab: ArrayBuffer): string {
  const text = decoder.decode(ab);
  const mapped = /^(?:0000:){5}ffff:([0-9a-f]{2})([0-9a-f]{2}):([0-9a-f]{2})([0-9a-f]{2})$/i.exec(text);
  if (!mapped) return text;
  return mapped.slice(1).map((h) => parseInt(h, 16)).join('.');
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Payload Too Large', 422: 'Unprocessable Entity',
  429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Status'}`;
}

export class UwsTransport implements Transport {
  readonly description: string;
  private readonly uws: UwsModule;
  private readonly app: UwsApp;
  private listenSocket: unknown;

  constructor() {
    const loaded = loadUws();
    this.uws = loaded.module;
    this.description = loaded.description;
    this.app = this.uws.App();
  }

  ws(pattern: string, options: SocketOptions, handler: SocketHandler): void {
    this.app.ws<SocketData>(pattern, {
      maxPayloadLength: options.maxPayloadBytes,
      idleTimeout: options.idleTimeoutS,
      maxBackpressure: options.maxBackpressureBytes,
      closeOnBackpressureLimit: false,
      // uWS answers WebSocket pings itself; we keep it from sending its own so
      // the idle timeout measures the client's heartbeat, not ours.
      sendPingsAutomatically: false,
      compression: this.uws.DISABLED,
      open: (ws) => {
        const conn = new UwsConnection(ws);
        ws.getUserData().conn = conn;
        handler.open(conn);
      },
      message: (ws, message, isBinary) => {
        const conn = ws.getUserData().conn;
        if (!conn || conn.closed) return;
        // Copy: uWS neuters `message` when this callback returns.
        handler.message(conn, copyIn(message), isBinary);
      },
      drain: (ws) => {
        const conn = ws.getUserData().conn;
        if (conn && !conn.closed) handler.drain(conn);
      },
      close: (ws, code) => {
        const conn = ws.getUserData().conn;
        if (!conn) return;
        conn.closed = true;
        handler.close(conn, code);
      },
    });
  }

  route(method: HttpMethod, pattern: string, options: RouteOptions, handler: HttpHandler): void {
    const paramCount = pattern.split('/').filter((s) => s.startsWith(':')).length;
    this.app[method](pattern, (res, req) => this.serve(res, req, paramCount, options, handler));
  }

  private serve(res: UwsHttpResponse, req: UwsHttpRequest, paramCount: number, options: RouteOptions, handler: HttpHandler): void {
    let done = false;
    res.onAborted(() => {
      done = true;
    });
    // Read everything from the stack-allocated request now.
    const headers = new Map<string, string>();
    req.forEach((k, v) => headers.set(k, v));
    const method = req.getMethod();
    const path = req.getUrl();
    const query = req.getQuery() ?? '';
    const params: string[] = [];
    for (let i = 0; i < paramCount; i++) params.push(safeDecode(req.getParameter(i) ?? ''));
    const remoteAddress = formatAddress(res.getRemoteAddressAsText());

    const reply = (r: HttpReply): void => {
      if (done) return;
      done = true;
      res.cork(() => {
        res.writeStatus(statusLine(r.status));
        for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
        res.end(r.body ?? '');
      });
    };
    const dispatch = (body: Uint8Array): void => {
      let result: Promise<HttpReply>;
      try {
        result = Promise.resolve(handler({ method, path, query, params, remoteAddress, body, header: (n) => headers.get(n.toLowerCase()) ?? '' }));
      } catch (err) {
        result = Promise.reject(err);
      }
      result.then(reply, () => reply({ status: 500, headers: { 'content-type': 'application/json' }, body: '{"error":"INTERNAL"}' }));
    };
    const tooLarge = (): void => {
      reply({ status: 413, headers: { 'content-type': 'application/json', connection: 'close' }, body: `{"error":"PAYLOAD_TOO_LARGE","maxBytes":${options.maxBodyBytes}}` });
    };

    if (method === 'get' || method === 'head' || method === 'delete') return dispatch(new Uint8Array(0));
    const declared = Number(headers.get('content-length') ?? '0');
    if (declared > options.maxBodyBytes) return tooLarge();
    if (declared === 0 && !headers.has('transfer-encoding')) return dispatch(new Uint8Array(0));
    const chunks: Uint8Array[] = [];
    let received = 0;
    res.onData((chunk, isLast) => {
      if (done) return;
      received += chunk.byteLength;
      if (received > options.maxBodyBytes) return tooLarge();
      chunks.push(new Uint8Array(chunk.slice(0)));
      if (!isLast) return;
      dispatch(concat(chunks, received));
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.any('/*', (res) => {
        res.cork(() => res.writeStatus('404 Not Found').writeHeader('content-type', 'application/json').end('{"error":"NOT_FOUND"}'));
      });
      this.app.listen(host, port, (ls) => {
        if (!ls) return reject(new Error(`could not listen on ${host}:${port} (address in use or not permitted)`));
        this.listenSocket = ls;
        resolve(this.uws.us_socket_local_port(ls));
      });
    });
  }

  stopListening(): void {
    if (this.listenSocket) this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
  }
}

/**
 * Incoming messages are copied into slabs (ByteSlab) rather than each into an
 * ArrayBuffer of its own: ArrayBuffer#slice per message was ~7% of the relay's CPU.
 */
const inSlab = new ByteSlab();

function copyIn(message: ArrayBuffer): Uint8Array {
  return inSlab.copy(new Uint8Array(message));
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
