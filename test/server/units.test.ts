import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { redisTargetOf } from '../../server/index.ts';
import { RateLimiter } from '../../server/rate-limit.ts';
import { createHmac } from 'node:crypto';
import { TicketIssuer, type TicketContext } from '../../server/ticket.ts';
import { UwsUnavailableError, loadUws } from '../../server/uws/loader.ts';

const KEY_HEX = 'a'.repeat(64);
const KEY_B64 = Buffer.alloc(32, 7).toString('base64');

describe('rate limiter', () => {
  it('allows a burst, then refuses with the time until the next token, and refills over time', () => {
    const rl = new RateLimiter({ ratePerSecond: 10, burst: 3 });
    expect([1, 2, 3].map(() => rl.take('d', 0).ok)).toEqual([true, true, true]);
    expect(rl.take('d', 0)).toEqual({ ok: false, retryAfterMs: 100 });
    expect(rl.take('d', 100).ok).toBe(true);
    expect(rl.take('other', 0).ok).toBe(true); // per key
  });

  it('forgets idle buckets so memory follows active devices, not all devices ever seen', () => {
    const rl = new RateLimiter({ ratePerSecond: 1000, burst: 1 });
    for (let i = 0; i < 10_000; i++) rl.take(`d${i}`, i * 10);
    expect(rl.size).toBeLessThan(5000);
  });
});

describe('configuration', () => {
  it('uses defaults with nothing set', () => {
    const c = loadConfig({ env: {} });
    expect(c).toMatchObject({ port: 8080, host: '0.0.0.0', trustedAuthorities: [], logLevel: 'info' });
  });

  it('layers file < environment < flags', () => {
    const c = loadConfig({
      env: { PORT: '9001', SEALRELAY_TRUSTED_AUTHORITIES: `${KEY_HEX}, ${KEY_B64}` },
      argv: ['--config', 'relay.json', '--port=9002'],
      readFile: () => JSON.stringify({ port: 9000, rateLimits: { publishPerSecond: 7 } }),
    });
    expect(c.port).toBe(9002);
    expect(c.rateLimits.publishPerSecond).toBe(7);
    expect(c.trustedAuthorities.map((k) => k.length)).toEqual([32, 32]);
  });

  it.each([
    [{ PORT: 'eighty' }, /Setting port from environment variable PORT is invalid/],
    [{ PORT: '70000' }, /port .*PORT.*65535/],
    [{ SEALRELAY_TRUSTED_AUTHORITIES: 'not-a-key' }, /trustedAuthorities.*SEALRELAY_TRUSTED_AUTHORITIES.*neither 64 hex digits nor base64/],
    [{ SEALRELAY_TICKET_SECRET: 'short' }, /ticketSecrets.*at least 32 characters/],
    [{ SEALRELAY_IDLE_TIMEOUT_S: '5' }, /limits.idleTimeoutS.*at least 8 seconds/],
    [{ LOG_LEVEL: 'loud' }, /logLevel/],
    [{ REDIS_URL: 'nope' }, /redisUrl.*REDIS_URL/],
  ])('stops on a bad setting with a sentence naming it: %o', (env, message) => {
    expect(() => loadConfig({ env })).toThrow(ConfigError);
    expect(() => loadConfig({ env })).toThrow(message);
  });

  it('refuses legacy v1 HTTP signatures unless the migration switch turns them on (environment or file)', () => {
    expect(loadConfig({ env: {} }).http.acceptLegacySignatures).toBe(false);
    expect(loadConfig({ env: {}, readFile: () => JSON.stringify({ http: { maxClockSkewMs: 5000 } }), argv: ['--config', 'r.json'] }).http.acceptLegacySignatures).toBe(false);
    expect(loadConfig({ env: { SEALRELAY_HTTP_ACCEPT_LEGACY_SIGNATURES: 'true' } }).http.acceptLegacySignatures).toBe(true);
    expect(loadConfig({ env: {}, readFile: () => JSON.stringify({ http: { acceptLegacySignatures: true } }), argv: ['--config', 'r.json'] }).http.acceptLegacySignatures).toBe(true);
  });

  it('reads the blob quotas under their new names, and still under the old memory-only ones (env and file); the new name wins', () => {
    const MiB = 1024 * 1024;
    expect(loadConfig({ env: {} }).blobs).toMatchObject({ quotaPerOrderBytes: 64 * MiB, quotaPerDeviceBytes: 64 * MiB });
    expect(loadConfig({ env: { SEALRELAY_BLOB_QUOTA_PER_ORDER_BYTES: String(2 * MiB), SEALRELAY_BLOB_QUOTA_PER_DEVICE_BYTES: String(3 * MiB) } }).blobs)
      .toMatchObject({ quotaPerOrderBytes: 2 * MiB, quotaPerDeviceBytes: 3 * MiB });
    expect(loadConfig({ env: { SEALRELAY_BLOB_MEMORY_QUOTA_PER_ORDER_BYTES: String(4 * MiB), SEALRELAY_BLOB_MEMORY_QUOTA_PER_DEVICE_BYTES: String(5 * MiB) } }).blobs)
      .toMatchObject({ quotaPerOrderBytes: 4 * MiB, quotaPerDeviceBytes: 5 * MiB });
    expect(loadConfig({ env: { SEALRELAY_BLOB_MEMORY_QUOTA_PER_ORDER_BYTES: String(4 * MiB), SEALRELAY_BLOB_QUOTA_PER_ORDER_BYTES: String(2 * MiB) } }).blobs.quotaPerOrderBytes).toBe(2 * MiB);
    const file = (blobs: object) => loadConfig({ argv: ['--config', 'r.json'], readFile: () => JSON.stringify({ blobs }) }).blobs;
    expect(file({ memoryQuotaPerOrderBytes: 6 * MiB })).toMatchObject({ quotaPerOrderBytes: 6 * MiB, quotaPerDeviceBytes: 64 * MiB });
    expect(file({ memoryQuotaPerDeviceBytes: 6 * MiB, quotaPerDeviceBytes: 7 * MiB })).toMatchObject({ quotaPerDeviceBytes: 7 * MiB });
    expect(() => loadConfig({ env: { SEALRELAY_BLOB_MEMORY_QUOTA_PER_ORDER_BYTES: '10' } })).toThrow(/blobs.quotaPerOrderBytes from environment variable SEALRELAY_BLOB_MEMORY_QUOTA_PER_ORDER_BYTES/);
  });

  it('names an unknown flag and an unreadable or invalid config file', () => {
    expect(() => loadConfig({ argv: ['--prot', '1'] })).toThrow(/Unknown option --prot/);
    expect(() => loadConfig({ argv: ['--config', 'x.json'], readFile: () => '{' })).toThrow(/x.json is not valid JSON/);
    expect(() =>
      loadConfig({
        argv: ['--config', 'x.json'],
        readFile: () => {
          throw new Error('ENOENT');
        },
      }),
    ).toThrow(/x.json could not be read/);
  });
});

