import { describe, expect, it } from 'vitest';
import { STEADY_MIX } from '../../loadtest/driver/mix.ts';
import { runLoad } from '../../loadtest/driver/run.ts';
import { WsRelayPeer } from '../../loadtest/peers/ws-peers.ts';
import { invalidOnlyBecauseHostIsSaturated, preferDriverScheduling, untilValid } from './valid-run.ts';

preferDriverScheduling();

// Real sockets on loopback, real child processes; short and low-rate so it means
// something on a busy 2-core CI box.
describe.each(['bare-uws', 'ws'] as const)('the %s peer on loopback', (name) => {
  it('delivers every message once and in order in a valid open-loop run', async () => {
    const r = await untilValid(
      () => runLoad({ target: new WsRelayPeer(name), scenario: 'test', profile: 'lan', orders: 10, ratePerSec: 200, durationMs: 2500 }),
      (r) => {
        expect(r.sent).toBe(500);
        expect(r).toMatchObject({ expected: 1500, delivered: 1500, lost: 0, duplicates: 0, reordered: 0 });
      },
    );
    if (!invalidOnlyBecauseHostIsSaturated(r)) {
      expect(r.invalidReasons).toEqual([]);
      expect(r.valid).toBe(true);
    }
    expect(r.serverRssBytes).toBeGreaterThan(0);
    expect(r.latencyMs.p50).toBeGreaterThan(0);
  }, 60_000);
});

describe('the bare-uws peer under the steady mix', () => {
  it('carries each class at its envelope size to the receivers whose role reads its scope, and no others', async () => {
    const r = await untilValid(
      () => runLoad({ target: new WsRelayPeer('bare-uws'), scenario: 'test', profile: 'lan', orders: 10, ratePerSec: 200, durationMs: 2500, mix: STEADY_MIX }),
      (r) => {
        const byPolicy = r.mix!.classes.reduce((n, c) => n + c.sent * c.receivers, 0);
        expect(r).toMatchObject({ expected: byPolicy, delivered: byPolicy, lost: 0, duplicates: 0, reordered: 0, phantom: 0 });
        expect(r.expected).toBeLessThan(r.sent * 3); // the consignee is not subscribed to the commercial terms
      },
    );
    expect(r.mix!.classes.map((c) => c.bytes)).toEqual(STEADY_MIX.classes.map((c) => c.bytes));
    if (!invalidOnlyBecauseHostIsSaturated(r)) expect(r.valid).toBe(true);
  }, 60_000);
});
