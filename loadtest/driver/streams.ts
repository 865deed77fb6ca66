/**
 * Streams of a run: every (order, message class) pair is one stream with its own
 * 1-based sequence, the sequence its receivers must see once each and in order.
 * Computed from the schedule and the class of each send before the clock starts;
 * pure.
 *
 * @example
 *   const s = buildStreams(schedule, classOf, orders, classes);
 *   s.seq[i];                       // send i is message s.seq[i] of its stream
 *   s.count(order, cls);            // how many that stream's receivers expect
 *   s.sendIndex(order, cls, seq);   // back from a delivery to its send
 */
import type { Schedule } from './schedule.ts';

export interface Streams {
  readonly orders: number;
  readonly classes: number;
  /** Class of each send. */
  readonly cls: Uint8Array;
  /** Sequence of each send within its (order, class) stream, 1-based. */
  readonly seq: Uint32Array;
  /** Sends per stream, indexed order * classes + class. */
  readonly counts: Uint32Array;
  count(order: number, cls: number): number;
  /** Index of the send that is message `seq` of stream (order, cls), or -1. */
  sendIndex(order: number, cls: number, seq: number): number;
}

export function buildStreams(schedule: Schedule, classOf: Uint8Array, orders: number, classes: number): Streams {
  const n = schedule.length;
  if (classOf.length < n) throw new RangeError('a class for every send');
  const counts = new Uint32Array(orders * classes);
  const seq = new Uint32Array(n);
  for (let i = 0; i < n; i++) seq[i] = ++counts[schedule.stream[i]! * classes + classOf[i]!]!;
  // offsets[k]..offsets[k+1]: the sends of stream k in sequence order (a counting sort).
  const offsets = new Uint32Array(orders * classes + 1);
  for (let k = 0; k < counts.length; k++) offsets[k + 1] = offsets[k]! + counts[k]!;
  const bySeq = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const k = schedule.stream[i]! * classes + classOf[i]!;
    bySeq[offsets[k]! + seq[i]! - 1] = i;
  }
  return {
    orders,
    classes,
    cls: classOf.subarray(0, n),
    seq,
    counts,
    count: (order, cls) => counts[order * classes + cls] ?? 0,
    sendIndex: (order, cls, s) => {
      const k = order * classes + cls;
      if (order < 0 || order >= orders || cls < 0 || cls >= classes || s < 1 || s > counts[k]!) return -1;
      return bySeq[offsets[k]! + s - 1]!;
    },
  };
}
