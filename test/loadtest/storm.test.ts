import { describe, expect, it } from 'vitest';
import type { ReconnectRecord } from '../../loadtest/driver/accounting.ts';
import { CpuTimeline, stormFigures, stormInvalidReason, stormLagNote } from '../../loadtest/driver/storm.ts';

const mark = { name: 'storm', atEpochMs: 1000, atMs: 300, receivers: [0, 1, 2] };

describe('reconnect-storm figures', () => {
  it('time the last client back and the last caught up, from the storm', () => {
    const logs: ReconnectRecord[][] = [
      [{ at: 1100, resumed: true, caughtUpAt: 1150 }],
      [{ at: 1400, resumed: true, caughtUpAt: 2900 }],
      [{ at: 1200, resumed: false, caughtUpAt: 1200 }],
    ];
    const s = stormFigures(mark, logs, 10_000);
    expect(s).toMatchObject({ clients: 3, resumed: 3, resumedWithTicket: 2, caughtUp: 3, allResumedMs: 400, allCaughtUpMs: 1900, maxCatchUpMs: 1500, met: true });
    expect(stormInvalidReason(s)).toBeUndefined();
  });

  it('ignore reconnects from before the storm', () => {
    const s = stormFigures(mark, [[{ at: 500, resumed: true, caughtUpAt: 510 }], [], []]);
    expect(s).toMatchObject({ resumed: 0, allResumedMs: null, allCaughtUpMs: null, met: false });
    expect(stormInvalidReason(s)).toMatch(/3 of 3 clients never reconnected/);
  });

  it('take the next reconnect’s catch-up when a second drop cut the first short', () => {
    const logs: ReconnectRecord[][] = [[{ at: 1100, resumed: true }, { at: 1600, resumed: true, caughtUpAt: 1700 }], [], []];
    const s = stormFigures({ ...mark, receivers: [0] }, logs);
    expect(s).toMatchObject({ resumed: 1, caughtUp: 1, allResumedMs: 100, allCaughtUpMs: 700, maxCatchUpMs: 100 });
  });

  it('say the goal was missed when the last catch-up came after it, and invalid when a client never caught up', () => {
    const late = stormFigures(mark, [[{ at: 1100, resumed: true, caughtUpAt: 12_000 }], [{ at: 1100, resumed: true, caughtUpAt: 1200 }], [{ at: 1100, resumed: true, caughtUpAt: 1200 }]], 10_000);
    expect(late).toMatchObject({ allCaughtUpMs: 11_000, met: false });
    expect(stormInvalidReason(late)).toBeUndefined(); // slow is a figure, not an invalid run
    const stuck = stormFigures(mark, [[{ at: 1100, resumed: true }], [{ at: 1100, resumed: true, caughtUpAt: 1200 }], [{ at: 1100, resumed: true, caughtUpAt: 1200 }]]);
    expect(stuck).toMatchObject({ resumed: 3, caughtUp: 2, allCaughtUpMs: null, met: false });
    expect(stormInvalidReason(stuck)).toMatch(/1 of 3 clients never caught up/);
  });
});

describe('CPU over a storm window', () => {
  it('is read from cumulative samples, interpolated between them and clamped to the last', () => {
    const t = new CpuTimeline();
    t.sample(1000, 0, 0);
    t.sample(1100, 80_000, 20_000); // the driver busy 80 % of 100 ms
    t.sample(1200, 100_000, 70_000);
    expect(t.between(1000, 1100)).toEqual({ driverMs: 80, serverMs: 20 });
    expect(t.between(1050, 1150)).toEqual({ driverMs: 50, serverMs: 35 });
    expect(t.between(1000, 5000)).toEqual({ driverMs: 100, serverMs: 70 });
    expect(t.between(900, 1100)).toBeUndefined();
    const s = stormFigures(mark, [[{ at: 1100, resumed: true, caughtUpAt: 1100 }], [{ at: 1100, resumed: true, caughtUpAt: 1100 }], [{ at: 1100, resumed: true, caughtUpAt: 1100 }]], 10_000, t);
    expect(s).toMatchObject({ allCaughtUpMs: 100, driverCpuMs: 80, serverCpuMs: 20 });
  });
});

describe('a scheduler lag during a storm', () => {
  it('is said to have fallen inside the storm’s recovery, and only then', () => {
    const s = stormFigures(mark, [[{ at: 1100, resumed: true, caughtUpAt: 1500 }], [{ at: 1100, resumed: true, caughtUpAt: 1200 }], [{ at: 1100, resumed: true, caughtUpAt: 1200 }]]);
    // the storm at 300 ms after the first send, the last caught up 500 ms later
    expect(stormLagNote(s, 450)).toBe('the worst lag fell 150 ms into storm "storm" while the driver reconnected 3 clients');
    expect(stormLagNote(s, 250)).toBeUndefined();
    expect(stormLagNote(s, 900)).toBeUndefined();
  });
});
