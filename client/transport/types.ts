/**
 * The transport is the only part of the SDK that touches a runtime's socket API.
 * It moves whole binary WebSocket messages; framing, auth and retries live above.
 *
 * Contract for adapters:
 * - `open` returns at once; the outcome arrives through the sink.
 * - `message` carries exactly one WebSocket binary message as bytes the callee may keep.
 * - `close` is reported at most once per socket; `error` may precede it or replace it.
 *   The connection treats either as the end of that socket and ignores anything
 *   the same socket reports afterwards (generation ids), so adapters need not
 *   de-duplicate the runtime's quirks.
 */
export interface TransportSink {
  open(): void;
  message(data: Uint8Array): void;
  close(code: number, reason: string): void;
  error(error: Error): void;
}

export interface TransportSocket {
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export interface Transport {
  /** For logs and diagnostics: 'node', 'browser', 'wechat', or a test's name. */
  readonly name: string;
  open(url: string, sink: TransportSink): TransportSocket;
}

/** A close code the runtime reports when the socket died without a close frame. */
export const CLOSE_ABNORMAL = 1006;

/** The exact bytes of a view as an ArrayBuffer (WeChat takes only ArrayBuffer; encoders return views into a shared pool). */
export function toArrayBuffer(data: Uint8Array): ArrayBuffer {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer) return data.buffer;
  // new Uint8Array(view) always copies; Buffer#slice would not (it is subarray in Node).
  return new Uint8Array(data).buffer;
}
