/**
 * The open-loop run: connect receivers and publishers, replay a precomputed
 * schedule, account every delivery, sample the server from /proc, and produce one
 * RunReport. It stops by itself: after the schedule (count or time bound) plus a
 * drain window, or at a hard wall-clock guard.
 *
 * Each send is drawn a message class of the mix (driver/mix.ts) before the clock
 * starts; each (order, class) is a stream with its own sequence (streams.ts), and
 * each receiver expects the streams its role may read, no others.
 *
 * @example
 *   const target = new BareUwsPeer();
 *   const report = await runLoad({ target, scenario: 'steady', profile: 'lan', orders: 25, ratePerSec: 500, durationMs: 5000 });
 */
import os from 'node:os';
import { DeliveryLedger, sumTallies } from './accounting.ts';
import { LagMonitor } from './lag.ts';
import { LatencyRecorder } from './latency.ts';
import { assignClasses, locationOnly, mixFor, PARTY_ROLES, receiverReads, sendingParties, type Mix } from './mix.ts';
import { epochNowMs, DEFAULT_PAYLOAD_BYTES } from './payload.ts';
import { ProcSampler, SelfCpu, clockTicksPerSec, readProc, type ProcUsage } from './proc.ts';
import { Progress } from './progress.ts';
import type { RunReport } from './report.ts';
import { buildSchedule, seededRandom, type Arrival } from './schedule.ts';
import { CpuTimeline, stormFigures, stormInvalidReason, stormLagNote, STORM_GOAL_MS, type StormMark } from './storm.ts';
import { buildStreams } from './streams.ts';
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
  /**
   * A reconnect storm starts now: these receivers (default: all) lose their sockets
   * together. The report then says, for it, how many resumed, when the last had
   * resumed and when the last had caught up.
   */
  markStorm(name: string, receivers?: readonly number[]): void;
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
  /** What the parties send (default: courier location posts only, of payloadBytes each). */
  readonly mix?: Mix;
  /** Size of each message when no mix is given (default DEFAULT_PAYLOAD_BYTES). */
  readonly payloadBytes?: number;
  /** Reconnect storms must be over (all resumed and caught up) within this long (default STORM_GOAL_MS). */
  readonly stormGoalMs?: number;
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
  const mix = mixFor(o.mix ?? locationOnly(o.payloadBytes ?? DEFAULT_PAYLOAD_BYTES), receiversPerOrder);
  const C = mix.classes.length;
  const arrival = o.arrival ?? 'constant';
  const schedule = buildSchedule({ ratePerSec: o.ratePerSec, durationMs: o.durationMs, maxSends: o.maxSends, streams: o.orders, arrival, seed: o.seed, shape: o.shape });
  // Its own random sequence: the arrival times of a seed stay what they were before mixes existed.
  const streams = buildStreams(schedule, assignClasses(schedule.length, mix, seededRandom((o.seed ?? 1) ^ 0x5bd1e995)), o.orders, C);
  const started = await o.target.start({ orders: o.orders, receiversPerOrder, mix, streamCount: streams.count });
  const classBytes = mix.classes.map((c, i) => started.classBytes?.[i] ?? c.bytes);

  // What each receiver may read, from the role policy: its expected counts follow from it.
  const reads = Array.from({ length: receiversPerOrder }, (_, r) => mix.classes.map((_, c) => receiverReads(mix, r, c)));
  const sentOfClass = mix.classes.map((_, c) => {
    let n = 0;
    for (let order = 0; order < o.orders; order++) n += streams.count(order, c);
    return n;
  });
  const fanOut = mix.classes.map((_, c) => reads.filter((r) => r[c]).length);
  const expectedTotal = sentOfClass.reduce((s, n, c) => s + n * fanOut[c]!, 0);

  // t0 is set just before the first send; receivers look intended times up relative to it.
  let t0Epoch = 0;
  let t0 = 0;
  /** Per stream: the highest sequence handed to its publisher so far (what a reconnecting receiver must catch up to). */
  const handed = new Uint32Array(o.orders * C);
  /** Per send: when it was handed on, when later than intended (attachments wait for their upload). */
  const handedAt = new Float64Array(schedule.length);
  /** Per stream: how many of its sends were handed to their publisher (an attachment's message only once its upload finished). */
  const handedCount = new Uint32Array(o.orders * C);
  let pendingHandoffs = 0;
  let latency = new LatencyRecorder();
  const warmupMs = o.warmupMs ?? (o.durationMs >= 5000 ? 1000 : 0);
  const ledgers: DeliveryLedger[] = [];
  let appDelivered = 0;
  let unknown = 0;
  let measureFromEpoch = Infinity;

  const intendedOf = (order: number, cls: number, m: Received): number => {
    if (m.intendedMs !== undefined) return m.intendedMs;
    const i = streams.sendIndex(order, cls, m.seq);
    if (i < 0) return NaN;
    return handedAt[i]! || t0Epoch + schedule.atMs[i]!;
  };

  const receivers = await inBatches(o.orders * receiversPerOrder, o.connectConcurrency ?? 100, (k) => {
    const order = Math.floor(k / receiversPerOrder);
    const r = k % receiversPerOrder;
    const ledger = new DeliveryLedger(`o${order}/r${r}`, C);
    ledgers[k] = ledger;
    return o.target.connectReceiver(order, r, {
      message(m) {
        const now = epochNowMs();
        // With a transport id the client drops redeliveries; without one they reach the app.
        if (m.wireSeq === undefined) ledger.onWire(m.seq);
        else if (!ledger.onWire(m.wireSeq)) return;
        const cls = m.cls ?? 0;
        const intended = cls < C ? intendedOf(order, cls, m) : NaN;
        if (Number.isNaN(intended)) {
          unknown++;
          return;
        }
        ledger.onApp(m.seq, now, cls);
        appDelivered++;
        if (intended >= measureFromEpoch) latency.recordMs(now - intended);
      },
      disconnected: () => ledger.onDisconnect(epochNowMs()),
      reconnected: (info) =>
        ledger.onReconnect(
          epochNowMs(),
          mix.classes.map((_, c) => (reads[r]![c] ? handed[order * C + c]! : 0)),
          info?.resumed === true,
        ),
    });
  });
  // One publisher per sending party of each order (sealrelay: a party that also receives shares its device and socket).
  const parties = sendingParties(mix);
  const publisherOf: Publisher[][] = await inBatches(o.orders, Math.max(1, Math.floor((o.connectConcurrency ?? 100) / parties.length)), async (order) => {
    const row: Publisher[] = [];
    for (const p of parties) row[p] = await o.target.connectPublisher(order, p);
    return row;
  });
  const publishers = publisherOf.flatMap((row) => row.filter(Boolean));
  await sleep(200); // let subscriptions settle everywhere (brokers confirm asynchronously)

  const server = new ProcSampler(started.pid);
  const sidecars = (started.sidecars ?? []).map((s) => ({ name: s.name, sampler: new ProcSampler(s.pid) }));
  const self = new SelfCpu();
  let lag = new LagMonitor();
  const progress = new Progress(o.progress === true, schedule.length);
  const storms: StormMark[] = [];
  const allReceivers = receivers.map((_, k) => k);
  // From the first storm on, driver and server CPU every 100 ms: the report says who was busy while clients came back.
  const cpuTimeline = new CpuTimeline();
  let cpuTicker: NodeJS.Timeout | undefined;
  const sampleCpu = () => {
    const d = process.cpuUsage();
    let serverUs = 0;
    try {
      serverUs = readProc(started.pid).cpuUs;
    } catch {
      // the server died (relay-restart): its CPU stops counting
    }
    cpuTimeline.sample(epochNowMs(), d.user + d.system, serverUs);
  };
  const ctx: RunContext = {
    receivers,
    publishers,
    serverPid: started.pid,
    markStorm: (name, which) => {
      sampleCpu();
      cpuTicker ??= setInterval(sampleCpu, 100);
      storms.push({ name, atEpochMs: epochNowMs(), atMs: performance.now() - t0, receivers: which ?? allReceivers });
    },
  };
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
  /** Set when the drain window closed: a hand-off finishing later is not counted. */
  let drained = false;
  t0 = performance.now() + 20;
  t0Epoch = performance.timeOrigin + t0;
  measureFromEpoch = t0Epoch + warmupMs;
  o.onLoadStart?.();

  const send = (i: number) => {
    const order = schedule.stream[i]!;
    const cls = streams.cls[i]!;
    const seq = streams.seq[i]!;
    const k = order * C + cls;
    const later = publisherOf[order]![mix.classes[cls]!.sender]!.publish({ cls, seq, intendedMs: t0Epoch + schedule.atMs[i]! });
    if (!later) {
      handed[k] = seq;
      handedCount[k]!++;
      return;
    }
    pendingHandoffs++;
    later.then(
      (at) => {
        if (drained) return; // too late: reported as never handed on, not expected of the relay
        handedAt[i] = at;
        handed[k] = Math.max(handed[k]!, seq);
        handedCount[k]!++;
        pendingHandoffs--;
      },
      () => pendingHandoffs--, // never handed on (its upload failed): not expected of the relay; reported
    );
  };

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
        send(i);
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
  const drainMs = o.drainMs ?? 5000;
  const drainStart = performance.now();
  while ((appDelivered < expectedTotal || pendingHandoffs > 0) && performance.now() - drainStart < drainMs) {
    progress.update(sent, appDelivered);
    await sleep(20);
  }
  drained = true;
  if (!measuring) beginMeasuring(); // a schedule shorter than its warm-up
  // Measure until the last delivery (or drain timeout), not the idle time after.
  const measuredDeliveries = appDelivered - deliveredAtMeasureStart;
  if (cpuTicker) {
    clearInterval(cpuTicker);
    sampleCpu();
  }
  const serverUse = server.end();
  const sideUse = sidecars.map((s) => ({ name: s.name, use: s.sampler.end() }));
  const driverUse = self.end();
  const wallMs = performance.now() - t0;
  progress.finish();

  const clientErrors = { ...o.target.errorCounts?.() }; // before shutdown adds its own SERVER_RESTARTING
  const openFailures = o.target.openFailures?.();
  const attachments = o.target.attachmentStats?.();
  await Promise.allSettled([...publishers.map((p) => p.close()), ...receivers.map((r) => r.close())]);
  if (!o.keepRunning) await o.target.stop();

  const tallies = ledgers.map((l, k) => {
    const order = Math.floor(k / receiversPerOrder);
    const r = k % receiversPerOrder;
    // Expected of the relay: what was handed to the publisher. A message that never was
    // (its attachment upload failed or had not finished) is reported as notHandedOn instead.
    return l.tally(mix.classes.map((_, c) => (reads[r]![c] ? handedCount[order * C + c]! : 0)));
  });
  const handedOfClass = mix.classes.map((_, c) => {
    let n = 0;
    for (let order = 0; order < o.orders; order++) n += handedCount[order * C + c]!;
    return n;
  });
  const notHandedOn = sent - handedOfClass.reduce((a, b) => a + b, 0);
  const totals = sumTallies(tallies);
  const logs = ledgers.map((l) => l.reconnectLog());
  const stormResults = storms.map((m) => stormFigures(m, logs, o.stormGoalMs ?? STORM_GOAL_MS, cpuTimeline, epochNowMs()));
  const lagSummary = lag.summary();
  const invalidReasons: string[] = [];
  if (!lagSummary.valid && lagSummary.reason) {
    const notes = stormResults.map((st) => stormLagNote(st, lagSummary.maxLagAtMs)).filter(Boolean);
    invalidReasons.push(lagSummary.reason + (notes.length > 0 ? ` (${notes.join('; ')})` : ''));
  }
  const driverSaturated = driverUse.cpuCores > DRIVER_SATURATION_CORES;
  if (driverSaturated) invalidReasons.push(`driver used ${(driverUse.cpuCores * 100).toFixed(0)}% of a core: it measured itself`);
  if (unknown > 0) invalidReasons.push(`${unknown} deliveries could not be matched to a send`);
  if (latency.overflowCount > 0) invalidReasons.push(`${latency.overflowCount} latencies exceeded 60 s`);
  const openFailed = Object.values(openFailures ?? {}).reduce((a, b) => a + b, 0);
  if (notHandedOn > 0) invalidReasons.push(`${notHandedOn} messages were never handed to the relay (their attachment upload failed or had not finished when the drain window closed): the driver did not offer the load it claims`);
  if (openFailed > 0) invalidReasons.push(`${openFailed} deliveries did not decrypt and verify (${JSON.stringify(openFailures)})`);
  for (const st of stormResults) {
    const why = stormInvalidReason(st);
    if (why) invalidReasons.push(why);
  }
  // CPU was sampled over the measured window only, so divide by what was delivered in it.
  const perDelivery = (u: ProcUsage) => (measuredDeliveries > 0 ? round2(u.cpuUs / measuredDeliveries) : 0);
  const mostFrequent = mix.classes.reduce((best, c, i) => (c.weight > mix.classes[best]!.weight ? i : best), 0);

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
    payloadBytes: classBytes[mostFrequent]!,
    mix: {
      name: mix.name,
      classes: mix.classes.map((c, i) => ({
        name: c.name,
        sender: PARTY_ROLES[c.sender]!,
        kind: c.kind,
        scope: c.scope,
        weight: c.weight,
        bytes: classBytes[i]!,
        ...(c.attachmentBytes ? { attachmentBytes: c.attachmentBytes } : {}),
        sent: sentOfClass[i]!,
        ...(handedOfClass[i]! < sentOfClass[i]! ? { notHandedOn: sentOfClass[i]! - handedOfClass[i]! } : {}),
        receivers: fanOut[i]!,
        expected: handedOfClass[i]! * fanOut[i]!,
        delivered: tallies.reduce((s, t) => s + (t.deliveredByStream[i] ?? 0), 0),
      })),
    },
    sent,
    ...(notHandedOn > 0 ? { notHandedOn } : {}),
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
    ...(stormResults.length > 0 ? { storms: stormResults } : {}),
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
    ...(openFailures ? { openFailures: { total: openFailed, byCode: openFailures } } : {}),
    ...(attachments && attachments.uploads + attachments.failed + attachments.pending > 0 ? { attachments } : {}),
    ...(Object.keys(clientErrors).length > 0 ? { clientErrors } : {}),
    worstReceivers: totals.worst.map((w) => ({ receiver: w.receiver, expected: w.expected, delivered: w.delivered, lost: w.lost, duplicates: w.duplicates, reordered: w.reordered })),
    startedAt: startedAt.toISOString(),
    host: { cpus: os.cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` },
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
