import { describe, expect, it } from 'vitest';
import { STEADY_MIX } from '../../loadtest/driver/mix.ts';
import { RunReportSchema, type RunReport } from '../../loadtest/driver/report.ts';
import { runLoad, type RunContext } from '../../loadtest/driver/run.ts';
import { FakeTarget } from './fake-target.ts';
import { preferDriverScheduling, untilValid } from './valid-run.ts';

preferDriverScheduling();

const base = { scenario: 'unit', profile: 'lan', orders: 5, ratePerSec: 500, durationMs: 400, drainMs: 500 } as const;

describe('the open-loop runner', () => {
  it('reports a clean run as valid with every message delivered once, in order', async () => {
    const r = await untilValid(
      () => runLoad({ ...base, target: new FakeTarget({ delayMs: 2 }) }),
      (r) => expect(r).toMatchObject({ sent: 200, expected: 600, delivered: 600, lost: 0, duplicates: 0, reordered: 0 }),
    );
    expect(r.valid).toBe(true);
    // Latency is measured from the intended time, so it includes the injected 2 ms.
    expect(r.latencyMs.p50).toBeGreaterThanOrEqual(2);
  });

  it('writes every field the report contract promises', async () => {
    const r = await runLoad({ ...base, target: new FakeTarget() });
    expect(() => RunReportSchema.parse(r)).not.toThrow();
    for (const key of ['scenario', 'profile', 'offeredRate', 'sent', 'expected', 'delivered', 'lost', 'duplicates', 'reordered', 'latencyMs', 'reconnects', 'serverCpuUsPerDelivery', 'valid']) {
      expect(r).toHaveProperty(key);
    }
    expect(Object.keys(r.latencyMs).sort()).toEqual(['max', 'p50', 'p90', 'p99', 'p999']);
  });

  it('sees a dropped message as lost by every receiver of every order', async () => {
    const r = await runLoad({ ...base, target: new FakeTarget({ drop: 3 }) });
    expect(r.lost).toBe(5 * 3);
    expect(r.worstReceivers.length).toBe(15);
  });

  it('sees a redelivered message as a duplicate and a held-back one as a reordering', async () => {
    const r = await runLoad({ ...base, target: new FakeTarget({ duplicate: 4, swapAfter: 7 }) });
    expect(r.duplicates).toBe(15);
    expect(r.reordered).toBe(15);
    expect(r.lost).toBe(0);
  });

  it('marks the run invalid when the driver itself stalls', async () => {
    const r = await runLoad({
      ...base,
      target: new FakeTarget(),
      events: [
        {
          atMs: 100,
          name: 'block the event loop',
          run: () => {
            const until = performance.now() + 120;
            while (performance.now() < until); // a 120 ms stall: the schedule falls behind
          },
        },
      ],
    });
    expect(r.valid).toBe(false);
    expect(r.invalidReasons.join()).toMatch(/lagged/);
  });
});

describe('latency percentiles', () => {
  it('are ordered and never above the max, measured in ms from µs samples', async () => {
    const { LatencyRecorder } = await import('../../loadtest/driver/latency.ts');
    const l = new LatencyRecorder();
    for (let i = 1; i <= 10_000; i++) l.recordMs(i / 100); // 0.01 .. 100 ms
    const p = l.percentiles();
    expect(p.p50).toBeCloseTo(50, 0);
    expect(p.p99).toBeCloseTo(99, 0);
    expect(p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.max).toBe(true);
    expect(p.max).toBeCloseTo(100, 1);
  });
});

