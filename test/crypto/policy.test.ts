import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, KINDS, ROLES, loadPolicy, mayPublish, mayRead, policyById, readersOf, CryptoError } from '../../crypto/index.ts';

describe('the default policy', () => {
  it('is registered under sealrelay/default@1', () => {
    expect(policyById('sealrelay/default@1')).toBe(DEFAULT_POLICY);
    expect(policyById('nope@1')).toBeUndefined();
  });

  it('lets everyone read shared and only shipper, dispatcher and auditor read commercial', () => {
    for (const r of ROLES) expect(mayRead(DEFAULT_POLICY, r, 'shared')).toBe(true);
    expect(ROLES.filter((r) => mayRead(DEFAULT_POLICY, r, 'commercial'))).toEqual(['shipper', 'dispatcher', 'auditor']);
    expect(mayRead(DEFAULT_POLICY, 'courier', 'nonexistent')).toBe(false);
  });

  it('lets only a courier post location and only a consignee post proof_of_delivery', () => {
    expect(ROLES.filter((r) => mayPublish(DEFAULT_POLICY, r, 'location', 'shared'))).toEqual(['courier']);
    expect(ROLES.filter((r) => mayPublish(DEFAULT_POLICY, r, 'proof_of_delivery', 'shared'))).toEqual(['consignee']);
  });

  it('lets an auditor publish nothing anywhere', () => {
    for (const k of KINDS) for (const s of ['shared', 'commercial']) expect(mayPublish(DEFAULT_POLICY, 'auditor', k, s)).toBe(false);
  });

  it('never lets a role publish into a scope it cannot read', () => {
    for (const r of ROLES) for (const k of KINDS) for (const s of ['shared', 'commercial']) {
      if (mayPublish(DEFAULT_POLICY, r, k, s)) expect(mayRead(DEFAULT_POLICY, r, s)).toBe(true);
    }
  });

  it('selects the readers of a scope from a roster', () => {
    const roster = { policyId: DEFAULT_POLICY.id, members: ROLES.map((role) => ({ role, deviceId: `d-${role}` })) };
    expect(readersOf(roster, 'commercial').map((m) => m.deviceId)).toEqual(['d-shipper', 'd-dispatcher', 'd-auditor']);
  });
});

describe('loading policy data', () => {
  it('accepts a custom policy with an extra scope', () => {
    const p = loadPolicy({
      id: 'acme/cold-chain@1',
      scopes: { shared: { readers: [...ROLES] }, sensors: { readers: ['courier', 'dispatcher'] } },
      publish: [{ roles: ['courier'], kinds: ['status'], scopes: ['sensors'] }],
    });
    expect(mayPublish(p, 'courier', 'status', 'sensors')).toBe(true);
    expect(mayRead(p, 'shipper', 'sensors')).toBe(false);
  });

  it('rejects unknown roles, unknown scopes and publishers that cannot read, as MALFORMED', () => {
    const bad = [
      { id: 'x', scopes: { shared: { readers: ['pirate'] } }, publish: [] },
      { id: 'x', scopes: { shared: { readers: ['courier'] } }, publish: [{ roles: ['courier'], kinds: ['text'], scopes: ['other'] }] },
      { id: 'x', scopes: { shared: { readers: ['courier'] } }, publish: [{ roles: ['shipper'], kinds: ['text'], scopes: ['shared'] }] },
      'not an object',
    ];
    for (const b of bad) expect(() => loadPolicy(b)).toThrow(CryptoError);
  });
});
