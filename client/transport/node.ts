/**
 * Node transport over the `ws` library. Permessage-deflate stays off: envelopes
 * are ciphertext (incompressible) and deflate costs memory per socket.
 */
import WebSocket from 'ws';
import { MAX_FRAME_BYTES } from '../../protocol/index.ts';
import { CLOSE_ABNORMAL, type Transport, type TransportSink, type TransportSocket } from './types.ts';

export interface NodeTransportOptions {
  /** Extra HTTP headers for the upgrade request (e.g. a load balancer's routing header). */
  readonly headers?: Record<string, string>;
  /** TCP connect + upgrade timeout. */
  readonly handshakeTimeoutMs?: number;
}

/**
 * @example const client = await SealRelayClient.create({ url, transport: nodeTransport(), ... });
 */
export function nodeTransport(opts: NodeTransportOptions = {}): Transport {
  return {
    name: 'node',
    open(url: string, sink: TransportSink): TransportSocket {
      const ws = new WebSocket(url, {
        perMessageDeflate: false,
        maxPayload: MAX_FRAME_BYTES,
        handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
        ...(opts.headers ? { headers: opts.headers } : {}),
      });
      ws.binaryType = 'nodebuffer';
      ws.on('open', () => sink.open());
      ws.on('message', (data: WebSocket.RawData) => sink.message(toBytes(data)));
      ws.on('close', (code: number, reason: Buffer) => sink.close(code || CLOSE_ABNORMAL, reason.toString('utf8')));
      ws.on('error', (err: Error) => sink.error(err));
      return {
        send(data) {
          if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: true });
        },
        close(code, reason) {
          if (ws.readyState === WebSocket.CLOSED) return;
          // terminate() for a socket still connecting: close() would throw there.
          if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
          else ws.close(code, reason);
        },
      };
    },
  };
}

function toBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