describe('a run of the steady mix', () => {
  const mixRun = { ...base, orders: 4, ratePerSec: 2000, durationMs: 500, mix: STEADY_MIX } as const;
  const expectedByPolicy = (r: RunReport) => r.mix!.classes.reduce((n, c) => n + c.sent * c.receivers, 0);

  it('expects each message only at the receivers whose role reads its scope, and gets exactly that', async () => {
    const r = await runLoad({ ...mixRun, target: new FakeTarget() });
    const terms = r.mix!.classes.find((c) => c.name === 'terms-shipper')!;
    expect(terms).toMatchObject({ scope: 'commercial', receivers: 2 });
    expect(r.mix!.classes.filter((c) => c.scope === 'shared').every((c) => c.receivers === 3)).toBe(true);
    expect(r.expected).toBe(expectedByPolicy(r));
    expect(r.expected).toBeLessThan(r.sent * 3); // not everyone gets everything
    expect(r).toMatchObject({ delivered: r.expected, lost: 0, duplicates: 0, reordered: 0, phantom: 0 });
    for (const c of r.mix!.classes) expect(c.delivered, c.name).toBe(c.expected);
  });

  it('counts a commercial message that reaches the consignee as phantom', async () => {
    const r = await runLoad({ ...mixRun, target: new FakeTarget({ leak: true }) });
    const terms = r.mix!.classes.find((c) => c.name === 'terms-shipper')!;
    expect(r.phantom).toBe(terms.sent); // one consignee per order saw each of them
    expect(r.delivered).toBe(r.expected);
  });

  it('keeps each class its own sequence: a swap inside one class is one reordering per receiver of it', async () => {
    const r = await runLoad({ ...mixRun, target: new FakeTarget({ swapAfter: 2 }) });
    expect(r.lost).toBe(0); // every stream of every order had a 3rd message to release its 2nd
    expect(r.reordered).toBe(r.mix!.classes.reduce((n, c) => n + 4 * c.receivers, 0)); // 4 orders
    expect(r.duplicates).toBe(0);
  });

  it('measures an attachment message from when its upload handed it on', async () => {
    const r = await runLoad({ ...mixRun, target: new FakeTarget({ uploadMs: 300 }) });
    expect(r.mix!.classes.find((c) => c.name === 'photo-courier')!.sent).toBeGreaterThan(0);
    expect(r).toMatchObject({ lost: 0, delivered: r.expected });
    expect(r.latencyMs.max).toBeLessThan(250); // the 300 ms upload is not delivery latency
  });

  it('does not count a message whose upload never finished as lost by the relay: it is reported as never handed on, and the run is invalid', async () => {
    const r = await runLoad({ ...mixRun, drainMs: 300, target: new FakeTarget({ uploadMs: 5000 }) });
    const photos = r.mix!.classes.find((c) => c.name === 'photo-courier')!;
    expect(photos.sent).toBeGreaterThan(0);
    expect(photos.notHandedOn).toBe(photos.sent);
    expect(photos.expected).toBe(0);
    expect(r.notHandedOn).toBe(photos.sent);
    expect(r).toMatchObject({ lost: 0, delivered: r.expected, valid: false });
    expect(r.invalidReasons.join(' ')).toMatch(/never handed to the relay/);
    expect(RunReportSchema.safeParse(r).success).toBe(true);
  });

  it('is invalid when a receiver could not open a message (bodies sdk)', async () => {
    const r = await runLoad({ ...mixRun, target: new FakeTarget({ openFailures: { DECRYPT_FAILED: 2 } }) });
    expect(r.valid).toBe(false);
    expect(r.openFailures).toEqual({ total: 2, byCode: { DECRYPT_FAILED: 2 } });
    expect(r.invalidReasons.join()).toMatch(/2 deliveries did not decrypt and verify/);
  });
});

describe('a reconnect storm', () => {
  const storm = (atMs: number) => ({
    atMs,
    name: 'drop them all',
    run: (ctx: RunContext) => {
      ctx.markStorm('drop them all');
      for (const r of ctx.receivers) r.interrupt?.();
    },
  });

  it('reports, per storm, every client resumed and caught up, and when the last did', async () => {
    const r = await runLoad({ ...base, target: new FakeTarget({ reconnectMs: 50 }), events: [storm(150)] });
    expect(r.storms).toHaveLength(1);
    const s = r.storms![0]!;
    expect(s).toMatchObject({ clients: 15, resumed: 15, resumedWithTicket: 15, caughtUp: 15, met: true });
    expect(s.allResumedMs).toBeGreaterThanOrEqual(45);
    expect(s.allCaughtUpMs!).toBeGreaterThanOrEqual(s.allResumedMs!);
    expect(r).toMatchObject({ lost: 0, duplicates: 0, reordered: 0, catchUpsPending: 0 });
  });

  it('says when the driver fell behind while it reconnected the storm’s clients', async () => {
    const stall = {
      atMs: 170,
      name: 'the driver busy with reconnects',
      run: () => {
        const until = performance.now() + 120;
        while (performance.now() < until); // 120 ms on the driver's core, inside the storm's recovery
      },
    };
    const r = await runLoad({ ...base, target: new FakeTarget({ reconnectMs: 300 }), events: [storm(150), stall] });
    expect(r.valid).toBe(false);
    expect(r.invalidReasons.join()).toMatch(/lagged .* into storm "drop them all" while the driver reconnected 15 clients/);
  });

  it('is invalid when a client never came back', async () => {
    const r = await runLoad({ ...base, target: new FakeTarget({ reconnectMs: 50, neverBack: 1 }), events: [storm(150)] });
    expect(r.storms![0]).toMatchObject({ clients: 15, resumed: 10, allResumedMs: null, met: false });
    expect(r.valid).toBe(false);
    expect(r.invalidReasons.join()).toMatch(/5 of 15 clients never reconnected/);
  });
});
