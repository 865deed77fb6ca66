/**
 * The thin shell between the Redis store and node-redis: one narrow interface over a
 * standalone client or a cluster, so RedisStore and RedisBlobStore never branch on
 * topology.
 *
 * - Replies come back with blob strings as Buffers (RESP type mapping), so envelopes,
 *   rosters and blobs are raw bytes end to end, never base64 or UTF-8-mangled.
 * - The offline queue is disabled: while Redis is unreachable a command rejects at
 *   once instead of waiting in memory, which is what lets `append` refuse rather than
 *   hang, and keeps memory bounded during an outage.
 * - Scripts run as EVALSHA, but never in a way that can reorder two calls: see
 *   ScriptRunner. A script's calls on one connection reach Redis in call order, and
 *   a NOSCRIPT (empty script cache) must not let a later call overtake an earlier one.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createClient, createCluster, RESP_TYPES } from 'redis';
import { StoreUnavailableError } from './types.ts';

export type RedisArg = string | Buffer;

/** Where Redis is: one URL, or seed nodes of a Redis Cluster. */
export type RedisTarget = { readonly url: string } | { readonly cluster: readonly string[] };

export interface RedisConnectionOptions {
  readonly target: RedisTarget;
  /**
   * A command that has not answered within this many ms rejects (the store reports
   * STORE_UNAVAILABLE). Default: no timeout (a dropped connection still rejects what
   * it had in flight). It costs a timer per command, and under overload a timeout
   * shorter than the queueing delay turns a slow relay into one that fails everything.
   */
  readonly commandTimeoutMs?: number;
  /**
   * Give up on the first connection after this many ms (default 10 s), so a relay
   * started without Redis says so instead of waiting silently. Later outages are
   * retried forever.
   */
  readonly connectTimeoutMs?: number;
  /** Reconnect delay after `retries` failed attempts; default: full-jitter backoff, 50 ms … 2 s. */
  readonly reconnectDelayMs?: (retries: number) => number;
}

/** A Lua script with its SHA1, so EVALSHA needs no round trip to load it first. */
export interface LuaScript {
  readonly source: string;
  readonly sha1: string;
}

