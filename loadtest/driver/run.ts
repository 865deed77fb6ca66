/**
 * The open-loop run: connect receivers and publishers, replay a precomputed
 * schedule, account every delivery, sample the server from /proc, and produce one
 * RunReport. It stops by itself: after the schedule (count or time bound) plus a
 * drain window, or at a hard wall-clock guard.
 *
 * @example
 *   const target = new BareUwsPeer();
 *   const report = await runLoad({ target, scenario: 'steady', profile: 'lan', orders: 25, ratePerSec: 500, durationMs: 5000 });
 */
import os from 'node:os';
import { DeliveryLedger, sumTallies } from './accounting.ts';
import { LagMonitor } from './lag.ts';
import { LatencyRecorder } from './latency.ts';
import { epochNowMs, DEFAULT_PAYLOAD_BYTES } from './payload.ts';
import { ProcSampler, SelfCpu, clockTicksPerSec, type ProcUsage } from './proc.ts';
import { Progress } from './progress.ts';
import type { RunReport } from './report.ts';
import { buildSchedule, type Arrival } from './schedule.ts';
import type { PeerTarget, Publisher, Receiver, Received } from './target.ts';

/** Above this share of one core the driver is measuring itself, not the server. */
export const DRIVER_SATURATION_CORES = 0.9;

export interface RunEvent {
  /** When, ms after the first scheduled send. */
  readonly atMs: number;
  readonly name: string;
  run(ctx: RunContext): void | Promise<void>;
}

export interface RunContext {
  readonly receivers: readonly Receiver[];
  readonly publishers: readonly Publisher[];
  readonly serverPid: number;
}

export interface RunOptions {
  readonly target: PeerTarget;
  readonly scenario: string;
  readonly profile: string;
  readonly orders: number;
  readonly receiversPerOrder?: number;
  readonly ratePerSec: number;
  readonly durationMs: number;
  readonly maxSends?: number;
  readonly arrival?: Arrival;
  readonly seed?: number;
  /** Rate multiplier over time (see ScheduleOptions.shape). */
  readonly shape?: (tMs: number) => number;
  readonly payloadBytes?: number;
  /**
   * The first part of the schedule is sent and accounted for delivery like the
   * rest, but its latencies, scheduler lag and CPU are not measured: first use of
   * a code path (JIT, schema compilation, buffer pools) stalls both the server and
   * the driver for up to a few hundred ms on a busy box. Default: 1 s for runs of
   * 5 s or more, none for shorter ones.
   */
  readonly warmupMs?: number;
  /** How long to wait for stragglers after the last send (default 5 s, or more for impaired profiles). */
  readonly drainMs?: number;
  readonly events?: readonly RunEvent[];
  readonly store?: string;
  /** Whether the server and driver were pinned to separate cores (recorded, not enforced here). */
  readonly pinned?: boolean;
  /** Show a progress bar (only ever on a TTY). */
  readonly progress?: boolean;
  /** Leave the target running afterwards (a matrix reuses it for the next rate). */
  readonly keepRunning?: boolean;
  /** Called at the first scheduled send (e.g. to start a network profile's outage schedule). */
  readonly onLoadStart?: () => void;
  /** Connect this many clients at once while setting up. */
  readonly connectConcurrency?: number;
}

