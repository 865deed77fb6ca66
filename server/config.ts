/**
 * Relay configuration: defaults ← JSON file (`--config`) ← environment ← CLI flags,
 * validated once with zod. A bad setting stops start-up with a sentence naming
 * the setting, where it came from, and why it is wrong (ConfigError).
 *
 * @example
 *   const config = loadConfig({ env: process.env, argv: process.argv.slice(3) });
 *   const relay = await startRelay(config);
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import {
  AUTH_TIMEOUT_MS,
  DEDUP_WINDOW_MS,
  IDLE_TIMEOUT_S,
  MAX_BLOB_BYTES,
  MAX_CONNECTIONS_PER_DEVICE,
  MAX_FRAME_BYTES,
  MAX_SUBSCRIPTIONS_PER_CONNECTION,
  TICKET_TTL_MS,
} from '../protocol/limits.ts';

/** Decode a 32-byte Ed25519 public key written as 64 hex digits or base64 (standard or URL-safe). */
export function decodeKey32(text: string): Uint8Array | undefined {
  const s = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(s)) return Uint8Array.from(Buffer.from(s, 'hex'));
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(s)) return undefined;
  const b = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return b.length === 32 ? Uint8Array.from(b) : undefined;
}

const listOf = (v: unknown): unknown => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v);

const AuthorityKeys = z.preprocess(
  listOf,
  z.array(
    // Accepts its own output too: startRelay re-validates what loadConfig returned.
    z.unknown().transform((v, ctx) => {
      if (v instanceof Uint8Array && v.length === 32) return v;
      const key = typeof v === 'string' ? decodeKey32(v) : undefined;
      if (!key) ctx.addIssue({ code: 'custom', message: `"${String(v).slice(0, 80)}" is neither 64 hex digits nor base64 of a 32-byte Ed25519 public key` });
      return key ?? new Uint8Array(0);
    }),
  ),
);

const TicketSecrets = z.preprocess(
  listOf,
  z.array(z.string().min(32, 'each ticket secret must be at least 32 characters of random text (e.g. `openssl rand -hex 32`)')),
);

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const blobQuota = int(1024 * 1024, 64 * 1024 * 1024 * 1024);
/** 64 MiB per order and per device: a few dozen phone photos, two and a half attachments at the 25 MiB cap. */
const DEFAULT_BLOB_QUOTA = 64 * 1024 * 1024;
const bool = z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean());

