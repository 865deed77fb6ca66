import { describe, expect, it } from 'vitest';
import { decodeBody, defaultScope, encodeBody, MESSAGE_KINDS } from '../../client/messages.ts';
import { MessageStream } from '../../client/message-stream.ts';
import { KINDS } from '../../crypto/policy.ts';

const pickup = { line: 'Dock 4' };

describe('typed message bodies', () => {
  it('cover exactly the kinds the policy knows', () => {
    expect([...MESSAGE_KINDS].sort()).toEqual([...KINDS].sort());
  });

  it('round-trip a valid body through the envelope encoding', () => {
    const body = { status: 'out_for_delivery' as const, note: 'van 7' };
    expect(decodeBody('status', encodeBody('status', body))).toEqual({ ok: true, kind: 'status', body });
  });

  it('refuse a body that breaks its schema before it can be sealed', () => {
    expect(() => encodeBody('rating', { stars: 6 })).toThrow();
    expect(() => encodeBody('location', { lat: 91, lng: 0, at: 0 })).toThrow();
    expect(() => encodeBody('order', { action: 'details', reference: 'x', pickup, dropoff: pickup, price: { amount: '12.5', currency: 'yuan' } })).toThrow();
  });

  it('report, rather than accept, a received body that is not valid for its kind', () => {
    const asText = encodeBody('text', { text: 'hi' });
    expect(decodeBody('rating', asText)).toMatchObject({ ok: false, reason: expect.stringMatching(/^rating: stars/) });
    expect(decodeBody('text', new TextEncoder().encode('{"v":2,"body":{"text":"x"}}'))).toMatchObject({ ok: false });
    expect(decodeBody('text', new Uint8Array([0xff, 0xfe]))).toMatchObject({ ok: false, reason: 'body is not UTF-8 JSON' });
    expect(decodeBody('teleport', asText)).toMatchObject({ ok: false });
  });

  it('put order details with a price or declared value into commercial, and everything else into shared', () => {
    const details = { action: 'details' as const, reference: 'SO-1', pickup, dropoff: pickup };
    expect(defaultScope('order', details)).toBe('shared');
    expect(defaultScope('order', { ...details, price: { amount: '10', currency: 'CNY' } })).toBe('commercial');
    expect(defaultScope('order', { ...details, declaredValue: { amount: '5000', currency: 'CNY' } })).toBe('commercial');
    expect(defaultScope('text', { text: 'hello' })).toBe('shared');
  });
});

describe('message stream', () => {
  it('gives every iterator every later message in order, and ends them all', async () => {
    const s = new MessageStream<number>();
    const a = s.iterator();
    s.push(1);
    const b = s.iterator();
    s.push(2);
    s.end();
    const all = async (it: AsyncIterableIterator<number>) => {
      const out: number[] = [];
      for await (const x of it) out.push(x);
      return out;
    };
    expect(await all(a)).toEqual([1, 2]);
    expect(await all(b)).toEqual([2]);
  });

  it('wakes a waiting consumer when a message arrives', async () => {
    const s = new MessageStream<string>();
    const it = s.iterator();
    const next = it.next();
    setTimeout(() => s.push('late'), 5);
    expect(await next).toEqual({ done: false, value: 'late' });
  });
});
