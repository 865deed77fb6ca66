// What cryptoReady() loads. Node with sodium-native must not also load libsodium.js:
// its wasm instance costs ~160 ms and ~7 MiB at start-up for nothing. Observed two
// ways: the backend registry, and whether the libsodium.js module was ever evaluated
// (vi.mock wraps it, so any import of it anywhere in crypto/ or client/ is seen).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const seen = vi.hoisted(() => ({ libsodiumJs: false }));
vi.mock('libsodium-wrappers-sumo', async (importOriginal) => {
  seen.libsodiumJs = true;
  return importOriginal();
});

const { cryptoReady, cryptoBackend, sha256 } = await import('../../crypto/index.ts');
const { loadedBackends } = await import('../../crypto/backend.ts');
// The client modules that once reached libsodium.js through the deprecated na().
await import('../../client/self-keys.ts');
await import('../../client/attachments.ts');

const forcedWasm = process.env.SEALRELAY_CRYPTO_BACKEND === 'wasm';

describe('cryptoReady', () => {
  it.skipIf(forcedWasm)('in Node with sodium-native loads sodium-native only, never the wasm libsodium.js', async () => {
    await cryptoReady();
    expect(cryptoBackend()).toBe('sodium-native');
    expect(Buffer.from(sha256(new TextEncoder().encode('abc'))).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(loadedBackends()).toEqual(['sodium-native']);
    expect(seen.libsodiumJs).toBe(false);
  });

  it('with SEALRELAY_CRYPTO_BACKEND=wasm loads libsodium.js only (in a child process, so the default run checks it too)', () => {
    const script = [
      "const { cryptoReady, cryptoBackend } = await import('./crypto/index.ts');",
      "const { loadedBackends } = await import('./crypto/backend.ts');",
      'await cryptoReady();',
      'console.log(JSON.stringify({ backend: cryptoBackend(), loaded: loadedBackends() }));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, SEALRELAY_CRYPTO_BACKEND: 'wasm' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ backend: 'libsodium-wrappers-sumo', loaded: ['libsodium-wrappers-sumo'] });
  });
});