export const RelayConfigSchema = z.object({
  host: z.string().min(1).default('0.0.0.0'),
  port: int(0, 65535).default(8080),
  /** Bound into every challenge transcript; nodes of one cluster share it so tickets and signatures travel between them. */
  relayId: z.string().min(1).max(128).default(`sealrelay-${hostname()}`),
  /** Redis URL: when set, the relay uses the Redis store instead of memory. */
  redisUrl: z.string().url().optional(),
  /** Redis Cluster seed nodes (`host:port`, comma-separated in the environment); wins over redisUrl. */
  redisCluster: z.preprocess(listOf, z.array(z.string().regex(/^(redis:\/\/)?[^\s:/]+:\d{1,5}$/, 'each seed must be host:port'))).optional(),
  trustedAuthorities: AuthorityKeys.default([]),
  /** First secret signs new tickets; all of them verify (rotation). Empty: a random secret per process. */
  ticketSecrets: TicketSecrets.default([]),
  ticketTtlMs: int(60_000, 30 * 24 * 3600_000).default(TICKET_TTL_MS),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Log frames in/out at debug level with redacted payloads. */
  logFrames: bool.default(false),
  retention: z
    .object({ maxAgeMs: int(60_000, 3650 * 24 * 3600_000).default(7 * 24 * 3600_000), maxLength: int(100, 100_000_000).default(100_000) })
    .default({ maxAgeMs: 7 * 24 * 3600_000, maxLength: 100_000 }),
  dedupWindowMs: int(60_000, 30 * 24 * 3600_000).default(DEDUP_WINDOW_MS),
  limits: z
    .object({
      maxConnectionsPerDevice: int(1, 1000).default(MAX_CONNECTIONS_PER_DEVICE),
      maxSubscriptionsPerConnection: int(1, 100_000).default(MAX_SUBSCRIPTIONS_PER_CONNECTION),
      authTimeoutMs: int(100, 600_000).default(AUTH_TIMEOUT_MS),
      /** uWS needs 0 (off) or at least 8 seconds. */
      idleTimeoutS: int(0, 3600).refine((n) => n === 0 || n >= 8, 'must be 0 (off) or at least 8 seconds').default(IDLE_TIMEOUT_S),
      maxBadFramesInARow: int(1, 1000).default(16),
    })
    .default({
      maxConnectionsPerDevice: MAX_CONNECTIONS_PER_DEVICE,
      maxSubscriptionsPerConnection: MAX_SUBSCRIPTIONS_PER_CONNECTION,
      authTimeoutMs: AUTH_TIMEOUT_MS,
      idleTimeoutS: IDLE_TIMEOUT_S,
      maxBadFramesInARow: 16,
    }),
  rateLimits: z
    .object({
      publishPerSecond: int(1, 1_000_000).default(50),
      publishBurst: int(1, 1_000_000).default(200),
      framesPerSecond: int(1, 1_000_000).default(200),
      framesBurst: int(1, 1_000_000).default(1000),
    })
    .default({ publishPerSecond: 50, publishBurst: 200, framesPerSecond: 200, framesBurst: 1000 }),
  backpressure: z
    .object({
      pauseBytes: int(16 * 1024, 64 * 1024 * 1024).default(256 * 1024),
      hardLimitBytes: int(MAX_FRAME_BYTES * 2, 256 * 1024 * 1024).default(4 * 1024 * 1024),
      slowConsumerMs: int(1000, 3600_000).default(60_000),
    })
    .default({ pauseBytes: 256 * 1024, hardLimitBytes: 4 * 1024 * 1024, slowConsumerMs: 60_000 }),
  blobs: z
    .object({
      maxBytes: int(1, MAX_BLOB_BYTES).default(MAX_BLOB_BYTES),
      ttlMs: int(60_000, 365 * 24 * 3600_000).default(30 * 24 * 3600_000),
      /** Keep blobs in this directory (survives restarts); otherwise Redis (with redisUrl) or memory. */
      dir: z.string().min(1).optional(),
      /** Memory blob store only: total bytes held. */
      memoryBudgetBytes: int(1024 * 1024, 64 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
      /** Every blob store: bytes one order, and one uploading device, may hold at once (so one member cannot fill the store). */
      quotaPerOrderBytes: blobQuota.optional(),
      quotaPerDeviceBytes: blobQuota.optional(),
      /** @deprecated The names of quotaPerOrderBytes / quotaPerDeviceBytes from when only the memory store had quotas; still read. */
      memoryQuotaPerOrderBytes: blobQuota.optional(),
      /** @deprecated See memoryQuotaPerOrderBytes. */
      memoryQuotaPerDeviceBytes: blobQuota.optional(),
    })
    .transform(({ memoryQuotaPerOrderBytes, memoryQuotaPerDeviceBytes, ...b }) => ({
      ...b,
      quotaPerOrderBytes: b.quotaPerOrderBytes ?? memoryQuotaPerOrderBytes ?? DEFAULT_BLOB_QUOTA,
      quotaPerDeviceBytes: b.quotaPerDeviceBytes ?? memoryQuotaPerDeviceBytes ?? DEFAULT_BLOB_QUOTA,
    }))
    .default({
      maxBytes: MAX_BLOB_BYTES,
      ttlMs: 30 * 24 * 3600_000,
      memoryBudgetBytes: 256 * 1024 * 1024,
      quotaPerOrderBytes: DEFAULT_BLOB_QUOTA,
      quotaPerDeviceBytes: DEFAULT_BLOB_QUOTA,
    }),
  http: z
    .object({
      maxClockSkewMs: int(1000, 3600_000).default(60_000),
      /**
       * Migration switch, off by default: also accept v1 request signatures (no relayId,
       * no signed headers; protocol/http-auth.ts) from callers not yet moved to v2. The
       * SDK, CLI and load generator sign v2. v1 requests can be replayed to another
       * cluster that trusts the same authority, and their semantic headers can be
       * altered, so turn it on only for a migration window and watch
       * sealrelay_http_legacy_signatures_total fall to zero.
       */
      acceptLegacySignatures: bool.default(false),
    })
    .default({ maxClockSkewMs: 60_000, acceptLegacySignatures: false }),
  /** How long shutdown waits for in-flight appends before closing anyway. */
  shutdownGraceMs: int(0, 600_000).default(10_000),
});

export type RelayConfig = z.output<typeof RelayConfigSchema>;
export type RelayConfigInput = z.input<typeof RelayConfigSchema>;

/** Every setting that has an environment variable or a flag; the paths are into RelayConfig. */
const SOURCES: ReadonlyArray<{ path: string; env?: string; flag?: string }> = [
  { path: 'host', env: 'HOST', flag: '--host' },
  { path: 'port', env: 'PORT', flag: '--port' },
  { path: 'relayId', env: 'SEALRELAY_RELAY_ID', flag: '--relay-id' },
  { path: 'redisUrl', env: 'REDIS_URL', flag: '--redis-url' },
  { path: 'redisCluster', env: 'SEALRELAY_REDIS_CLUSTER', flag: '--redis-cluster' },
  { path: 'trustedAuthorities', env: 'SEALRELAY_TRUSTED_AUTHORITIES', flag: '--trust' },
  { path: 'ticketSecrets', env: 'SEALRELAY_TICKET_SECRET' },
  { path: 'ticketTtlMs', env: 'SEALRELAY_TICKET_TTL_MS' },
  { path: 'logLevel', env: 'LOG_LEVEL', flag: '--log-level' },
  { path: 'logFrames', env: 'SEALRELAY_LOG_FRAMES' },
  { path: 'retention.maxAgeMs', env: 'SEALRELAY_RETENTION_MAX_AGE_MS' },
  { path: 'retention.maxLength', env: 'SEALRELAY_RETENTION_MAX_LENGTH' },
  { path: 'dedupWindowMs', env: 'SEALRELAY_DEDUP_WINDOW_MS' },
  { path: 'limits.maxConnectionsPerDevice', env: 'SEALRELAY_MAX_CONNECTIONS_PER_DEVICE' },
  { path: 'limits.maxSubscriptionsPerConnection', env: 'SEALRELAY_MAX_SUBSCRIPTIONS_PER_CONNECTION' },
  { path: 'limits.authTimeoutMs', env: 'SEALRELAY_AUTH_TIMEOUT_MS' },
  { path: 'limits.idleTimeoutS', env: 'SEALRELAY_IDLE_TIMEOUT_S' },
  { path: 'limits.maxBadFramesInARow', env: 'SEALRELAY_MAX_BAD_FRAMES' },
  { path: 'rateLimits.publishPerSecond', env: 'SEALRELAY_RATE_PUBLISH_PER_S' },
  { path: 'rateLimits.publishBurst', env: 'SEALRELAY_RATE_PUBLISH_BURST' },
  { path: 'rateLimits.framesPerSecond', env: 'SEALRELAY_RATE_FRAMES_PER_S' },
  { path: 'rateLimits.framesBurst', env: 'SEALRELAY_RATE_FRAMES_BURST' },
  { path: 'backpressure.pauseBytes', env: 'SEALRELAY_BACKPRESSURE_PAUSE_BYTES' },
  { path: 'backpressure.hardLimitBytes', env: 'SEALRELAY_BACKPRESSURE_HARD_LIMIT_BYTES' },
  { path: 'backpressure.slowConsumerMs', env: 'SEALRELAY_SLOW_CONSUMER_MS' },
  { path: 'blobs.maxBytes', env: 'SEALRELAY_BLOB_MAX_BYTES' },
  { path: 'blobs.ttlMs', env: 'SEALRELAY_BLOB_TTL_MS' },
  { path: 'blobs.dir', env: 'SEALRELAY_BLOB_DIR', flag: '--blob-dir' },
  { path: 'blobs.memoryBudgetBytes', env: 'SEALRELAY_BLOB_MEMORY_BUDGET_BYTES' },
  // The old, memory-only names first: when both are set the new one, applied later, wins.
  { path: 'blobs.quotaPerOrderBytes', env: 'SEALRELAY_BLOB_MEMORY_QUOTA_PER_ORDER_BYTES' },
  { path: 'blobs.quotaPerDeviceBytes', env: 'SEALRELAY_BLOB_MEMORY_QUOTA_PER_DEVICE_BYTES' },
  { path: 'blobs.quotaPerOrderBytes', env: 'SEALRELAY_BLOB_QUOTA_PER_ORDER_BYTES' },
  { path: 'blobs.quotaPerDeviceBytes', env: 'SEALRELAY_BLOB_QUOTA_PER_DEVICE_BYTES' },
  { path: 'http.maxClockSkewMs', env: 'SEALRELAY_HTTP_MAX_CLOCK_SKEW_MS' },
  { path: 'http.acceptLegacySignatures', env: 'SEALRELAY_HTTP_ACCEPT_LEGACY_SIGNATURES' },
  { path: 'shutdownGraceMs', env: 'SEALRELAY_SHUTDOWN_GRACE_MS' },
];

/** A setting is wrong; `message` names it, its source and the reason. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  env?: Readonly<Record<string, string | undefined>>;
  /** CLI arguments after the subcommand, e.g. ['--port', '9000', '--config', 'relay.json']. */
  argv?: readonly string[];
  /** Overrides applied last (tests, embedding). */
  overrides?: RelayConfigInput;
  readFile?: (path: string) => string;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function parseFlags(argv: readonly string[]): { values: Map<string, string>; configFile?: string } {
  const values = new Map<string, string>();
  let configFile: string | undefined;
  const known = new Set(SOURCES.flatMap((s) => (s.flag ? [s.flag] : [])));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (name !== '--config' && !known.has(name)) throw new ConfigError(`Unknown option ${name}; known options: --config ${[...known].join(' ')}`);
    if (value === undefined) throw new ConfigError(`Option ${name} needs a value`);
    if (name === '--config') configFile = value;
    else values.set(name, value);
  }
  return { values, configFile };
}

