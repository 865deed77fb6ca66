/**
 * An in-memory Transport for unit tests: connections whose outbound bytes are
 * captured (and decoded on demand), with a settable buffered amount so tests
 * can provoke backpressure without a network.
 */
import { decodeServerFrame } from '../../protocol/codec.ts';
import type { ServerFrame } from '../../protocol/frames.ts';
import type { Connection, SendResult } from '../../server/transport.ts';

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
    this.sent.push(bytes);
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
