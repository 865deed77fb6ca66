/**
 * Start a relay.
 *
 * @example
 *   const relay = await startRelay({ port: 0, trustedAuthorities: [authority.publicKey] });
 *   console.log(relay.url);      // ws://127.0.0.1:40123
 *   await relay.close();         // graceful: in-flight appends finish, sockets get SERVER_RESTARTING
 */
import { MAX_DELIVER_BATCH, MAX_FRAME_BYTES } from '../protocol/limits.ts';
import { MAX_CACHED_ORDERS, RosterBook } from './authz/rosters.ts';
import { RelayConfigSchema, type RelayConfig, type RelayConfigInput } from './config.ts';
import { InFlight, type RelayContext } from './context.ts';
import { DiskBlobStore, MemoryBlobStore, RedisBlobStore } from './blob/index.ts';
import { FeedRegistry } from './delivery/feed.ts';
import type { DeliverySource } from './delivery/types.ts';
import { registerHttpRoutes } from './http/routes.ts';
import { createLogger, type Logger } from './log.ts';
import { RelayMetrics } from './metrics.ts';
import { RateLimiter } from './rate-limit.ts';
import { Relay } from './relay.ts';
import { MemoryStore } from './store/memory.ts';
import { RedisStore } from './store/redis.ts';
import type { RedisTarget } from './store/redis-connection.ts';
import type { BlobStore, MessageStore } from './store/types.ts';
import { TicketIssuer } from './ticket.ts';
import type { Transport } from './transport.ts';
import { cryptoReady } from './trust.ts';
import { UwsTransport } from './uws/transport.ts';

export { ConfigError, loadConfig, validateConfig, type RelayConfig, type RelayConfigInput } from './config.ts';
export { UwsUnavailableError } from './uws/loader.ts';

/** Frames this far over MAX_FRAME_BYTES still reach the codec, so the client learns FRAME_TOO_LARGE instead of a bare 1009. */
export const OVERSIZE_SLACK_BYTES = 64 * 1024;

export interface RelayDeps {
  /** Default: Redis when config.redisUrl is set, else the memory store. */
  store?: MessageStore;
  blobs?: BlobStore;
  /** Default: uWebSockets.js (refuses to start without its native binding). */
  transport?: Transport;
  logger?: Logger;
  now?: () => number;
  /** Collect Node process metrics (default true; off in tests that start many relays). */
  defaultMetrics?: boolean;
}

export interface RunningRelay {
  readonly port: number;
  /** WebSocket URL, e.g. ws://127.0.0.1:8080/ */
  readonly url: string;
  /** HTTP base URL, e.g. http://127.0.0.1:8080 */
  readonly httpUrl: string;
  readonly config: RelayConfig;
  readonly metrics: RelayMetrics;
  readonly log: Logger;
  /** Open WebSocket connections. */
  connections(): number;
  /** Outbound bytes buffered by the transport (total, largest socket) and paused subscriptions. */
  bufferStats(): { totalBytes: number; maxBytes: number; pausedSubscriptions: number };
  /** Graceful stop: refuse new sockets, let in-flight appends finish (up to shutdownGraceMs), close sockets with SERVER_RESTARTING, close the stores. */
  close(): Promise<void>;
}

