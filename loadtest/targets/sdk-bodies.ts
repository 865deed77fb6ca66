/**
 * bodies 'sdk': messages sealed at send time and opened by every receiver, with
 * the code the client SDK runs (client/order.ts, client/open.ts): bodies through
 * the SDK's codec and schemas, `sealEnvelope` with the roster (the sender's own
 * policy check), sender keys handed out as key packages through the relay
 * (`kp_put`, `kp_get`), and on the receiving side the SDK's `openDelivered`
 * (roster of the epoch, signature, AEAD, replay window, policy, schema) and
 * `installKeyPackages`.
 *
 * One difference from the SDK, kept on purpose: a sender holds one chain per
 * message class (not per scope) and never rotates it during a run, so the chain
 * index read from the authenticated header is the class's own sequence, which
 * the accounting needs; the SDK's rotation every 100 messages is not measured.
 *
 * @example
 *   const sdk = await SdkOrder.create(order, mix, [authorityPk], Date.now());
 *   party.publish(id, sdk.seal(0, cls, messageBody(mix.classes[cls], seq, now)));
 *   inbox.open = sdk.opener(receiverIndex, party, failures);
 */
import { RosterSync } from '../../client/roster-sync.ts';
import { openDelivered, installKeyPackages } from '../../client/open.ts';
import { MemoryStorage } from '../../client/storage/memory.ts';
import { createKeyPackages, OutboundSenderKey, ReceiverState, sealEnvelope } from '../../crypto/index.ts';
import { MAX_KEY_PACKAGES_PER_PUT } from '../../protocol/limits.ts';
import type { DeliveredMessage } from '../../protocol/frames.ts';
import { partyOfReceiver, type Mix } from '../driver/mix.ts';
import { partyDevice as deviceOf, type LoadOrder } from './fixtures.ts';
import type { ErrorTally } from './reconnecting.ts';
import type { SealParty } from './sealrelay-clients.ts';

export class SdkOrder {
  /** Outbound chain of each class (index = class). */
  private readonly keys: OutboundSenderKey[];
  /** Receiver state of each receiving party, by party index. */
  private readonly states = new Map<number, ReceiverState>();

  private constructor(
    private readonly order: LoadOrder,
    private readonly mix: Mix,
    private readonly rosters: RosterSync,
    now: number,
  ) {
    const head = rosters.head;
    this.keys = mix.classes.map((c) =>
      OutboundSenderKey.create({ orderId: order.orderId, epoch: head.epoch, scope: c.scope, senderDeviceId: deviceOf(order, c.sender).deviceId, now }),
    );
    for (let r = 0; r < order.receivers.length; r++) {
      const party = partyOfReceiver(r);
      const state = new ReceiverState();
      // A party's own messages come back in the sequence too: install its own chains, as the SDK does.
      this.keys.forEach((k, c) => {
        if (mix.classes[c]!.sender !== party) return;
        const { chainKey, index } = k.snapshot();
        state.install({ orderId: order.orderId, epoch: head.epoch, scope: k.scope, senderDeviceId: k.senderDeviceId, senderKeyId: k.senderKeyId, startIndex: index, chainKey });
      });
      this.states.set(party, state);
    }
  }

  /** Verify the order's roster chain as a client does (RosterSync, from epoch 1) and make the sender keys. */
  static async create(order: LoadOrder, mix: Mix, trusted: readonly Uint8Array[], now: number): Promise<SdkOrder> {
    const rosters = await RosterSync.load(order.orderId, async () => ({ rosters: [order.roster] }), new MemoryStorage(), trusted, now);
    return new SdkOrder(order, mix, rosters, now);
  }

  /** Key packages of `party`'s chains, sealed to every member whose role reads the chain's scope. */
  keyPackagesOf(party: number): Uint8Array[] {
    const sender = deviceOf(this.order, party);
    return this.keys.flatMap((k, c) => (this.mix.classes[c]!.sender === party ? createKeyPackages(k, sender.keys, this.rosters.head).map((p) => p.bytes) : []));
  }

  /** Upload `party`'s key packages through its connection, before anything sealed with them is sent. */
  async putKeyPackages(party: number, via: SealParty): Promise<void> {
    const packages = this.keyPackagesOf(party);
    for (let i = 0; i < packages.length; i += MAX_KEY_PACKAGES_PER_PUT) {
      await via.request({ t: 'kp_put', order: this.order.orderId, packages: packages.slice(i, i + MAX_KEY_PACKAGES_PER_PUT) as Uint8Array<ArrayBuffer>[] }, 'kp_ok');
    }
  }

  /** Fetch the key packages addressed to receiving `party` and install those that verify. Returns how many failed to. */
  async fetchKeyPackages(party: number, via: SealParty, epoch = this.rosters.head.epoch): Promise<number> {
    const state = this.states.get(party);
    if (!state) throw new RangeError(`party ${party} of ${this.order.orderId} does not receive`);
    let after: Uint8Array | undefined;
    let failed = 0;
    for (let page = 0; page < 1000; page++) {
      const reply = await via.request({ t: 'kp_get', order: this.order.orderId, epoch, ...(after ? { after: after as Uint8Array<ArrayBuffer> } : {}) }, 'kp');
      failed += installKeyPackages(reply.packages, deviceOf(this.order, party).keys, this.rosters, state, new Set()).length;
      if (!reply.next) break;
      after = reply.next;
    }
    return failed;
  }

  /** Seal message `seq` (1-based) of class `cls` now; its chain index is seq - 1. */
  seal(cls: number, seq: number, body: Uint8Array): Uint8Array {
    const key = this.keys[cls]!;
    if (key.index !== seq - 1) throw new RangeError(`class ${cls} of ${this.order.orderId}: sealing message ${seq} at chain index ${key.index}; sends of one class must be sealed in order`);
    const c = this.mix.classes[cls]!;
    return sealEnvelope({ senderKey: key, sender: deviceOf(this.order, c.sender).keys, kind: c.kind, body, roster: this.rosters.head });
  }

  /**
   * How receiving `party` opens a delivered message: the SDK's openDelivered (key
   * packages fetched again, once, for an unknown sender key). A failure is counted
   * by code in `failures` and the message is not handed on.
   */
  opener(party: number, via: SealParty, failures: ErrorTally): (m: DeliveredMessage) => Promise<boolean> {
    const receiver = this.states.get(party);
    if (!receiver) throw new RangeError(`party ${party} of ${this.order.orderId} does not receive`);
    const me = deviceOf(this.order, party).deviceId;
    return async (m) => {
      const r = await openDelivered(m, {
        orderId: this.order.orderId,
        me,
        receiver,
        rosters: this.rosters,
        refreshRosters: async () => undefined, // one epoch for the whole run
        fetchKeys: async (epoch) => void (await this.fetchKeyPackages(party, via, epoch)),
      });
      if (!r.ok) failures.add(r.code);
      return r.ok;
    };
  }
}
