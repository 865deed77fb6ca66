import { describe, expect, it } from 'vitest';
import { RunReportSchema } from '../../loadtest/driver/report.ts';
import { runHttp } from '../../loadtest/http/run.ts';

describe('autocannon against the relay HTTP API', () => {
  it('drives health, signed publish, history and blobs at a set rate with every answer 2xx, in the run report format', async () => {
    const reports = await runHttp(['healthz', 'publish', 'history', 'blob-put', 'blob-get'], { rate: 40, durationS: 1, connections: 2 });
    expect(reports.map((r) => r.scenario)).toEqual(['http-healthz', 'http-publish', 'http-history', 'http-blob-put', 'http-blob-get']);
    for (const r of reports) {
      expect(() => RunReportSchema.parse(r)).not.toThrow();
      expect(r.http, r.scenario).toMatchObject({ errors: 0, timeouts: 0, non2xx: 0 });
      expect(r.delivered, r.scenario).toBeGreaterThan(0);
      expect(r.lost).toBe(0);
      expect(r.latencyMs.max).toBeGreaterThanOrEqual(r.latencyMs.p50);
    }
  }, 90_000);
});
