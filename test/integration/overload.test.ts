import { describe, expect, it } from 'vitest';
import { MAX_PUBLISHES_IN_FLIGHT } from '../../server/session/order-frames.ts';
import { MemoryStore } from '../../server/store/memory.ts';
import type { AppendInput, AppendResult } from '../../server/store/types.ts';
import { Sender, authed, b, makeWorld, putRoster, rosterFor, startTestRelay } from './helpers.ts';

/** A store that cannot keep up: appends wait until the test lets them go. */
class StalledStore extends MemoryStore {
  private release: (() => void) | undefined;
  private readonly gate = new Promise<void>((r) => (this.release = r));
  open(): void {
    this.release?.();
  }
  override async append(input: AppendInput): Promise<AppendResult> {
    await this.gate;
    return super.append(input);
  }
}

describe('a relay whose store cannot keep up', () => {
  it('tells a socket past MAX_PUBLISHES_IN_FLIGHT unanswered publishes to back off (RATE_LIMITED), and stores and acks every publish it accepted', async () => {
    const w = await makeWorld();
    const store = new StalledStore();
    // Token buckets out of the way: this is about the store falling behind, not the per-device rate.
    const relay = await startTestRelay(w, { rateLimits: { publishPerSecond: 100_000, publishBurst: 100_000, framesPerSecond: 100_000, framesBurst: 100_000 } }, { store });
    try {
      const order = 'order-overload';
      const r = rosterFor(w, order, [w.courier, w.shipper]);
      const c = await authed(relay, w.courier);
      await putRoster(c, order, r.bytes);
      const sender = new Sender(w.courier, r.roster);
      const extra = 40;
      for (let i = 0; i < MAX_PUBLISHES_IN_FLIGHT + extra; i++) c.send({ t: 'pub', order, clientMsgId: `m-${i}`, envelope: b(sender.seal('location')) });
      const refused = new Set<string>();
      for (let i = 0; i < extra; i++) {
        const e = await c.nextOf('error');
        expect(e.code).toBe('RATE_LIMITED');
        expect(e.retryAfterMs).toBeGreaterThan(0);
        refused.add(e.clientMsgId!);
      }
      // The refused ones are exactly the newest: nothing accepted was dropped to make room.
      expect([...refused].sort()).toEqual(Array.from({ length: extra }, (_, i) => `m-${MAX_PUBLISHES_IN_FLIGHT + i}`).sort());
      store.open();
      const acked = new Set<string>();
      while (acked.size < MAX_PUBLISHES_IN_FLIGHT) acked.add((await c.nextOf('puback')).clientMsgId);
      expect(await store.head(order)).toBe(MAX_PUBLISHES_IN_FLIGHT);
      // Once the store caught up, the socket may publish again.
      c.send({ t: 'pub', order, clientMsgId: 'after', envelope: b(sender.seal('location')) });
      expect(await c.nextOf('puback')).toMatchObject({ clientMsgId: 'after', seq: MAX_PUBLISHES_IN_FLIGHT + 1 });
    } finally {
      await relay.close();
    }
  });
});
