/**
 * `sealrelay serve`: start the relay from environment, optional JSON config file
 * and flags; print where it listens; stop gracefully on SIGTERM/SIGINT (exit 0).
 * A bad setting or a missing native uWS binding exits 1 with one clear sentence.
 */
import { ConfigError, loadConfig, startRelay, UwsUnavailableError } from '../server/index.ts';

export async function serve(argv: string[]): Promise<number | void> {
  let config;
  try {
    config = loadConfig({ env: process.env, argv });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sealrelay serve: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  let relay;
  try {
    relay = await startRelay(config);
  } catch (err) {
    if (err instanceof UwsUnavailableError) {
      process.stderr.write(`sealrelay serve: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`sealrelay serve: could not start: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`sealrelay listening on ${relay.url} (HTTP ${relay.httpUrl}, store ${config.redisCluster?.length ? 'redis cluster' : config.redisUrl ? 'redis' : 'memory'})\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    relay.log.info({ signal }, 'shutting down');
    relay.close().then(
      () => process.exit(0),
      (err: unknown) => {
        relay.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // Serve until a signal arrives.
  await new Promise<never>(() => undefined);
}
