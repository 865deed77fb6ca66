// This file deliberately never calls cryptoReady(): it shows what the relay can do
// before (or without) loading libsodium, and that the relay's import holds no secret API.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as pub from '../../crypto/public.ts';
import type { TestVectors } from '../../crypto/vectors.ts';

const v = JSON.parse(readFileSync(new URL('../../crypto/test-vectors.json', import.meta.url), 'utf8')) as TestVectors;
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

describe('the relay-facing API (crypto/public.ts)', () => {
  it('decodes envelope and key-package headers, certificates and rosters without libsodium loaded', () => {
    expect(pub.decodeEnvelopeHeader(hex(v.envelopes[0]!.bytes))).toMatchObject({ orderId: 'order-4711', epoch: 1, scope: 'shared', kind: 'status', index: 0 });
    expect(pub.decodeKeyPackageHeader(hex(v.keyPackage))).toMatchObject({ orderId: 'order-4711', scope: 'shared' });
    expect(pub.decodeCertificate(hex(v.certificate)).userId).toBe('courier-17');
    expect(pub.decodeRoster(hex(v.roster.bytes)).members).toHaveLength(2);
    expect(pub.mayPublish(pub.DEFAULT_POLICY, 'courier', 'location', 'shared')).toBe(true);
  });

  it('says NOT_READY, not a wasm crash, when verification is called before cryptoReady()', () => {
    expect(() => pub.verifyCertificate(hex(v.certificate), [hex(v.identity.authorityPublicKey)], 0)).toThrow(expect.objectContaining({ code: 'NOT_READY' }));
    expect(() => pub.verifyChallenge(new Uint8Array(64), new Uint8Array(32), new Uint8Array(32))).toThrow(expect.objectContaining({ code: 'NOT_READY' }));
  });

  it('exports nothing that creates, holds or uses a secret key', () => {
    const names = Object.keys(pub).sort();
    for (const secretful of ['AuthorityKey', 'DeviceKeys', 'signChallenge', 'issueCertificate', 'signRoster', 'sealEnvelope', 'openEnvelope', 'OutboundSenderKey', 'ReceiverState', 'createKeyPackages', 'openKeyPackage', 'sealKeystore', 'openKeystore', 'encryptAttachment', 'decryptAttachment']) {
      expect(names).not.toContain(secretful);
    }
    for (const needed of ['cryptoReady', 'verifyCertificate', 'decodeCertificate', 'verifyRoster', 'decodeRoster', 'RosterChain', 'mayPublish', 'mayRead', 'readersOf', 'policyById', 'DEFAULT_POLICY', 'decodeEnvelopeHeader', 'decodeKeyPackageHeader', 'verifyChallenge', 'deviceIdFromSigningKey', 'CryptoError']) {
      expect(names).toContain(needed);
    }
  });
});
