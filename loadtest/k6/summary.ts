/**
 * handleSummary for the k6 scripts: the same JSON fields as the driver's
 * RunReport (loadtest/driver/report.ts), from k6's metrics, written to
 * reports/ and printed as one object on the last line of stdout.
 */
interface MetricValues { [k: string]: number }
interface SummaryData {
  metrics: { [name: string]: { values: MetricValues } | undefined };
  state: { testRunDurationMs: number };
}

function v(d: SummaryData, metric: string, key: string): number {
  return d.metrics[metric]?.values[key] ?? 0;
}

export function fanoutSummary(scenario: string, latencyMetric: string, offeredRate: number) {
  return (data: unknown): Record<string, string> => {
    const d = data as SummaryData;
    const sent = v(d, 'messages_sent', 'count');
    const delivered = v(d, 'messages_delivered', 'count');
    const expected = v(d, 'messages_expected', 'count');
    const lost = v(d, 'messages_lost', 'count');
    const report = {
      scenario,
      profile: __ENV.PROFILE || 'lan',
      target: 'sealrelay-k6',
      bodies: 'pre-sealed',
      offeredRate,
      durationMs: Math.round(d.state.testRunDurationMs),
      sent,
      expected,
      delivered,
      lost,
      duplicates: v(d, 'messages_duplicated', 'count'),
      reordered: v(d, 'messages_reordered', 'count'),
      latencyMs: {
        p50: v(d, latencyMetric, 'med'),
        p90: v(d, latencyMetric, 'p(90)'),
        p99: v(d, latencyMetric, 'p(99)'),
        p999: v(d, latencyMetric, 'p(99.9)'),
        max: v(d, latencyMetric, 'max'),
      },
      reconnects: v(d, 'reconnects', 'count'),
      // k6 cannot read the relay's /proc: CPU per delivery comes from the Node driver or the relay's /metrics.
      serverCpuUsPerDelivery: null,
      valid: v(d, 'dropped_iterations', 'count') === 0,
    };
    const json = JSON.stringify(report);
    return { [`${__ENV.REPORT_DIR || 'reports'}/k6-${scenario}-${Date.now()}.json`]: json + '\n', stdout: `\n${json}\n` };
  };
}
