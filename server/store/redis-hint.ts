/**
 * The append hint the Lua script SPUBLISHes on `{o:<order>}:live`, built in Lua and
 * parsed here. It carries the whole stored message so that most live deliveries on
 * other relay nodes need no XRANGE; it is still only a hint (pub/sub is at-most-once),
 * gaps are back-filled from the stream.
 *
 *   <seq>,<at>,<epoch>,<scopeLen>,<senderLen>,<nodeLen>\n <scope><sender><node><envelope>
 *
 * Lengths are in bytes; the envelope is the rest, raw (never base64). `node` is the
 * publishing RedisStore's id, so a node can skip hints of its own appends (it
 * already emitted them locally, without the round trip).
 */
import type { StoredMessage } from './types.ts';

export interface Hint {
  readonly node: string;
  readonly message: StoredMessage;
}

const NEWLINE = 0x0a;

/** Parse a hint; undefined for anything malformed (a hint may be dropped, never trusted blindly). */
export function decodeHint(buf: Buffer): Hint | undefined {
  const nl = buf.indexOf(NEWLINE);
  if (nl < 0 || nl > 128) return undefined;
  const parts = buf.subarray(0, nl).toString('latin1').split(',');
  if (parts.length !== 6 || !parts.every((p) => /^\d+$/.test(p))) return undefined;
  const [seq, at, epoch, scopeLen, senderLen, nodeLen] = parts.map(Number) as [number, number, number, number, number, number];
  let off = nl + 1;
  if (off + scopeLen + senderLen + nodeLen > buf.length) return undefined;
  const take = (n: number): string => buf.toString('utf8', off, (off += n));
  const scope = take(scopeLen);
  const sender = take(senderLen);
  const node = take(nodeLen);
  // Copy: the listener may keep the envelope long after node-redis reuses its buffer.
  const envelope = new Uint8Array(buf.subarray(off));
  return { node, message: { seq, at, epoch, scope, sender, envelope } };
}

/**
 * A roster-change hint, `roster,<epoch>,<node>` (published by roster.lua on the same
 * channel). Append hints start with a digit, so the two never mix up.
 */
export function decodeRosterHint(buf: Buffer): { epoch: number; node: string } | undefined {
  if (buf.length > 160 || buf.toString('latin1', 0, 7) !== 'roster,') return undefined;
  const m = /^roster,(\d{1,10}),(.*)$/s.exec(buf.toString('utf8'));
  return m ? { epoch: Number(m[1]), node: m[2]! } : undefined;
}

/** The same encoding in TypeScript, for tests and for a store that publishes without Lua. */
export function encodeHint(node: string, m: StoredMessage): Buffer {
  const scope = Buffer.from(m.scope, 'utf8');
  const sender = Buffer.from(m.sender, 'utf8');
  const nodeB = Buffer.from(node, 'utf8');
  const header = `${m.seq},${m.at},${m.epoch},${scope.length},${sender.length},${nodeB.length}\n`;
  return Buffer.concat([Buffer.from(header, 'latin1'), scope, sender, nodeB, m.envelope]);
}
