import { describe, expect, it } from 'vitest';
import { cryptoReady, sealKeystore, openKeystore, sealDeviceKeystore, openDeviceKeystore, DeviceKeys, ReceiverState, CryptoError } from '../../crypto/index.ts';

await cryptoReady();

// Cheapest Argon2id cost libsodium accepts, so the suite stays fast; the default is tested once below.
const CHEAP = { opsLimit: 1, memLimit: 64 * 1024 };

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CryptoError) return e.code;
    throw e;
  }
  return 'no error';
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
    const file = sealKeystore(new Uint8Array([1, 2, 3]), 'right', { opsLimit: 2, memLimit: 64 * 1024 });
    const t = file.slice();
    const opsAt = 4 + 'sealrelay/keystore/v1'.length + 4 + 4;
    expect(t[opsAt + 3]).toBe(2);
    t[opsAt + 3] = 1;
    expect(code(() => openKeystore(t, 'right'))).toBe('BAD_PASSWORD');
  });

  it('refuses absurd cost parameters as MALFORMED instead of burning memory', () => {
    const file = sealKeystore(new Uint8Array([1]), 'right', CHEAP);
    const t = file.slice();
    const memAt = 4 + 'sealrelay/keystore/v1'.length + 4 + 4 + 4;
    t[memAt + 2] = 0xff;
    expect(code(() => openKeystore(t, 'right'))).toBe('MALFORMED');
  });

  it('never contains the secret key bytes in clear', () => {
    const keys = DeviceKeys.generate();
    const raw = keys.serialize();
    const file = sealDeviceKeystore({ deviceKeys: keys, state: new Map() }, 'pw', CHEAP);
    expect(Buffer.from(file).includes(Buffer.from(raw.subarray(raw.length - 32)))).toBe(false);
  });
});
