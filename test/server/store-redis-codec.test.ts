/** The pure parts of the Redis store: key layout and the hint codec (no Redis needed). */
import { describe, expect, it } from 'vitest';
import { decodeHint, encodeHint } from '../../server/store/redis-hint.ts';
import { escapeTag, orderKeys, orderOfChannel } from '../../server/store/redis-keys.ts';
import type { StoredMessage } from '../../server/store/types.ts';
import { awkwardBytes } from './store-contract.ts';

/** Redis Cluster's rule: the slot is computed from the text between the first `{` and the next `}`. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('Redis key layout', () => {
  it('puts every key and the channel of an order under one hash tag, whatever the order id contains', () => {
    for (const order of ['42', 'a}b', '{x}', 'o:1:2', '100%', 'заказ-7']) {
      const k = orderKeys(order);
      const keys = [k.seq, k.stream, k.cursors, k.rosters, k.rosterSeq, k.live, k.dedup('d:1', 'c}'), k.keyPackages('r}')];
      expect(new Set(keys.map(hashTag))).toEqual(new Set([`o:${escapeTag(order)}`]));
    }
  });

  it('never lets one order\'s keys collide with another\'s (a `}` in an id cannot end the tag early)', () => {
    const a = orderKeys('a');
    const evil = orderKeys('a}:kp:b');
    expect(evil.seq).not.toBe(a.keyPackages('b}:n'));
    expect(hashTag(evil.seq)).not.toBe(hashTag(a.seq));
  });

  it('keeps dedup keys of (device, clientMsgId) apart when either contains the separator', () => {
    const k = orderKeys('o');
    expect(k.dedup('a:b', 'c')).not.toBe(k.dedup('a', 'b:c'));
  });

  it('recovers the order id from its channel name', () => {
    for (const order of ['42', 'a}b', '{%7B}', 'o:1', '%25']) expect(orderOfChannel(orderKeys(order).live)).toBe(order);
    expect(orderOfChannel('{o:x}:s')).toBeUndefined();
  });
});

describe('append hint codec', () => {
  const message: StoredMessage = { seq: 9_007_199_254_740_991, at: 1_732_000_000_123, epoch: 4_294_967_295, scope: 'ops/ü', sender: 'кур,ер\n', envelope: awkwardBytes() };

  it('round-trips a message, binary envelope and non-ASCII ids included', () => {
    expect(decodeHint(encodeHint('node-ä', message))).toEqual({ node: 'node-ä', message });
  });

  it('drops malformed hints instead of guessing', () => {
    const good = encodeHint('n', message);
    expect(decodeHint(Buffer.from('no header'))).toBeUndefined();
    expect(decodeHint(Buffer.from('1,2,3\nxyz'))).toBeUndefined();
    expect(decodeHint(Buffer.from('1,2,3,40,0,0\nshort'))).toBeUndefined();
    expect(decodeHint(Buffer.from('-1,2,3,0,0,0\n'))).toBeUndefined();
    expect(decodeHint(good.subarray(0, good.indexOf(0x0a) + 3))).toBeUndefined();
  });
});
