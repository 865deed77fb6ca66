/**
 * Browser transport over the global WebSocket (also Deno, Bun, Node ≥ 22 and
 * React Native). Declares only the part of the DOM API it uses, so it type-checks
 * and runs wherever something WebSocket-shaped exists.
 */
import { CLOSE_ABNORMAL, toArrayBuffer, type Transport, type TransportSink, type TransportSocket } from './types.ts';

/** The subset of the WHATWG WebSocket this adapter relies on. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;
const CLOSED = 3;

/**
 * @param WebSocketImpl defaults to `globalThis.WebSocket`.
 * @example const transport = browserTransport();
 */
export function browserTransport(WebSocketImpl?: WebSocketConstructor): Transport {
  return {
    name: 'browser',
    open(url: string, sink: TransportSink): TransportSocket {
      const Ctor = WebSocketImpl ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
      if (!Ctor) throw new Error('no global WebSocket in this runtime; pass a WebSocket implementation');
      const ws = new Ctor(url);
      // ArrayBuffer, not Blob: a Blob would need an async read and could reorder frames.
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => sink.open();
      ws.onmessage = (ev) => {
        if (ev.data instanceof ArrayBuffer) sink.message(new Uint8Array(ev.data));
        else sink.error(new Error('the relay sent a text frame; the protocol is binary only'));
      };
      ws.onclose = (ev) => sink.close(ev.code || CLOSE_ABNORMAL, ev.reason ?? '');
      // The browser hides the cause of a WebSocket error; the close event follows with 1006.
      ws.onerror = () => sink.error(new Error('WebSocket error'));
      return {
        send(data) {
          if (ws.readyState === OPEN) ws.send(toArrayBuffer(data));
        },
        close(code, reason) {
          if (ws.readyState !== CLOSED) ws.close(code, reason);
        },
      };
    },
  };
}

/** What the page gives us to learn about connectivity: `window` (online/offline events). */
export interface NetworkEventsLike {
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
}

/**
 * Forward the browser's online/offline events to a client, so it reconnects the
 * moment the network returns instead of waiting out its backoff.
 * @example const stop = watchBrowserNetwork(window, client);
 */
export function watchBrowserNetwork(target: NetworkEventsLike, hints: { online(): void; offline(): void }): () => void {
  const on = () => hints.online();
  const off = () => hints.offline();
  target.addEventListener('online', on);
  target.addEventListener('offline', off);
  return () => {
    target.removeEventListener('online', on);
    target.removeEventListener('offline', off);
  };
}
