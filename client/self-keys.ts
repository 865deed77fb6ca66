/**
 * This device's own sender keys, as it first handed them out (chain key at the
 * start index), kept in storage so the device can still open its own messages
 * when they come back after a restart. A key package is never sealed to its own
 * sender, so the relay cannot give them back.
 *
 * Stored encrypted (nonce ‖ crypto_secretbox, crypto/'s secretboxSeal) under a key
 * derived from the device's own secret keys: whoever can read them could already
 * open every key package sealed to this device, so this adds no new secret to
 * protect, and storage alone (a copied IndexedDB or app folder) reveals nothing.
 * The format predates crypto/'s sealState and stays as it is so that records
 * written by earlier versions still open (test/client/self-keys.test.ts holds one).
 */
import { blake2b, secretboxOpen, secretboxSeal, type DeviceKeys, type ReceivedSenderKey } from '../crypto/index.ts';
import { wipe } from '../crypto/sodium.ts';
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
    const secret = keys.serialize();
    const material = blake2b(64, secret);
    this.key = blake2b(32, DOMAIN, material);
    wipe(secret);
    wipe(material);
  }

  async save(k: ReceivedSenderKey): Promise<void> {
    const plain = new TextEncoder().encode(
      JSON.stringify({ orderId: k.orderId, epoch: k.epoch, scope: k.scope, senderDeviceId: k.senderDeviceId, senderKeyId: hex(k.senderKeyId), startIndex: k.startIndex, chainKey: hex(k.chainKey) }),
    );
    const sealed = secretboxSeal(this.key, plain);
    wipe(plain);
    await this.storage.set(`selfkeys/${k.orderId}/${hex(k.senderKeyId)}`, sealed);
  }

  /** Every own sender key of `order` this device stored; records that do not open are skipped. */
  async load(order: string): Promise<ReceivedSenderKey[]> {
    const out: ReceivedSenderKey[] = [];
    for (const key of await this.storage.list(`selfkeys/${order}/`)) {
      const bytes = await this.storage.get(key);
      // null: written by other device keys (storage reused), altered, or truncated.
      const plain = bytes ? secretboxOpen(this.key, bytes) : null;
      if (!plain) continue;
      const r = StoredKey.safeParse(JSON.parse(new TextDecoder().decode(plain)));
      wipe(plain);
      if (!r.success || r.data.orderId !== order) continue;
      out.push({ ...r.data, senderKeyId: unhex(r.data.senderKeyId), chainKey: unhex(r.data.chainKey) });
    }
    return out;
  }
}
