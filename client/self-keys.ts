/**
 * This device's own sender keys, as it first handed them out (chain key at the
 * start index), kept in storage so the device can still open its own messages
 * when they come back after a restart. A key package is never sealed to its own
 * sender, so the relay cannot give them back.
 *
 * Stored encrypted (crypto_secretbox) under a key derived from the device's own
 * secret keys: whoever can read them could already open every key package sealed
 * to this device, so this adds no new secret to protect, and storage alone (a
 * copied IndexedDB or app folder) reveals nothing.
 */
import type { DeviceKeys, ReceivedSenderKey } from '../crypto/index.ts';
// crypto/ has no public helper for local at-rest sealing of small records, so this uses
// libsodium directly (generichash, secretbox); a crypto-owned helper would replace it.
import { na, wipe } from '../crypto/sodium.ts';
import { z } from 'zod';
import type { ClientStorage } from './storage/types.ts';

const DOMAIN = new TextEncoder().encode('sealrelay/client/self-sender-keys/v1');
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s: string) => new Uint8Array(s.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);

const StoredKey = z.object({
  orderId: z.string(),
  epoch: z.number().int(),
  scope: z.string(),
  senderDeviceId: z.string(),
  senderKeyId: z.string().regex(/^[0-9a-f]+$/),
  startIndex: z.number().int().nonnegative(),
  chainKey: z.string().regex(/^[0-9a-f]{64}$/),
});

export class SelfKeys {
  private readonly key: Uint8Array;

  constructor(
    private readonly storage: ClientStorage,
    keys: DeviceKeys,
  ) {
    const s = na();
    const secret = keys.serialize();
    const material = s.crypto_generichash(64, secret, null);
    this.key = s.crypto_generichash(32, DOMAIN, material);
    wipe(secret);
    wipe(material);
  }

  async save(k: ReceivedSenderKey): Promise<void> {
    const s = na();
    const plain = new TextEncoder().encode(
      JSON.stringify({ orderId: k.orderId, epoch: k.epoch, scope: k.scope, senderDeviceId: k.senderDeviceId, senderKeyId: hex(k.senderKeyId), startIndex: k.startIndex, chainKey: hex(k.chainKey) }),
    );
    const nonce = s.randombytes_buf(s.crypto_secretbox_NONCEBYTES);
    const boxed = s.crypto_secretbox_easy(plain, nonce, this.key);
    wipe(plain);
    const out = new Uint8Array(nonce.length + boxed.length);
    out.set(nonce);
    out.set(boxed, nonce.length);
    await this.storage.set(`selfkeys/${k.orderId}/${hex(k.senderKeyId)}`, out);
  }

  /** Every own sender key of `order` this device stored; records that do not open are skipped. */
  async load(order: string): Promise<ReceivedSenderKey[]> {
    const s = na();
    const out: ReceivedSenderKey[] = [];
    for (const key of await this.storage.list(`selfkeys/${order}/`)) {
      const bytes = await this.storage.get(key);
      if (!bytes || bytes.length <= s.crypto_secretbox_NONCEBYTES) continue;
      let plain: Uint8Array;
      try {
        plain = s.crypto_secretbox_open_easy(bytes.subarray(s.crypto_secretbox_NONCEBYTES), bytes.subarray(0, s.crypto_secretbox_NONCEBYTES), this.key);
      } catch {
        continue; // written by other device keys (storage reused), or altered
      }
      const r = StoredKey.safeParse(JSON.parse(new TextDecoder().decode(plain)));
      wipe(plain);
      if (!r.success || r.data.orderId !== order) continue;
      out.push({ ...r.data, senderKeyId: unhex(r.data.senderKeyId), chainKey: unhex(r.data.chainKey) });
    }
    return out;
  }
}