async function inBatches<T>(n: number, batch: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  for (let start = 0; start < n; start += batch) {
    const end = Math.min(n, start + batch);
    const part = await Promise.all(Array.from({ length: end - start }, (_, k) => make(start + k)));
    for (let k = 0; k < part.length; k++) out[start + k] = part[k]!;
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLoad(o: RunOptions): Promise<RunReport> {
  clockTicksPerSec(); // asks getconf synchronously once: never inside the timed loop
  const receiversPerOrder = o.receiversPerOrder ?? 3;
  const payloadBytes = o.payloadBytes ?? DEFAULT_PAYLOAD_BYTES;
  const arrival = o.arrival ?? 'constant';
  const schedule = buildSchedule({ ratePerSec: o.ratePerSec, durationMs: o.durationMs, maxSends: o.maxSends, streams: o.orders, arrival, seed: o.seed, shape: o.shape });
  const perOrderPlanned = Math.ceil(schedule.length / o.orders);
  const started = await o.target.start({ orders: o.orders, receiversPerOrder, messagesPerOrder: perOrderPlanned, payloadBytes });

  // t0 is set just before the first send; receivers look intended times up relative to it.
  let t0Epoch = 0;
  const sentPerOrder = new Uint32Array(o.orders);
  let latency = new LatencyRecorder();
  const warmupMs = o.warmupMs ?? (o.durationMs >= 5000 ? 1000 : 0);
  const ledgers: DeliveryLedger[] = [];
  let appDelivered = 0;
  let unknown = 0;
  let measureFromEpoch = Infinity;

  const intendedOf = (order: number, m: Received): number => {
    if (m.intendedMs !== undefined) return m.intendedMs;
    // Round-robin schedule: send i belongs to order i % orders with seq ⌊i / orders⌋ + 1.
    const i = (m.seq - 1) * o.orders + order;
    return i < schedule.length ? t0Epoch + schedule.atMs[i]! : NaN;
  };

  const receivers = await inBatches(o.orders * receiversPerOrder, o.connectConcurrency ?? 100, (k) => {
    const order = Math.floor(k / receiversPerOrder);
    const party = k % receiversPerOrder;
    const ledger = new DeliveryLedger(`o${order}/r${party}`);
    ledgers[k] = ledger;
    return o.target.connectReceiver(order, party, {
      message(m) {
        const now = epochNowMs();
        // With a transport id the client drops redeliveries; without one they reach the app.
        if (m.wireSeq === undefined) ledger.onWire(m.seq);
        else if (!ledger.onWire(m.wireSeq)) return;
        const intended = intendedOf(order, m);
        if (Number.isNaN(intended)) {
          unknown++;
          return;
        }
        ledger.onApp(m.seq, now);
        appDelivered++;
        if (intended >= measureFromEpoch) latency.recordMs(now - intended);
      },
      disconnected: () => ledger.onDisconnect(epochNowMs()),
      reconnected: () => ledger.onReconnect(epochNowMs(), sentPerOrder[order]!),
    });
  });
  const publishers = await inBatches(o.orders, o.connectConcurrency ?? 100, (order) => o.target.connectPublisher(order));
  await sleep(200); // let subscriptions settle everywhere (brokers confirm asynchronously)

  const server = new ProcSampler(started.pid);
  const sidecars = (started.sidecars ?? []).map((s) => ({ name: s.name, sampler: new ProcSampler(s.pid) }));
  const self = new SelfCpu();
  let lag = new LagMonitor();
  const progress = new Progress(o.progress === true, schedule.length);
  const ctx: RunContext = { receivers, publishers, serverPid: started.pid };
  const pendingEvents = [...(o.events ?? [])].sort((a, b) => a.atMs - b.atMs);
  const startedAt = new Date();

  await o.target.warmUp?.();
  const beginMeasuring = () => {
    latency = new LatencyRecorder();
    lag = new LagMonitor();
    deliveredAtMeasureStart = appDelivered;
    server.begin();
    for (const s of sidecars) s.sampler.begin();
    self.begin();
  };
  let deliveredAtMeasureStart = 0;
  let measuring = false;
  const t0 = performance.now() + 20;
  t0Epoch = performance.timeOrigin + t0;
  measureFromEpoch = t0Epoch + warmupMs;
  o.onLoadStart?.();

  await new Promise<void>((done) => {
    let i = 0;
    const tick = () => {
      const now = performance.now() - t0;
      if (!measuring && now >= warmupMs) {
        measuring = true;
        beginMeasuring();
      }
      while (pendingEvents.length > 0 && pendingEvents[0]!.atMs <= now) {
        const ev = pendingEvents.shift()!;
        void Promise.resolve(ev.run(ctx)).catch((err: unknown) => console.error(`event ${ev.name} failed:`, err));
      }
      while (i < schedule.length && schedule.atMs[i]! <= now) {
        const order = schedule.stream[i]!;
        const seq = schedule.seq[i]!;
        publishers[order]!.publish(seq, t0Epoch + schedule.atMs[i]!);
        sentPerOrder[order] = seq;
        lag.record(schedule.atMs[i]!, performance.now() - t0);
        i++;
      }
      progress.update(i, appDelivered);
      if (i >= schedule.length) return done();
      // setTimeout cannot wake sooner than ~1 ms; sends due meanwhile go out as a batch
      // and their lateness is in both the lag figures and the latency.
      setTimeout(tick, Math.max(0, schedule.atMs[i]! - (performance.now() - t0) - 0.5));
    };
    tick();
  });
  const sent = schedule.length;
  const expectedTotal = sent * receiversPerOrder;
  const drainMs = o.drainMs ?? 5000;
  const drainStart = performance.now();
  while (appDelivered < expectedTotal && performance.now() - drainStart < drainMs) {
    progress.update(sent, appDelivered);
    await sleep(20);
  }
  if (!measuring) beginMeasuring(); // a schedule shorter than its warm-up
  // Measure until the last delivery (or drain timeout), not the idle time after.
  const measuredDeliveries = appDelivered - deliveredAtMeasureStart;
  const serverUse = server.end();
  const sideUse = sidecars.map((s) => ({ name: s.name, use: s.sampler.end() }));
  const driverUse = self.end();
  const wallMs = performance.now() - t0;
  progress.finish();

  const clientErrors = { ...o.target.errorCounts?.() }; // before shutdown adds its own SERVER_RESTARTING
  await Promise.allSettled([...publishers.map((p) => p.close()), ...receivers.map((r) => r.close())]);
  if (!o.keepRunning) await o.target.stop();

  const tallies = ledgers.map((l, k) => l.tally(sentPerOrder[Math.floor(k / receiversPerOrder)]!));
  const totals = sumTallies(tallies);
  const lagSummary = lag.summary();
  const invalidReasons: string[] = [];
  if (!lagSummary.valid && lagSummary.reason) invalidReasons.push(lagSummary.reason);
  const driverSaturated = driverUse.cpuCores > DRIVER_SATURATION_CORES;
  if (driverSaturated) invalidReasons.push(`driver used ${(driverUse.cpuCores * 100).toFixed(0)}% of a core: it measured itself`);
  if (unknown > 0) invalidReasons.push(`${unknown} deliveries could not be matched to a send`);
  if (latency.overflowCount > 0) invalidReasons.push(`${latency.overflowCount} latencies exceeded 60 s`);
  // CPU was sampled over the measured window only, so divide by what was delivered in it.
  const perDelivery = (u: ProcUsage) => (measuredDeliveries > 0 ? round2(u.cpuUs / measuredDeliveries) : 0);

  return {
    scenario: o.scenario,
    profile: o.profile,
    target: o.target.name,
    bodies: o.target.bodies,
    ...(o.store ? { store: o.store } : {}),
    arrival,
    offeredRate: o.ratePerSec,
    durationMs: Math.round(wallMs),
    warmupMs,
    orders: o.orders,
    receiversPerOrder,
    connections: o.orders * (receiversPerOrder + 1),
    payloadBytes: started.payloadBytes ?? payloadBytes,
    sent,
    expected: totals.expected,
    delivered: totals.delivered,
    lost: totals.lost,
    duplicates: totals.duplicates,
    reordered: totals.reordered,
    phantom: totals.phantom,
    wireRedeliveries: totals.wireRedeliveries,
    deliveredPerSec: Math.round((measuredDeliveries / Math.max(1, wallMs - warmupMs)) * 1000),
    latencyMs: latency.percentiles(),
    latencyCdf: latency.cdf(),
    reconnects: totals.reconnects,
    maxDowntimeMs: Math.round(totals.maxDowntimeMs),
    maxCatchUpMs: Math.round(totals.maxCatchUpMs),
    catchUpsPending: totals.catchUpsPending,
    serverCpuUsPerDelivery: perDelivery(serverUse),
    serverCpuCores: round2(serverUse.cpuCores),
    serverRssBytes: serverUse.rssBytes,
    serverPeakRssBytes: serverUse.peakRssBytes,
    sidecars: sideUse.map((s) => ({ name: s.name, cpuUs: s.use.cpuUs, cpuUsPerDelivery: perDelivery(s.use), rssBytes: s.use.rssBytes })),
    driverCpuCores: round2(driverUse.cpuCores),
    driverSaturated,
    pinned: o.pinned ?? false,
    lag: { sends: lagSummary.sends, late: lagSummary.late, maxLagMs: lagSummary.maxLagMs, meanLagMs: lagSummary.meanLagMs },
    valid: invalidReasons.length === 0,
    invalidReasons,
    ...(Object.keys(clientErrors).length > 0 ? { clientErrors } : {}),
    worstReceivers: totals.worst.map((w) => ({ receiver: w.receiver, expected: w.expected, delivered: w.delivered, lost: w.lost, duplicates: w.duplicates, reordered: w.reordered })),
    startedAt: startedAt.toISOString(),
    host: { cpus: os.cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` },
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
