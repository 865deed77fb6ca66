// What cryptoReady() loads. Node with sodium-native must not also load libsodium.js:
// its wasm instance costs ~160 ms and ~7 MiB at start-up for nothing. Observed two
// ways: the backend registry, and whether the libsodium.js module was ever evaluated
// (vi.mock wraps it, so any import of it anywhere in crypto/ or client/ is seen).
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

  it.runIf(forcedWasm)('with SEALRELAY_CRYPTO_BACKEND=wasm loads libsodium.js only', async () => {
    await cryptoReady();
    expect(cryptoBackend()).toBe('libsodium-wrappers-sumo');
    expect(loadedBackends()).toEqual(['libsodium-wrappers-sumo']);
    expect(seen.libsodiumJs).toBe(true);
  });
});