/** Build and validate the configuration. Throws ConfigError. */
export function loadConfig(sources: ConfigSources = {}): RelayConfig {
  const env = sources.env ?? {};
  const { values: flags, configFile } = parseFlags(sources.argv ?? []);
  const origin = new Map<string, string>();
  let raw: Record<string, unknown> = {};
  const file = configFile ?? env.SEALRELAY_CONFIG;
  if (file) {
    let text: string;
    try {
      text = (sources.readFile ?? ((p) => readFileSync(p, 'utf8')))(file);
    } catch (err) {
      throw new ConfigError(`Config file ${file} could not be read: ${(err as Error).message}`);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`Config file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`Config file ${file} must hold a JSON object`);
  }
  for (const s of SOURCES) {
    const fromEnv = s.env ? env[s.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== '') {
      setPath(raw, s.path, fromEnv);
      origin.set(s.path, `environment variable ${s.env}`);
    }
    const fromFlag = s.flag ? flags.get(s.flag) : undefined;
    if (fromFlag !== undefined) {
      setPath(raw, s.path, fromFlag);
      origin.set(s.path, `option ${s.flag}`);
    }
  }
  for (const [k, v] of Object.entries(sources.overrides ?? {})) raw[k] = v;
  return validateConfig(raw, (path) => origin.get(path) ?? (file ? `config file ${file}` : 'the configuration'));
}

/** Validate a config object (already layered). */
export function validateConfig(raw: unknown, originOf: (path: string) => string = () => 'the configuration'): RelayConfig {
  const parsed = RelayConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const path = issue.path.filter((p) => typeof p === 'string').join('.');
    return `Setting ${path || '(root)'} from ${originOf(path)} is invalid: ${issue.message}.`;
  });
  throw new ConfigError(lines.join(' '));
}
