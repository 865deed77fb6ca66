/**
 * Request/response correlation by `rid`. Every request the SDK makes is
 * idempotent (a read, or a put the relay de-duplicates), so a pending request is
 * simply sent again on each new connection until it is answered or its deadline
 * passes; only the deadline fails it.
 */
import { MAX_REQUEST_ID, type ClientFrame, type ServerFrame, type ServerFrameOf, type ServerFrameType } from '../protocol/index.ts';
import type { Clock } from './clock.ts';
import { SealRelayError } from './errors.ts';

export type RequestFrame = Extract<ClientFrame, { rid?: number }>;

interface Pending {
  readonly frame: RequestFrame;
  readonly expect: readonly ServerFrameType[];
  readonly resolve: (f: ServerFrame) => void;
  readonly reject: (e: Error) => void;
  readonly timer: unknown;
}

/** An `error` frame as a SealRelayError, keeping the fields a caller acts on. */
export function relayError(frame: ServerFrameOf<'error'>): SealRelayError {
  return new SealRelayError(frame.code, `${frame.message}${frame.detail ? ` (${frame.detail})` : ''}`, {
    ...(frame.retryAfterMs === undefined ? {} : { retryAfterMs: frame.retryAfterMs }),
    ...(frame.oldestSeq === undefined ? {} : { oldestSeq: frame.oldestSeq }),
  });
}

export class PendingRequests {
  private readonly pending = new Map<number, Pending>();
  private nextRid = 1;

  constructor(private readonly clock: Clock) {}

  /** Register a request; returns its frame (with a fresh rid) and the promise of its answer. */
  add<T extends ServerFrameType>(frame: RequestFrame, expect: readonly T[], timeoutMs: number): { frame: RequestFrame; answer: Promise<ServerFrameOf<T>> } {
    const rid = this.nextRid;
    this.nextRid = this.nextRid >= MAX_REQUEST_ID ? 1 : this.nextRid + 1;
    const withRid = { ...frame, rid } as RequestFrame;
    const answer = new Promise<ServerFrameOf<T>>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(rid);
        reject(new SealRelayError('REQUEST_TIMEOUT', `${frame.t} got no answer in time`));
      }, timeoutMs);
      this.pending.set(rid, { frame: withRid, expect, resolve: resolve as (f: ServerFrame) => void, reject, timer });
    });
    return { frame: withRid, answer };
  }

  /** Frames still waiting for an answer, to send again on a new connection. */
  frames(): RequestFrame[] {
    return [...this.pending.values()].map((p) => p.frame);
  }

  /** Resolve or reject the request `frame` answers; false if it answers none. */
  settle(frame: ServerFrame): boolean {
    const rid = 'rid' in frame ? frame.rid : undefined;
    if (rid === undefined) return false;
    const p = this.pending.get(rid);
    if (!p) return false;
    if (frame.t === 'error') {
      this.finish(rid, p);
      p.reject(relayError(frame));
      return true;
    }
    if (!p.expect.includes(frame.t)) return false;
    this.finish(rid, p);
    p.resolve(frame);
    return true;
  }

  rejectAll(err: Error): void {
    for (const [rid, p] of [...this.pending]) {
      this.finish(rid, p);
      p.reject(err);
    }
  }

  private finish(rid: number, p: Pending): void {
    this.clock.clearTimeout(p.timer);
    this.pending.delete(rid);
  }
}
