/**
 * Loads a NATIVE uWebSockets.js binding, or refuses.
 *
 * Order: the official `uWebSockets.js` package (if installed), then the native
 * binary shipped inside `@trufflesuite/uws-js-unofficial`, required BY PATH.
 * That package's entry point silently falls back to a pure-JS shim when its
 * binary does not match the Node ABI; the shim is several times slower and
 * behaves differently under backpressure, so a relay running on it would pass
 * tests and fail in production. We never go through that entry point.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { UwsModule } from './native.ts';

const require = createRequire(import.meta.url);

export interface LoadedUws {
  readonly module: UwsModule;
  /** Human-readable origin, for the start-up log. */
  readonly description: string;
}

/** Why no native binding could be loaded: one line per candidate tried. */
export class UwsUnavailableError extends Error {
  readonly code = 'UWS_NATIVE_MISSING';
  constructor(readonly attempts: readonly string[]) {
    super(
      'No native uWebSockets.js binding could be loaded, so the relay refuses to start ' +
        '(a JavaScript fallback would be silently slow). Install one for this platform and Node ABI ' +
        `(${process.platform}-${process.arch}, modules ${process.versions.modules}): ` +
        '`npm install uNetworking/uWebSockets.js#v20.52.0`, or reinstall @trufflesuite/uws-js-unofficial@20.30.0-unofficial.0 ' +
        'on Node 20. Tried: ' +
        attempts.join('; '),
    );
    this.name = 'UwsUnavailableError';
  }
}

/** Where the unofficial package keeps the binary for this process, or undefined if the package is absent. */
export function unofficialBinaryPath(resolve: (id: string) => string = require.resolve): string | undefined {
  let pkgJson: string;
  try {
    pkgJson = resolve('@trufflesuite/uws-js-unofficial/package.json');
  } catch {
    return undefined;
  }
  const file = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return path.join(path.dirname(pkgJson), 'binaries', file);
}

export interface LoaderDeps {
  /** CommonJS require (injected so tests can simulate missing packages). */
  readonly load: (id: string) => unknown;
  readonly binaryPath: () => string | undefined;
}

const defaultDeps: LoaderDeps = { load: (id) => require(id), binaryPath: () => unofficialBinaryPath() };

function looksNative(mod: unknown): mod is UwsModule {
  const m = mod as Partial<UwsModule> | null;
  // The JS shim exports App too, but not the uSockets free functions.
  return !!m && typeof m.App === 'function' && typeof m.us_listen_socket_close === 'function' && typeof m.us_socket_local_port === 'function';
}

let cached: LoadedUws | undefined;

/** Load the native binding (memoised). Throws UwsUnavailableError when there is none. */
export function loadUws(deps: LoaderDeps = defaultDeps): LoadedUws {
  if (cached && deps === defaultDeps) return cached;
  const attempts: string[] = [];
  try {
    const mod = deps.load('uWebSockets.js');
    if (looksNative(mod)) return remember({ module: mod, description: 'uWebSockets.js (official, native)' }, deps);
    attempts.push('uWebSockets.js: loaded but is not a native binding');
  } catch (err) {
    attempts.push(`uWebSockets.js: ${firstLine(err)}`);
  }
  const file = deps.binaryPath();
  if (!file) {
    attempts.push('@trufflesuite/uws-js-unofficial: package not installed');
  } else {
    try {
      const mod = deps.load(file);
      if (looksNative(mod)) return remember({ module: mod, description: `@trufflesuite/uws-js-unofficial native ${path.basename(file)}` }, deps);
      attempts.push(`${file}: loaded but is not a native binding`);
    } catch (err) {
      attempts.push(`${file}: ${firstLine(err)}`);
    }
  }
  throw new UwsUnavailableError(attempts);
}

function remember(loaded: LoadedUws, deps: LoaderDeps): LoadedUws {
  if (deps === defaultDeps) cached = loaded;
  return loaded;
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 200);
}
