/**
 * Load the uWebSockets.js native binary BY PATH. The package entry silently falls
 * back to a JS shim when the binary does not load; a shim would make the "upper
 * bound of this stack" meaningless, so a missing binary must fail loudly instead.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Uws from '@trufflesuite/uws-js-unofficial';

export type UwsModule = typeof Uws;

export function loadNativeUws(): UwsModule {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
  const file = join(dir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  try {
    return require(file) as UwsModule;
  } catch (err) {
    throw new Error(`the uWebSockets.js native binary did not load from ${file} (Node ABI ${process.versions.modules}): ${(err as Error).message}`, { cause: err });
  }
}
