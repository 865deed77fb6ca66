import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../protocol/codec.ts';
import { closeCodeOf } from '../../protocol/errors.ts';
import { MAX_FRAME_BYTES } from '../../protocol/limits.ts';
import type { RunningRelay } from '../../server/index.ts';
import { Sender, TestClient, authed, b, makeWorld, metricValue, putRoster, rosterFor, startTestRelay, subscribe, type World } from './helpers.ts';

let w: World;
let relay: RunningRelay;

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w, {
    rateLimits: { publishPerSecond: 5, publishBurst: 5, framesPerSecond: 1000, framesBurst: 1000 },
    limits: { maxSubscriptionsPerConnection: 2, maxBadFramesInARow: 4 },
  });
});
afterAll(() => relay.close());

describe('hostile input', () => {
  it('closes on a frame over MAX_FRAME_BYTES with FRAME_TOO_LARGE', async () => {
    const c = await authed(relay, w.shipper);
    const before = await metricValue(relay, 'sealrelay_errors_total', { code: 'FRAME_TOO_LARGE' });
    c.send(new Uint8Array(MAX_FRAME_BYTES + 10));
    const closed = await c.closed;
    expect(closed.code).toBe(closeCodeOf('FRAME_TOO_LARGE'));
    expect(await metricValue(relay, 'sealrelay_errors_total', { code: 'FRAME_TOO_LARGE' })).toBe(before + 1);
  });

  it('drops a frame far beyond the limit at the transport, before the relay allocates for it', async () => {
    const c = await TestClient.open(relay.url);
    c.send(new Uint8Array(4 * MAX_FRAME_BYTES));
    const closed = await c.closed;
    expect(closed.code).not.toBe(1000);
  });

  it('answers garbage with BAD_FRAME, text frames too, and closes after too many bad frames in a row', async () => {
    const c = await TestClient.open(relay.url);
    c.send(new Uint8Array([0xc1]));
    expect((await c.nextError()).code).toBe('BAD_FRAME');
    c.ws.send('{"t":"ping"}');
    expect((await c.nextError()).code).toBe('BAD_FRAME');
    c.send(encodeFrame({ t: 'ping' }));
    await c.nextOf('pong'); // a good frame resets the count
    for (let i = 0; i < 4; i++) c.send(new Uint8Array([0x81, 0xa1, 0x74, 0xa3, 0x62, 0x61, 0x64])); // {t:'bad'}
    expect((await c.nextError()).code).toBe('UNKNOWN_FRAME_TYPE');
    expect((await c.closed).code).toBe(closeCodeOf('BAD_FRAME'));
  });

  it('rate-limits publishes per device with RATE_LIMITED and a retry delay', async () => {
    const order = 'order-rate';
    const r = rosterFor(w, order, [w.shipper, w.consignee]);
    const c = await authed(relay, w.shipper);
    await putRoster(c, order, r.bytes);
    const s = new Sender(w.shipper, r.roster);
    for (let i = 0; i < 8; i++) c.send({ t: 'pub', order, clientMsgId: `r${i}`, envelope: b(s.seal('text')) });
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await c.next((f) => f.t === 'puback' || f.t === 'error'));
    const limited = answers.filter((f) => f.t === 'error');
    expect(answers.filter((f) => f.t === 'puback')).toHaveLength(5);
    expect(limited).toHaveLength(3);
    expect(limited[0]).toMatchObject({ code: 'RATE_LIMITED', order, clientMsgId: 'r5' });
    expect((limited[0] as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    c.close();
  });

  it('caps subscriptions per connection (TOO_MANY_SUBSCRIPTIONS)', async () => {
    const c = await authed(relay, w.consignee);
    for (const order of ['cap-1', 'cap-2', 'cap-3']) await putRoster(c, order, rosterFor(w, order, [w.consignee]).bytes);
    expect(await subscribe(c, 'cap-1', 0, 1)).toMatchObject({ t: 'subscribed' });
    expect(await subscribe(c, 'cap-2', 0, 2)).toMatchObject({ t: 'subscribed' });
    expect(await subscribe(c, 'cap-3', 0, 3)).toMatchObject({ t: 'error', code: 'TOO_MANY_SUBSCRIPTIONS' });
    c.close();
  });

  it('counts every rejection in the errors metric by code', async () => {
    const text = await (await fetch(`${relay.httpUrl}/metrics`)).text();
    expect(text).toMatch(/sealrelay_errors_total\{code="BAD_FRAME"\} [1-9]/);
    expect(text).toMatch(/sealrelay_errors_total\{code="RATE_LIMITED"\} 3/);
    expect(text).toMatch(/sealrelay_errors_total\{code="TOO_MANY_SUBSCRIPTIONS"\} 1/);
  });
});
