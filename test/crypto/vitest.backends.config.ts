// The whole crypto suite once per backend: `npm run test:crypto:backends`.
// (The default `vitest run` runs it once with the auto-selected backend; backends.test.ts
// covers the vectors and cross-backend interop of both there.)
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const suite = (backend: 'wasm' | 'native') => ({
  test: {
    name: `crypto-${backend}`,
    include: ['test/crypto/**/*.test.ts'],
    env: { SEALRELAY_CRYPTO_BACKEND: backend },
    // Inline projects do not inherit the root's test options.
    testTimeout: 30_000,
  },
});

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    maxWorkers: 2,
    testTimeout: 30_000,
    projects: [suite('wasm'), suite('native')],
  },
});