describe('Redis Cluster configuration', () => {
  it('reads seeds from SEALRELAY_REDIS_CLUSTER (host:port, comma-separated) and prefers them to redisUrl', () => {
    const config = loadConfig({ env: { SEALRELAY_REDIS_CLUSTER: '10.0.0.1:7000, 10.0.0.2:7001', REDIS_URL: 'redis://single:6379' } });
    expect(config.redisCluster).toEqual(['10.0.0.1:7000', '10.0.0.2:7001']);
    expect(redisTargetOf(config)).toEqual({ cluster: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7001'] });
    expect(redisTargetOf(loadConfig({ env: { REDIS_URL: 'redis://single:6379' } }))).toEqual({ url: 'redis://single:6379' });
    expect(redisTargetOf(loadConfig({}))).toBeUndefined();
    expect(() => loadConfig({ env: { SEALRELAY_REDIS_CLUSTER: 'nohostport' } })).toThrow(/redisCluster.*SEALRELAY_REDIS_CLUSTER.*host:port/);
  });
});

describe('resumption tickets', () => {
  const authority = new Uint8Array(32).fill(7);
  const subject = { deviceId: 'd_dev', authorityKey: authority, certNotAfter: 10_000 };
  const at = (now: number, over: Partial<TicketContext> = {}): TicketContext => ({ deviceId: 'd_dev', relayId: 'relay-a', trustedAuthorities: [authority], now, ...over });
  const issuer = new TicketIssuer(['s'.repeat(32)], 1000, 'relay-a');

  it('verify for the device they were issued to until they expire', () => {
    const { ticket, expiresAt } = issuer.issue(subject, 0);
    expect(expiresAt).toBe(1000);
    expect(issuer.verify(ticket, at(999))).toMatchObject({ ok: true, claims: { deviceId: 'd_dev', relayId: 'relay-a', certNotAfter: 10_000 } });
    expect(issuer.verify(ticket, at(1000))).toEqual({ ok: false, reason: 'expired' });
    expect(issuer.verify(ticket, at(10, { deviceId: 'd_other' }))).toEqual({ ok: false, reason: 'wrong-device' });
  });

  it('never outlive the certificate, nor the ticket they replace', () => {
    expect(issuer.issue({ ...subject, certNotAfter: 500 }, 0).expiresAt).toBe(500);
    expect(issuer.issue(subject, 0, 300).expiresAt).toBe(300);
  });

  it('are bound to the relayId: another deployment sharing the secret refuses them', () => {
    const { ticket } = issuer.issue(subject, 0);
    const elsewhere = new TicketIssuer(['s'.repeat(32)], 1000, 'relay-b');
    expect(elsewhere.verify(ticket, at(10, { relayId: 'relay-b' }))).toEqual({ ok: false, reason: 'wrong-relay' });
  });

  it('are refused once the authority of the certificate is no longer trusted', () => {
    const { ticket } = issuer.issue(subject, 0);
    expect(issuer.verify(ticket, at(10, { trustedAuthorities: [new Uint8Array(32).fill(8)] }))).toEqual({ ok: false, reason: 'untrusted-authority' });
    expect(issuer.verify(ticket, at(10, { trustedAuthorities: [new Uint8Array(32).fill(8), authority] })).ok).toBe(true);
  });

  it('re-check the certificate notAfter on their own', () => {
    // A ticket whose expiry somehow exceeds the certificate (not issuable through issue()):
    // forge the body with the issuer's own MAC to show the check does not rely on expiresAt.
    const { ticket } = issuer.issue({ ...subject, certNotAfter: 600 }, 0);
    const view = new DataView(ticket.buffer);
    view.setBigUint64(1, 5000n);
    const body = ticket.subarray(0, ticket.length - 32);
    ticket.set(createHmac('sha256', 's'.repeat(32)).update(body).digest(), ticket.length - 32);
    expect(issuer.verify(ticket, at(700))).toEqual({ ok: false, reason: 'cert-expired' });
  });

  it('refuse any flipped bit and tickets of another secret', () => {
    const { ticket } = issuer.issue(subject, 0);
    for (let i = 0; i < ticket.length; i++) {
      const t = ticket.slice();
      t[i]! ^= 0x01;
      expect(issuer.verify(t, at(10)).ok).toBe(false);
    }
    const other = new TicketIssuer(['o'.repeat(32)], 1000, 'relay-a');
    expect(other.verify(ticket, at(10))).toEqual({ ok: false, reason: 'forged' });
    expect(issuer.verify(new Uint8Array(3), at(10))).toEqual({ ok: false, reason: 'malformed' });
  });

  it('verify under every configured secret, so secrets rotate and nodes share them', () => {
    const old = new TicketIssuer(['o'.repeat(32)], 1000, 'relay-a');
    const rotated = new TicketIssuer(['n'.repeat(32), 'o'.repeat(32)], 1000, 'relay-a');
    const { ticket } = old.issue(subject, 0);
    expect(rotated.verify(ticket, at(10)).ok).toBe(true);
  });
});

describe('uWebSockets.js loader', () => {
  it('loads a native binding in this environment', () => {
    expect(loadUws().description).toMatch(/native/);
  });

  it('refuses to fall back to a JS shim: no official package and a missing binary path is an error naming what to install', () => {
    const deps = {
      load: (id: string) => {
        throw new Error(`Cannot find module '${id}'`);
      },
      binaryPath: () => '/nowhere/binaries/uws_linux_x64_999.node',
    };
    expect(() => loadUws(deps)).toThrow(UwsUnavailableError);
    expect(() => loadUws(deps)).toThrow(/refuses to start.*npm install uNetworking\/uWebSockets.js.*uws_linux_x64_999/s);
  });

  it('rejects a module that looks like the JS fallback (App without the uSockets functions)', () => {
    const deps = { load: () => ({ App: () => ({}) }), binaryPath: () => '/x.node' };
    expect(() => loadUws(deps)).toThrow(/not a native binding/);
  });
});
