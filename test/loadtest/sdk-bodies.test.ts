import { beforeAll, describe, expect, it } from 'vitest';
import { decodeKeyPackageHeader } from '../../crypto/index.ts';
import { STEADY_MIX } from '../../loadtest/driver/mix.ts';
import { messageBody } from '../../loadtest/targets/bodies.ts';
import { makeFixtures, partyDevice, type LoadFixtures } from '../../loadtest/targets/fixtures.ts';
import { ErrorTally } from '../../loadtest/targets/reconnecting.ts';
import type { SealParty } from '../../loadtest/targets/sealrelay-clients.ts';
import { SdkOrder } from '../../loadtest/targets/sdk-bodies.ts';

const cls = (name: string) => STEADY_MIX.classes.findIndex((c) => c.name === name);
const wire = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;

/** A relay that only answers kp_get with the packages addressed to the asking party (the relay's rule). */
function keyServer(sdk: SdkOrder, fx: LoadFixtures, senders: number[]) {
  const all = senders.flatMap((p) => sdk.keyPackagesOf(p));
  return (party: number) =>
    ({
      request: async () => ({ t: 'kp', rid: 1, order: fx.orders[0]!.orderId, packages: all.filter((b) => decodeKeyPackageHeader(b).recipientDeviceId === partyDevice(fx.orders[0]!, party).deviceId).map(wire) }),
    }) as unknown as SealParty;
}

describe('bodies sealed and opened with the SDK', () => {
  let fx: LoadFixtures;
  let sdk: SdkOrder;
  let via: (party: number) => SealParty;
  beforeAll(async () => {
    fx = await makeFixtures({ orders: 1, receiversPerOrder: 3, runId: 'sdk' });
    sdk = await SdkOrder.create(fx.orders[0]!, STEADY_MIX, [fx.authority.publicKey], Date.now());
    via = keyServer(sdk, fx, [0, 1, 2]);
    for (const party of [1, 2, 3]) expect(await sdk.fetchKeyPackages(party, via(party))).toBe(0);
  });
  const delivered = (seq: number, envelope: Uint8Array) => ({ seq, prev: seq - 1, envelope: wire(envelope), at: Date.now() });

  it('a courier location, sealed at send time, opens at every receiver (key packages through the relay)', async () => {
    const c = cls('location');
    const env = sdk.seal(c, 1, messageBody(STEADY_MIX.classes[c]!, 1, Date.now()));
    for (const party of [1, 2, 3]) {
      const failures = new ErrorTally();
      expect(await sdk.opener(party, via(party), failures)(delivered(1, env))).toBe(true);
      expect(failures.toJSON()).toEqual({});
    }
  });

  it('a shipper opens its own chat line when it comes back in the sequence', async () => {
    const c = cls('chat-shipper');
    const env = sdk.seal(c, 1, messageBody(STEADY_MIX.classes[c]!, 1, Date.now()));
    expect(await sdk.opener(1, via(1), new ErrorTally())(delivered(2, env))).toBe(true);
  });

  it('an altered envelope is counted by its code and not handed on', async () => {
    const c = cls('chat-courier');
    const env = sdk.seal(c, 1, messageBody(STEADY_MIX.classes[c]!, 1, Date.now())).slice();
    env[env.length - 100]! ^= 1;
    const failures = new ErrorTally();
    expect(await sdk.opener(2, via(2), failures)(delivered(3, env))).toBe(false);
    expect(failures.toJSON()).toEqual({ BAD_SIGNATURE: 1 });
  });

  it('the consignee holds no key for the commercial terms: the policy decides who can read', async () => {
    const c = cls('terms-shipper');
    const env = sdk.seal(c, 1, messageBody(STEADY_MIX.classes[c]!, 1, Date.now()));
    const failures = new ErrorTally();
    expect(await sdk.opener(2, via(2), failures)(delivered(4, env))).toBe(false);
    expect(failures.toJSON()).toEqual({ KEY_PACKAGE_MISSING: 1 });
    expect(await sdk.opener(3, via(3), new ErrorTally())(delivered(4, env))).toBe(true); // the dispatcher reads it
  });

  it('refuses to seal a class out of order: the chain index is the class sequence', () => {
    const c = cls('chat-consignee');
    expect(() => sdk.seal(c, 2, messageBody(STEADY_MIX.classes[c]!, 2, Date.now()))).toThrow(/chain index 0/);
  });
});
