/**
 * Prometheus metrics in the relay's own Registry (several relays can live in one
 * test process). Hot-path counters (frames, publishes, deliveries, errors) are
 * plain number tallies added into prom-client when the counter is collected
 * (a scrape, or `counter.get()`): prom-client's own `inc()` cost 0.2–0.4 µs each,
 * about nine times per published message.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ERROR_CODES, type ErrorCode } from '../protocol/errors.ts';
import { CLIENT_FRAME_TYPES, SERVER_FRAME_TYPES } from '../protocol/frames.ts';

export const PUBLISH_OUTCOMES = ['accepted', 'duplicate', 'rejected'] as const;
export type PublishOutcome = (typeof PUBLISH_OUTCOMES)[number];

/**
 * Increments of one labelled counter kept as plain numbers, per label value, and
 * added into the prom-client counter when it is collected. Registers itself as the
 * counter's collect hook.
 */
class Tally {
  private readonly counts = new Map<string, number>();
  private readonly labels: Map<string, string[]>;

  constructor(private readonly counter: Counter, keys: readonly string[], labelsOf: (key: string) => string[] = (k) => (k === '' ? [] : [k])) {
    this.labels = new Map(keys.map((k) => [k, labelsOf(k)]));
    for (const k of keys) this.counts.set(k, 0);
    const previous = (counter as unknown as { collect?: () => void }).collect;
    (counter as unknown as { collect: () => void }).collect = () => {
      previous?.();
      this.flush();
    };
  }

  /** False (and nothing counted) for a key that is not one of the label values. */
  add(key: string, n = 1): boolean {
    const c = this.counts.get(key);
    if (c === undefined) return false;
    this.counts.set(key, c + n);
    return true;
  }

  private flush(): void {
    for (const [k, n] of this.counts) {
      if (n === 0) continue;
      const labels = this.labels.get(k)!;
      if (labels.length === 0) this.counter.inc(n);
      else this.counter.labels(...labels).inc(n);
      this.counts.set(k, 0);
    }
  }
}

export type StoreOp = 'append' | 'read' | 'head' | 'oldest' | 'putRoster' | 'rosters' | 'currentEpoch' | 'rememberNonce' | 'putKeyPackages' | 'keyPackages' | 'setCursor' | 'blobPut' | 'blobGet';

export class RelayMetrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'sealrelay_connections', help: 'Open WebSocket connections', registers: [this.registry] });
  readonly connectionsOpened = new Counter({ name: 'sealrelay_connections_opened_total', help: 'WebSocket connections accepted', registers: [this.registry] });
  readonly authenticated = new Gauge({ name: 'sealrelay_authenticated_connections', help: 'Connections that completed authentication', registers: [this.registry] });
  readonly auths = new Counter({ name: 'sealrelay_auth_total', help: 'Successful authentications by method', labelNames: ['method'], registers: [this.registry] });
  readonly subscriptions = new Gauge({ name: 'sealrelay_subscriptions', help: 'Active order subscriptions', registers: [this.registry] });
  readonly framesIn = new Counter({ name: 'sealrelay_frames_in_total', help: 'Frames received by type (unknown: failed to decode)', labelNames: ['type'], registers: [this.registry] });
  readonly framesOut = new Counter({ name: 'sealrelay_frames_out_total', help: 'Frames sent by type', labelNames: ['type'], registers: [this.registry] });
  readonly publishes = new Counter({ name: 'sealrelay_publishes_total', help: 'Publishes by outcome', labelNames: ['result', 'via'], registers: [this.registry] });
  readonly dedupHits = new Counter({ name: 'sealrelay_dedup_hits_total', help: 'Publishes answered from the dedup window (retries)', registers: [this.registry] });
  readonly deliveries = new Counter({ name: 'sealrelay_deliveries_total', help: 'Messages delivered to subscribers (live and replay)', labelNames: ['mode'], registers: [this.registry] });
  readonly backpressurePauses = new Counter({ name: 'sealrelay_backpressure_pauses_total', help: 'Subscriptions paused because their socket buffer passed the threshold', registers: [this.registry] });
  readonly errors = new Counter({ name: 'sealrelay_errors_total', help: 'Rejections by error code (error frames, closes, HTTP errors)', labelNames: ['code'], registers: [this.registry] });
  readonly storeLatency = new Histogram({
    name: 'sealrelay_store_latency_seconds',
    help: 'Store operation latency',
    labelNames: ['op'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({ name: 'sealrelay_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [this.registry] });
  readonly httpLegacySignatures = new Counter({ name: 'sealrelay_http_legacy_signatures_total', help: 'Signed HTTP requests accepted with the v1 transcript (no relayId, no signed headers): callers still to migrate', registers: [this.registry] });

  private readonly inByType = new Tally(this.framesIn, [...CLIENT_FRAME_TYPES, 'unknown']);
  private readonly outByType = new Tally(this.framesOut, SERVER_FRAME_TYPES);
  private readonly errorByCode = new Tally(this.errors, ERROR_CODES);
  private readonly deliveriesByMode = new Tally(this.deliveries, ['live', 'replay']);
  private readonly publishesBy = new Tally(this.publishes, PUBLISH_OUTCOMES.flatMap((r) => (['ws', 'http'] as const).map((v) => `${r}|${v}`)), (k) => k.split('|'));
  private readonly dedup = new Tally(this.dedupHits, ['']);
  private readonly latencyByOp = new Map<StoreOp, Histogram.Internal<string>>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'sealrelay_' });
  }

  frameIn(type: string): void {
    if (!this.inByType.add(type)) this.inByType.add('unknown');
  }

  frameOut(type: string, n = 1): void {
    this.outByType.add(type, n);
  }

  error(code: ErrorCode): void {
    this.errorByCode.add(code);
  }

  delivered(mode: 'live' | 'replay', n: number): void {
    this.deliveriesByMode.add(mode, n);
  }

  /** One publish's outcome; a duplicate also counts as a dedup hit. */
  published(result: PublishOutcome, via: 'ws' | 'http'): void {
    this.publishesBy.add(`${result}|${via}`);
    if (result === 'duplicate') this.dedup.add('');
  }

  /** Time a store call into the latency histogram. */
  timeStore<T>(op: StoreOp, fn: () => Promise<T>): Promise<T> {
    const started = this.storeStarted();
    let p: Promise<T>;
    try {
      p = fn();
    } catch (err) {
      this.storeFinished(op, started);
      return Promise.reject(err);
    }
    return p.then(
      (v) => {
        this.storeFinished(op, started);
        return v;
      },
      (err: unknown) => {
        this.storeFinished(op, started);
        throw err;
      },
    );
  }

  /** The start of a store call timed by hand (storeFinished when it settles); for paths that cannot afford a wrapper. */
  storeStarted(): number {
    return performance.now();
  }

  /** Pre-bound per op, one clock read: prom-client's startTimer({ op }) hashed the labels on every append. */
  storeFinished(op: StoreOp, started: number): void {
    let h = this.latencyByOp.get(op);
    if (!h) this.latencyByOp.set(op, (h = this.storeLatency.labels(op)));
    h.observe((performance.now() - started) / 1000);
  }

  /** Sum of a counter over all label values (tests and /metrics summaries). */
  async total(counter: Counter): Promise<number> {
    const m = await counter.get();
    return m.values.reduce((s, v) => s + v.value, 0);
  }
}
