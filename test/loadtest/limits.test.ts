import { describe, expect, it } from 'vitest';
import { ensureOpenFiles, openFiles, parseOpenFiles } from '../../loadtest/driver/limits.ts';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
`;

describe('the open-file limit', () => {
  it('is read from /proc/<pid>/limits, unlimited as Infinity', () => {
    expect(parseOpenFiles(LIMITS)).toEqual({ soft: 1024, hard: 524288 });
    expect(parseOpenFiles(LIMITS.replace('1024                 524288', 'unlimited            unlimited'))).toEqual({ soft: Infinity, hard: Infinity });
    expect(parseOpenFiles('no such line')).toBeUndefined();
  });

  it('is left alone when it suffices, and refused with what to run when even the hard limit is too low', () => {
    const now = openFiles();
    expect(now).toBeDefined();
    expect(ensureOpenFiles(16)).toEqual({ ok: true });
    if (Number.isFinite(now!.hard)) {
      const r = ensureOpenFiles(now!.hard + 1);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.reason).toMatch(/ulimit -n/);
    }
  });
});
