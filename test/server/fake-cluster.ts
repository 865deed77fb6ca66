/**
 * Relay "nodes" over fake transports sharing one store (a MemoryStore, or one
 * RedisStore per node on the same Redis), and a tiny frame client for them: the
 * real server/ code, no sockets, so cross-node races are quick to set up.
 */
import { decodeServerFrame, encodeFrame } from '../../protocol/codec.ts';
import type { ClientFrame, ServerFrame } from '../../protocol/frames.ts';
import { challengeTranscript } from '../../protocol/handshake.ts';
import { PROTOCOL_VERSION } from '../../protocol/limits.ts';
import { signChallenge } from '../../crypto/index.ts';
import { startRelay, type RelayConfigInput, type RunningRelay } from '../../server/index.ts';
import type { MessageStore } from '../../server/store/types.ts';
import { quietLogger, type Party, type World } from '../integration/helpers.ts';
import { FakeTransport, type FakeConnection } from './fake-transport.ts';

export interface FakeNode {
  readonly relay: RunningRelay;
  readonly transport: FakeTransport;
}

export async function fakeNode(w: World, store: MessageStore, config: RelayConfigInput = {}): Promise<FakeNode> {
  const transport = new FakeTransport();
  const relay = await startRelay(
    { port: 0, trustedAuthorities: w.trusted.map((k) => Buffer.from(k).toString('hex')), relayId: 'cluster-1', ...config },
    { transport, store, logger: quietLogger(), defaultMetrics: false },
  );
  return { relay, transport };
}

export const settle = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A connection on one node, authenticated as `party`. */
export class FakeClient {
  private seen = 0;
  private constructor(
    readonly node: FakeNode,
    readonly conn: FakeConnection,
  ) {}

  static async open(node: FakeNode, p: Party): Promise<FakeClient> {
    const c = new FakeClient(node, node.transport.connect());
    c.send({ t: 'connect', v: PROTOCOL_VERSION, deviceId: p.keys.deviceId });
    const ch = c.all().find((f) => f.t === 'challenge');
    if (ch?.t !== 'challenge') throw new Error('no challenge');
    c.send({ t: 'auth', certificate: p.cert as Uint8Array<ArrayBuffer>, signature: signChallenge(p.keys, challengeTranscript(ch.relayId, ch.nonce, p.keys.deviceId)) as Uint8Array<ArrayBuffer> });
    await c.until((f) => f.t === 'welcome');
    c.seen = c.conn.sent.length;
    return c;
  }

  send(frame: ClientFrame): void {
    this.node.transport.receive(this.conn, encodeFrame(frame));
  }

  all(): ServerFrame[] {
    return this.conn.frames();
  }

  /** Frames not yet returned by `fresh` or `request`. */
  fresh(): ServerFrame[] {
    const out = this.conn.sent.slice(this.seen).map((b) => decodeServerFrame(b));
    this.seen = this.conn.sent.length;
    return out;
  }

  async until(pred: (f: ServerFrame) => boolean, timeoutMs = 3000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.conn.sent.slice(this.seen).map((b) => decodeServerFrame(b)).find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`timed out; got ${this.conn.sent.slice(this.seen).map((b) => decodeServerFrame(b).t).join(',')}`);
      await settle(5);
    }
  }

  /** Send a request and wait for its answer (a frame with the same rid/clientMsgId, or an error for it). */
  async request(frame: ClientFrame): Promise<ServerFrame> {
    const key = frame as { rid?: number; clientMsgId?: string };
    this.send(frame);
    const answer = await this.until((f) => {
      const g = f as { rid?: number; clientMsgId?: string };
      return key.rid !== undefined ? g.rid === key.rid : g.clientMsgId === key.clientMsgId && (f.t === 'puback' || f.t === 'error');
    });
    return answer;
  }
}

/** `error:CODE` or the frame type, for compact assertions. */
export const what = (f: ServerFrame): string => (f.t === 'error' ? `error:${f.code}` : f.t);