/** Load `lua/<name>.lua`, with `lua/<prelude>.lua` files prepended (shared functions). */
export function loadScript(name: string, ...preludes: string[]): LuaScript {
  const read = (n: string) => readFileSync(new URL(`./lua/${n}.lua`, import.meta.url), 'utf8');
  const source = [...preludes.map(read), read(name)].join('\n');
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;

/** Full-jitter exponential backoff: spreads reconnects of many relay nodes after a Redis restart. */
export function defaultReconnectDelay(retries: number): number {
  return Math.floor(Math.random() * Math.min(2000, 50 * 2 ** Math.min(retries, 10)));
}

export type ShardListener = (message: Buffer, channel: Buffer) => void;

/** The commands one topology must provide. */
interface Topology {
  send(key: string | undefined, readonly: boolean, args: RedisArg[]): Promise<unknown>;
  /** Called when a connection was (re)established: its server's script cache may be empty. */
  onFreshConnection(f: () => void): void;
  sSubscribe(channel: string, listener: ShardListener): Promise<void>;
  sUnsubscribe(channel: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs one Lua script over one topology without ever letting a later call overtake an
 * earlier one (the append script assigns seqs, so an overtaking call is a reordered
 * message: one publisher's pipelined publishes stored out of their send order).
 *
 * The naive EVALSHA → NOSCRIPT → EVAL fallback reorders: calls 1…k go out as EVALSHA
 * and all fail (empty cache); the re-sent EVAL of call 1 loads the script; call k+1,
 * issued after that but before the NOSCRIPT replies of 2…k were handled, succeeds as
 * EVALSHA, and the re-sent EVALs of 2…k run after it with higher seqs.
 *
 * - Until the script is known to be cached (first use, and again after any
 *   connection came back: a restarted, failed-over or new node has an empty cache),
 *   calls go out as EVAL, which cannot fail with NOSCRIPT. The first EVAL that
 *   succeeds proves the script cached on that connection; every call issued after its
 *   reply is behind it on the wire, so EVALSHA from then on is safe.
 * - If EVALSHA still meets NOSCRIPT (SCRIPT FLUSH, or a cluster node the script has
 *   not reached yet), each EVALSHA in flight is re-sent as EVAL in reply order, which
 *   is send order on a connection, and new calls are held, in call order, until every
 *   one of those has been re-sent. Calls in flight behind the failed one fail with
 *   NOSCRIPT too: nothing on this connection loaded the script in between.
 *
 * What this cannot exclude: another client (another relay node) loading the script
 * into that server between two of our in-flight EVALSHAs, so the first fails and the
 * second succeeds. That needs a cache emptied under a live connection (SCRIPT FLUSH),
 * or, on a cluster, a node that lacks the script after it proved cached on another
 * node (state is per script, not per node). A restart or failover of a standalone
 * Redis replaces the connection, and a new connection starts with EVAL.
 */
class ScriptRunner {
  private cached = false;
  /** EVALSHA calls sent and not yet answered. */
  private inFlight = 0;
  /** Calls held back (in call order) until no EVALSHA is in flight; set while that is so. */
  private held: Array<() => void> | undefined;

  constructor(private readonly script: LuaScript, private readonly topology: Topology) {}

  /** A connection came back: the server behind it may have lost its scripts. */
  forget(): void {
    this.cached = false;
  }

  /** Sends synchronously unless held back, so calls reach the topology in call order. */
  run(keys: readonly string[], args: readonly RedisArg[]): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args];
    // An EVAL must not overtake an EVALSHA that may still fail and be re-sent.
    if (this.held || (!this.cached && this.inFlight > 0)) {
      return new Promise((resolve, reject) => {
        (this.held ??= []).push(() => this.dispatch(keys[0], rest).then(resolve, reject));
      });
    }
    return this.dispatch(keys[0], rest);
  }

  private dispatch(key: string | undefined, rest: RedisArg[]): Promise<unknown> {
    return this.cached ? this.evalsha(key, rest) : this.eval(key, rest);
  }

  private async eval(key: string | undefined, rest: RedisArg[]): Promise<unknown> {
    const reply = await this.topology.send(key, false, ['EVAL', this.script.source, ...rest]);
    // The server has the script now, and every later call is behind this one on the wire.
    this.cached = true;
    return reply;
  }

  private evalsha(key: string | undefined, rest: RedisArg[]): Promise<unknown> {
    this.inFlight++;
    let sent: Promise<unknown>;
    try {
      sent = this.topology.send(key, false, ['EVALSHA', this.script.sha1, ...rest]);
    } catch (err) {
      sent = Promise.reject(err);
    }
    return sent.then(
      (reply) => {
        this.settle();
        return reply;
      },
      (err: unknown) => {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) {
          this.settle();
          throw err;
        }
        this.cached = false;
        this.held ??= [];
        // Re-sent before settling: the held calls must go out after it.
        const retry = this.eval(key, rest);
        this.settle();
        return retry;
      },
    );
  }

  /** One EVALSHA answered; when none is left in flight, release the held calls in order. */
  private settle(): void {
    if (--this.inFlight > 0 || !this.held) return;
    const held = this.held;
    this.held = undefined;
    for (const send of held) send();
  }
}

export class RedisConnection {
  private readonly scripts = new Map<string, ScriptRunner>();

  private constructor(
    private readonly topology: Topology,
    /** Listeners told when a subscriber connection came back: hints may have been lost. */
    private readonly resubscribed: Set<() => void>,
  ) {
    topology.onFreshConnection(() => { for (const r of this.scripts.values()) r.forget(); });
  }

  /**
   * @example const conn = await RedisConnection.open({ target: { url: 'redis://127.0.0.1:6379' } });
   */
  static async open(opts: RedisConnectionOptions): Promise<RedisConnection> {
    const resubscribed = new Set<() => void>();
    const notify = () => { for (const f of resubscribed) f(); };
    const topology = 'url' in opts.target
      ? await openStandalone(opts.target.url, opts, notify)
      : await openCluster(opts.target.cluster, opts, notify);
    return new RedisConnection(topology, resubscribed);
  }

  /** Send one command; `key` routes it on a cluster. Blob strings come back as Buffers. */
  call<T>(key: string | undefined, args: RedisArg[], readonly = false): Promise<T> {
    return this.topology.send(key, readonly, args) as Promise<T>;
  }

  /** Run a script on the node owning keys[0] (all keys must share its slot). */
  async eval<T>(script: LuaScript, keys: readonly string[], args: readonly RedisArg[]): Promise<T> {
    let runner = this.scripts.get(script.sha1);
    if (!runner) this.scripts.set(script.sha1, (runner = new ScriptRunner(script, this.topology)));
    return (await runner.run(keys, args)) as T;
  }

  /** SSUBSCRIBE on a dedicated subscriber connection (node-redis resubscribes after reconnects). */
  sSubscribe(channel: string, listener: ShardListener): Promise<void> {
    return this.topology.sSubscribe(channel, listener);
  }

  sUnsubscribe(channel: string): Promise<void> {
    return this.topology.sUnsubscribe(channel);
  }

  /** Called after a subscriber connection reconnected and resubscribed; returns an unsubscribe function. */
  onResubscribed(f: () => void): () => void {
    this.resubscribed.add(f);
    return () => this.resubscribed.delete(f);
  }

  close(): Promise<void> {
    this.resubscribed.clear();
    return this.topology.close();
  }
}

function clientOptions(opts: RedisConnectionOptions) {
  const delay = opts.reconnectDelayMs ?? defaultReconnectDelay;
  return {
    disableOfflineQueue: true,
    socket: { reconnectStrategy: (retries: number) => delay(retries), connectTimeout: 5000 },
    // No per-command timeout unless asked for (0 = none). node-redis 6 otherwise gives
    // every command a 5 s AbortSignal.timeout: a timer, a signal and a listener per
    // command, and when queueing under load passes 5 s, every append fails and is
    // logged (a source-mapped stack each), which is what collapsed the relay at
    // 10,000 publishes/s (3 of 150,000 delivered). See commandTimeoutMs above.
    commandOptions: { typeMapping: BUFFERS, timeout: opts.commandTimeoutMs ?? 0 },
  };
}

/**
 * Calls `notify` when a connection is ready again after it had dropped. node-redis
 * has re-sent SSUBSCRIBE and awaited the reply before it emits 'ready', so a head
 * read issued from `notify` cannot miss an append made after the resubscription.
 */
function watchReconnects(emitter: { on(e: string, f: () => void): unknown }, down: string, up: string, notify: () => void) {
  let dropped = false;
  emitter.on(down, () => { dropped = true; });
  emitter.on(up, () => {
    if (!dropped) return;
    dropped = false;
    notify();
  });
}

/** node-redis retries the first connect forever; bound it, and stop the retry loop when giving up. */
async function connectWithin(c: { connect(): Promise<unknown>; destroy(): void }, opts: RedisConnectionOptions): Promise<void> {
  const ms = opts.connectTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no connection to Redis within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([c.connect(), timeout]);
  } catch (err) {
    c.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function openStandalone(url: string, opts: RedisConnectionOptions, notify: () => void): Promise<Topology> {
  const client = createClient({ url, ...clientOptions(opts) });
  // Without an 'error' listener node-redis rethrows connection errors as uncaught exceptions.
  client.on('error', () => undefined);
  await connectWithin(client, opts);
  let sub: typeof client | undefined;
  const subscriber = async (): Promise<typeof client> => {
    if (!sub) {
      sub = client.duplicate();
      sub.on('error', () => undefined);
      watchReconnects(sub, 'reconnecting', 'ready', notify);
      await sub.connect();
    }
    return sub;
  };
  return {
    send: (_key, _ro, args) => client.sendCommand(args),
    // 'ready' of the command connection; the first one was before open() returned.
    onFreshConnection: (f) => { client.on('ready', f); },
    sSubscribe: async (channel, listener) => (await subscriber()).sSubscribe(channel, listener, true),
    sUnsubscribe: async (channel) => { if (sub) await sub.sUnsubscribe(channel); },
    close: async () => {
      await Promise.allSettled([closeOrDestroy(client), sub ? closeOrDestroy(sub) : undefined]);
    },
  };
}

async function openCluster(nodes: readonly string[], opts: RedisConnectionOptions, notify: () => void): Promise<Topology> {
  const cluster = createCluster({
    rootNodes: nodes.map((url) => ({ url })),
    defaults: clientOptions(opts),
    commandOptions: clientOptions(opts).commandOptions,
  });
  cluster.on('error', () => undefined);
  cluster.on('node-error', () => undefined);
  // Sharded pub/sub already uses one dedicated connection per master inside node-redis.
  watchReconnects(cluster, 'node-reconnecting', 'node-ready', notify);
  await connectWithin(cluster, opts);
  return {
    send: (key, ro, args) => cluster.sendCommand(key, ro, args),
    // Any node, including one new to the slot map after a failover.
    onFreshConnection: (f) => { cluster.on('node-ready', f); },
    sSubscribe: (channel, listener) => cluster.sSubscribe(channel, listener, true),
    sUnsubscribe: (channel) => cluster.sUnsubscribe(channel),
    close: () => closeOrDestroy(cluster),
  };
}

/**
 * close() lets node-redis finish what is queued, which never happens while the
 * connection is down and reconnecting (a test hung 60 s on it): after `ms`, destroy.
 */
async function closeOrDestroy(c: { close(): Promise<unknown>; destroy(): void }, ms = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const outcome = await Promise.race([c.close().then(() => 'closed' as const, () => 'failed' as const), gaveUp]);
  clearTimeout(timer);
  if (outcome !== 'closed') {
    try {
      c.destroy();
    } catch {
      // Already closed or destroyed.
    }
  }
}

/** Any failure to reach Redis or run a command becomes STORE_UNAVAILABLE: nothing was acknowledged. */
export async function unavailableOnError<T>(op: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(op, err);
  }
}
