import { code } from './fixtures.ts';
import { describe, expect, it, vi } from 'vitest';
import { be } from '../../crypto/backend.ts';
import {
  cryptoReady, sealKeystore, openKeystore, sealDeviceKeystore, openDeviceKeystore, DeviceKeys, ReceiverState,
  keystoreInteractive, keystoreStrong, KEYSTORE_MIN_OPS, KEYSTORE_MIN_MEM, KEYSTORE_MAX_OPS, KEYSTORE_MAX_MEM,
} from '../../crypto/index.ts';

await cryptoReady();

// The cheapest cost the keystore accepts (libsodium's INTERACTIVE limits, also the default).
const CHEAP = { opsLimit: KEYSTORE_MIN_OPS, memLimit: KEYSTORE_MIN_MEM };
const OPS_AT = 4 + 'sealrelay/keystore/v1'.length + 4 + 4;
const MEM_AT = OPS_AT + 4;

function withCost(file: Uint8Array, opsLimit: number, memLimit: number): Uint8Array {
  const t = file.slice();
  const v = new DataView(t.buffer);
  v.setUint32(OPS_AT, opsLimit);
  v.setBigUint64(MEM_AT, BigInt(memLimit));
  return t;
}

describe('the keystore', () => {
  it('round-trips device keys and state under the right password (default Argon2id cost)', () => {
    const keys = DeviceKeys.generate();
    const state = new Map([['receiver', new ReceiverState().serialize()]]);
    const file = sealDeviceKeystore({ deviceKeys: keys, state }, 'correct horse battery staple');
    const back = openDeviceKeystore(file, 'correct horse battery staple');
    expect(back.deviceKeys.deviceId).toBe(keys.deviceId);
    expect(back.deviceKeys.boxPublicKey).toEqual(keys.boxPublicKey);
    expect(back.state.get('receiver')).toEqual(state.get('receiver'));
  });

  it('refuses a wrong password with BAD_PASSWORD', () => {
    const file = sealKeystore(new Uint8Array([1, 2, 3]), 'right', CHEAP);
    expect(code(() => openKeystore(file, 'wrong'))).toBe('BAD_PASSWORD');
  });

  it('refuses a downgraded cost parameter (authenticated as associated data)', () => {
    const file = sealKeystore(new Uint8Array([1, 2, 3]), 'right', { opsLimit: 3, memLimit: KEYSTORE_MIN_MEM });
    expect(new DataView(file.buffer).getUint32(OPS_AT)).toBe(3);
    expect(code(() => openKeystore(withCost(file, 2, KEYSTORE_MIN_MEM), 'right'))).toBe('BAD_PASSWORD');
  });

  it('refuses absurd cost parameters as MALFORMED instead of burning memory', () => {
    const file = sealKeystore(new Uint8Array([1]), 'right', CHEAP);
    const t = file.slice();
    t[MEM_AT + 2] = 0xff;
    expect(code(() => openKeystore(t, 'right'))).toBe('MALFORMED');
  });

  it(`refuses to open a file asking for more than ${KEYSTORE_MAX_MEM / 2 ** 20} MiB or ${KEYSTORE_MAX_OPS} passes (MALFORMED) before deriving anything`, () => {
    const file = sealKeystore(new Uint8Array([1]), 'right', CHEAP);
    const started = performance.now();
    expect(code(() => openKeystore(withCost(file, KEYSTORE_MIN_OPS, 1024 * 2 ** 20), 'right'))).toBe('MALFORMED'); // SENSITIVE: 1 GiB
    expect(code(() => openKeystore(withCost(file, KEYSTORE_MIN_OPS, KEYSTORE_MAX_MEM + 1024), 'right'))).toBe('MALFORMED');
    expect(code(() => openKeystore(withCost(file, KEYSTORE_MAX_OPS + 1, KEYSTORE_MIN_MEM), 'right'))).toBe('MALFORMED');
    expect(performance.now() - started).toBeLessThan(100); // nothing was derived
    // at the maxima the header is accepted and only the (now wrong) associated data fails
    expect(code(() => openKeystore(withCost(file, KEYSTORE_MIN_OPS, KEYSTORE_MAX_MEM), 'right'))).toBe('BAD_PASSWORD');
  });

  it(`neither produces nor opens a file below ${KEYSTORE_MIN_MEM / 2 ** 20} MiB or ${KEYSTORE_MIN_OPS} passes`, () => {
    expect(code(() => sealKeystore(new Uint8Array([1]), 'pw', { opsLimit: 1, memLimit: KEYSTORE_MIN_MEM }))).toBe('INVALID_ARGUMENT');
    expect(code(() => sealKeystore(new Uint8Array([1]), 'pw', { opsLimit: KEYSTORE_MIN_OPS, memLimit: 64 * 1024 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => sealKeystore(new Uint8Array([1]), 'pw', { opsLimit: 9, memLimit: KEYSTORE_MIN_MEM }))).toBe('INVALID_ARGUMENT');
    expect(code(() => sealDeviceKeystore({ deviceKeys: DeviceKeys.generate(), state: new Map() }, 'pw', { opsLimit: 1, memLimit: 8192 }))).toBe('INVALID_ARGUMENT');
    const file = sealKeystore(new Uint8Array([1]), 'pw', CHEAP);
    expect(code(() => openKeystore(withCost(file, 1, KEYSTORE_MIN_MEM), 'pw'))).toBe('MALFORMED');
    expect(code(() => openKeystore(withCost(file, KEYSTORE_MIN_OPS, KEYSTORE_MIN_MEM - 1024), 'pw'))).toBe('MALFORMED');
  });

  it('keeps both presets inside the accepted range (interactive = the minimum, strong = MODERATE, 256 MiB)', () => {
    for (const c of [keystoreInteractive(), keystoreStrong()]) {
      expect(c.opsLimit).toBeGreaterThanOrEqual(KEYSTORE_MIN_OPS);
      expect(c.opsLimit).toBeLessThanOrEqual(KEYSTORE_MAX_OPS);
      expect(c.memLimit).toBeGreaterThanOrEqual(KEYSTORE_MIN_MEM);
      expect(c.memLimit).toBeLessThanOrEqual(KEYSTORE_MAX_MEM);
    }
    expect(keystoreInteractive()).toEqual(CHEAP);
    expect(keystoreStrong().memLimit).toBe(KEYSTORE_MAX_MEM);
  });

  it('never contains the secret key bytes in clear', () => {
    const keys = DeviceKeys.generate();
    const raw = keys.serialize();
    const file = sealDeviceKeystore({ deviceKeys: keys, state: new Map() }, 'pw', CHEAP);
    expect(Buffer.from(file).includes(Buffer.from(raw.subarray(raw.length - 32)))).toBe(false);
  });

  it('wipes its intermediate plaintext copies: what it encrypts, what it decrypted, and the derived key', () => {
    const keys = DeviceKeys.generate();
    const b = be();
    const enc = vi.spyOn(b, 'aeadEncrypt');
    const dec = vi.spyOn(b, 'aeadDecrypt');
    try {
      const file = sealDeviceKeystore({ deviceKeys: keys, state: new Map([['s', new Uint8Array([9, 9, 9])]]) }, 'pw', CHEAP);
      const [plain, , , key] = enc.mock.calls[0]!;
      expect(plain.length).toBeGreaterThan(96);
      expect(plain.every((x) => x === 0)).toBe(true);
      expect(key.every((x) => x === 0)).toBe(true);
      const back = openDeviceKeystore(file, 'pw');
      expect(back.deviceKeys.deviceId).toBe(keys.deviceId);
      const opened = dec.mock.results[0]!.value as Uint8Array;
      expect(opened.length).toBeGreaterThan(96);
      expect(opened.every((x) => x === 0)).toBe(true);
      expect(dec.mock.calls[0]![3].every((x) => x === 0)).toBe(true);
    } finally {
      enc.mockRestore();
      dec.mockRestore();
    }
  });
});
