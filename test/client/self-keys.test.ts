/**
 * Own sender keys at rest (client/self-keys.ts). The record format must not change:
 * devices upgraded in place still hold records written by earlier versions.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { cryptoReady, DeviceKeys, type ReceivedSenderKey } from '../../crypto/index.ts';
import { wasmSodium } from '../../crypto/backend-wasm.ts';
import { SelfKeys } from '../../client/self-keys.ts';
import { MemoryStorage } from '../../client/storage/memory.ts';

beforeAll(() => cryptoReady());

const deviceKeys = () => DeviceKeys.fromSeeds(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
const KEY_ID = 'ab'.repeat(16);
const stored = (k: DeviceKeys): ReceivedSenderKey => ({
  orderId: 'SO-1',
  epoch: 2,
  scope: 'shared',
  senderDeviceId: k.deviceId,
  senderKeyId: new Uint8Array(16).fill(0xab),
  startIndex: 7,
  chainKey: new Uint8Array(32).fill(0xcd),
});

/**
 * Written by SelfKeys.save before it moved off libsodium.js (commit c33a917's tree) for
 * the keys above and `stored(keys)`: nonce ‖ crypto_secretbox_easy under
 * BLAKE2b-256(key = BLAKE2b-512(keys.serialize()), 'sealrelay/client/self-sender-keys/v1').
 */
const WRITTEN_BEFORE =
  'd6a43c43ca8db70128d78074bbad1343102acae24824ee2a51c0ab1f7346f08db8dbeac0f6e5936c89bc7d800e3cd9cd4dc911c13a802cc3bf0cadb9ee92bfd9994429ea174fb55f54c421e00ddc23f25520a9c8e9c49971ec2c92fb720937bfd8c23a2a2ef48f877cb86bf629da23de22ce2ab97e633aec43f1410dbeb7f9510e912803e583c49f218a2d52e111019bc694ecad29d6fd230756fa0cac2fff803b778a2c18fdc500aca960b21514b935acae7d5f2bc54cb854e7f10dd4d076ab146163c0a78d3c75dcc5b44deedb89aba5222424dfe1c2432351f5f0325c1cf100a5f26e5c666571612288cd3ec942c108b1a8d9094d84d225965cb7162e713192d7a6aba1863ebabbc46adc599e94a149fb88';

describe('SelfKeys', () => {
  it('opens a record written by the earlier implementation', async () => {
    const keys = deviceKeys();
    const storage = new MemoryStorage();
    await storage.set(`selfkeys/SO-1/${KEY_ID}`, Buffer.from(WRITTEN_BEFORE, 'hex'));
    expect(await new SelfKeys(storage, keys).load('SO-1')).toEqual([stored(keys)]);
  });

  it('writes records libsodium.js opens as nonce ‖ crypto_secretbox_easy under the same key (the format is unchanged)', async () => {
    const keys = deviceKeys();
    const storage = new MemoryStorage();
    await new SelfKeys(storage, keys).save(stored(keys));
    const record = (await storage.get(`selfkeys/SO-1/${KEY_ID}`))!;
    const js = await wasmSodium();
    const key = js.crypto_generichash(32, new TextEncoder().encode('sealrelay/client/self-sender-keys/v1'), js.crypto_generichash(64, keys.serialize(), null));
    const plain = js.crypto_secretbox_open_easy(record.subarray(24), record.subarray(0, 24), key);
    expect(JSON.parse(new TextDecoder().decode(plain))).toMatchObject({ orderId: 'SO-1', startIndex: 7, chainKey: 'cd'.repeat(32) });
  });

  it('round-trips what it saves, per order, after a restart (a new SelfKeys over the same storage)', async () => {
    const keys = deviceKeys();
    const storage = new MemoryStorage();
    await new SelfKeys(storage, keys).save(stored(keys));
    await new SelfKeys(storage, keys).save({ ...stored(keys), orderId: 'SO-2' });
    expect(await new SelfKeys(storage, keys).load('SO-1')).toEqual([stored(keys)]);
    expect((await new SelfKeys(storage, keys).load('SO-2')).map((k) => k.orderId)).toEqual(['SO-2']);
  });

  it('skips records of other device keys, altered records and truncated ones', async () => {
    const keys = deviceKeys();
    const storage = new MemoryStorage();
    await storage.set(`selfkeys/SO-1/${KEY_ID}`, Buffer.from(WRITTEN_BEFORE, 'hex'));
    const altered = Buffer.from(WRITTEN_BEFORE, 'hex');
    altered[40] = altered[40]! ^ 1;
    await storage.set('selfkeys/SO-1/altered', altered);
    await storage.set('selfkeys/SO-1/short', new Uint8Array(30));
    const other = DeviceKeys.fromSeeds(new Uint8Array(32).fill(3), new Uint8Array(32).fill(4));
    expect(await new SelfKeys(storage, other).load('SO-1')).toEqual([]);
    expect(await new SelfKeys(storage, keys).load('SO-1')).toEqual([stored(keys)]);
  });
});