export async function startRelay(input: RelayConfig | RelayConfigInput = {}, deps: RelayDeps = {}): Promise<RunningRelay> {
  const config = RelayConfigSchema.parse(input);
  // First, so that a missing native binding refuses before anything else is set up.
  const transport = deps.transport ?? new UwsTransport();
  await cryptoReady();
  const now = deps.now ?? Date.now;
  const log = deps.logger ?? createLogger({ level: config.logLevel });
  if (config.trustedAuthorities.length === 0) {
    log.warn(
      'NO TRUSTED AUTHORITY IS CONFIGURED: every device authentication will be refused with CERT_UNTRUSTED. ' +
        'Create one with `sealrelay keygen authority` and pass its public key in SEALRELAY_TRUSTED_AUTHORITIES.',
    );
  }
  const redis = redisTargetOf(config);
  const store =
    deps.store ??
    (redis
      ? await RedisStore.connect({ target: redis, retention: config.retention, dedupWindowMs: config.dedupWindowMs })
      : new MemoryStore({ retention: config.retention, dedupWindowMs: config.dedupWindowMs, now }));
  const blobs = deps.blobs ?? (await defaultBlobStore(config, now));
  const metrics = new RelayMetrics({ defaultMetrics: deps.defaultMetrics });
  // Orders with live subscriptions here keep their roster chain cached (late-bound: the feeds are built below).
  const feedsOf: { has?: (order: string) => boolean } = {};
  const rosters = new RosterBook(store, config.trustedAuthorities, now, (err, order) => log.warn({ err, order }, 'roster refresh after a store hint failed'), MAX_CACHED_ORDERS, (order) => feedsOf.has?.(order) ?? false);
  const source: DeliverySource = {
    read: (order, after, limit) => metrics.timeStore('read', () => store.read(order, after, limit)),
    head: (order) => metrics.timeStore('head', () => store.head(order)),
    oldest: (order) => metrics.timeStore('oldest', () => store.oldest(order)),
    ensureEpoch: (order, epoch) => rosters.ensureEpoch(order, epoch),
    canRead: (order, epoch, scope, device) => rosters.canRead(order, epoch, scope, device),
    knowsEpoch: (order, epoch) => rosters.cachedAt(order, epoch) !== undefined,
    watch: (order) => store.watch(order),
    unwatch: (order) => store.unwatch(order),
  };
  const feeds = new FeedRegistry(
    source,
    { pauseBytes: config.backpressure.pauseBytes, batch: MAX_DELIVER_BATCH },
    {
      onPause: () => metrics.backpressurePauses.inc(),
      onDeliver: (mode, n) => metrics.delivered(mode, n),
      onError: (err, order) => log.error({ err, order }, 'delivery failed; retrying from the store'),
    },
  );
  feedsOf.has = (order) => feeds.get(order) !== undefined;
  const ctx: RelayContext = {
    config,
    store,
    blobs,
    rosters,
    feeds,
    tickets: new TicketIssuer(config.ticketSecrets, config.ticketTtlMs, config.relayId),
    metrics,
    log,
    publishLimiter: new RateLimiter({ ratePerSecond: config.rateLimits.publishPerSecond, burst: config.rateLimits.publishBurst }),
    frameLimiter: new RateLimiter({ ratePerSecond: config.rateLimits.framesPerSecond, burst: config.rateLimits.framesBurst }),
    inFlight: new InFlight(),
    now,
  };
  const relay = new Relay(ctx);
  let accepting = true;
  // uWS cuts anything past the slack without a code; between MAX_FRAME_BYTES and it, the codec answers FRAME_TOO_LARGE.
  const socketOptions = { maxPayloadBytes: MAX_FRAME_BYTES + OVERSIZE_SLACK_BYTES, idleTimeoutS: config.limits.idleTimeoutS, maxBackpressureBytes: config.backpressure.hardLimitBytes };
  transport.ws('/', socketOptions, relay);
  transport.ws('/ws', socketOptions, relay);
  registerHttpRoutes(transport, ctx, () => accepting);
  const port = await transport.listen(config.host, config.port);
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  log.info({ port, host: config.host, store: store.kind, transport: transport.description, relayId: config.relayId, authorities: config.trustedAuthorities.length }, 'listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    url: `ws://${shownHost}:${port}/`,
    httpUrl: `http://${shownHost}:${port}`,
    config,
    metrics,
    log,
    connections: () => relay.connectionCount,
    bufferStats: () => relay.bufferStats(),
    close: () =>
      (closed ??= (async () => {
        accepting = false;
        relay.stopAccepting();
        transport.stopListening();
        const left = await ctx.inFlight.settle(config.shutdownGraceMs);
        if (left > 0) log.warn({ left }, 'shutdown grace period over with appends still in flight');
        relay.closeAll();
        rosters.close();
        await store.close();
        await blobs.close();
        log.info('stopped');
      })()),
  };
}

/** Redis Cluster seeds (`host:port` → `redis://host:port`) win over redisUrl; neither → undefined (memory). */
export function redisTargetOf(config: RelayConfig): RedisTarget | undefined {
  if (config.redisCluster && config.redisCluster.length > 0) return { cluster: config.redisCluster.map((s) => (s.startsWith('redis://') ? s : `redis://${s}`)) };
  return config.redisUrl ? { url: config.redisUrl } : undefined;
}

/**
 * Blobs: on disk with `blobs.dir`, in Redis with redisCluster/redisUrl, else in memory (bounded by
 * `blobs.memoryBudgetBytes`); every one with the per-order and per-device quotas.
 */
async function defaultBlobStore(config: RelayConfig, now: () => number): Promise<BlobStore> {
  const common = { maxBlobBytes: config.blobs.maxBytes, maxPerOrderBytes: config.blobs.quotaPerOrderBytes, maxPerDeviceBytes: config.blobs.quotaPerDeviceBytes };
  if (config.blobs.dir) return DiskBlobStore.open({ dir: config.blobs.dir, ...common, now });
  const redis = redisTargetOf(config);
  if (redis) return RedisBlobStore.connect({ target: redis, ...common });
  return new MemoryBlobStore({ ...common, maxTotalBytes: config.blobs.memoryBudgetBytes, now });
}
