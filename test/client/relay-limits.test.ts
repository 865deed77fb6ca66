/**
 * The SDK against a relay that pushes back: a publish rate limit and a retention
 * limit, both from the relay's own configuration.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RunningRelay } from '../../server/index.ts';
import type { SealRelayClient } from '../../client/client.ts';
import { makeClient, makeWorld, record, rosterFor, startTestRelay, waitFor, type World } from './world.ts';

const relays: RunningRelay[] = [];
const clients: SealRelayClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  for (const r of relays) await r.close();
});

async function setup(config: Parameters<typeof startTestRelay>[1]) {
  const w: World = await makeWorld();
  const relay = await startTestRelay(w, config);
  relays.push(relay);
  const id = `LIM-${process.pid}-${relays.length}`;
  const sender = await makeClient(relay, w, w.shipper);
  clients.push(sender);
  await sender.putRoster(id, rosterFor(w, id, [w.shipper, w.consignee]).bytes);
  return { w, relay, id, sender, reader: () => makeClient(relay, w, w.consignee).then((c) => (clients.push(c), c)) };
}

describe('relay limits', () => {
  it('waits out RATE_LIMITED as the relay says and still delivers everything in order', async () => {
    const { id, sender, reader } = await setup({ rateLimits: { publishPerSecond: 20, publishBurst: 5, framesPerSecond: 1000, framesBurst: 1000 } });
    const got = record(await (await reader()).openOrder(id));
    const o = await sender.openOrder(id);
    const limited: string[] = [];
    sender.connection.on('frame', (f) => f.t === 'error' && limited.push(f.code));
    for (let i = 0; i < 30; i++) await o.send('text', { text: `r${i}` });
    await waitFor(() => got.messages.length === 30, 15_000, '30 messages');
    expect(got.messages.map((m) => (m.kind === 'text' ? m.body.text : ''))).toEqual(Array.from({ length: 30 }, (_, i) => `r${i}`));
    expect(limited).toContain('RATE_LIMITED');
    expect(got.warnings).toEqual([]);
  });

  it('tells the application what retention removed before it could read it, then carries on from the oldest kept', async () => {
    const { id, sender, reader } = await setup({ retention: { maxAgeMs: 3600_000, maxLength: 100 } });
    const o = await sender.openOrder(id);
    let last = 0;
    for (let i = 0; i < 130; i++) {
      const s = await o.send('text', { text: `h${i}` });
      if (i === 129) last = await s.acked;
    }
    const got = record(await (await reader()).openOrder(id));
    await waitFor(() => got.messages.length > 0 && got.messages.at(-1)!.seq === last, 10_000, 'the newest message');
    // Only the trimming itself: the first kept message of a chain is not a "gap" on top of it.
    expect(got.warnings.map((x) => x.code)).toEqual(['HISTORY_TRIMMED']);
    const texts = got.messages.map((m) => (m.kind === 'text' ? m.body.text : ''));
    expect(texts.length).toBeLessThanOrEqual(100);
    expect(texts.at(-1)).toBe('h129');
    // Contiguous: whatever is kept arrives without holes or repeats.
    const first = Number(texts[0]!.slice(1));
    expect(texts).toEqual(Array.from({ length: texts.length }, (_, i) => `h${first + i}`));
  });
});
