import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { AuthorityKey, cryptoReady } from '../../crypto/index.ts';
import { decodeClientFrame, decodeServerFrame, encodeFrame } from '../../protocol/codec.ts';
import { decode, encode } from '../../loadtest/k6/msgpack.ts';
import { freePort, spawnServer, tsxArgs } from '../../loadtest/peers/process.ts';
import { makeTicketFixtures } from '../../loadtest/targets/ticket-fixtures.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('the k6 scripts', () => {
  it('type-check against @types/k6 (k6 itself is not installable here), and the fixture generator against Node', () => {
    const tsc = (p: string) => execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', p], { cwd: ROOT, encoding: 'utf8' });
    expect(() => tsc('loadtest/k6/tsconfig.json')).not.toThrow();
    expect(() => tsc('loadtest/k6/tsconfig.fixtures.json')).not.toThrow();
  }, 120_000);

  it("speak the relay's MessagePack: frames k6 encodes decode in the relay, and frames the relay encodes decode in k6", () => {
    const envelope = new Uint8Array(randomBytes(300));
    const pub = decodeClientFrame(encode({ t: 'pub', order: 'ördér-1', clientMsgId: 'k6-1-70000', envelope }));
    expect(pub).toEqual({ t: 'pub', order: 'ördér-1', clientMsgId: 'k6-1-70000', envelope });
    const deliver = { t: 'deliver' as const, order: 'o', messages: [{ seq: 70_000, prev: 69_999, envelope, at: 1_764_300_000_123 }] };
    // k6 hands binary messages over as an ArrayBuffer: decode a plain Uint8Array copy, as k6 would.
    const asK6Gets = (b: Uint8Array) => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    expect(decode(asK6Gets(encodeFrame(deliver)))).toEqual(deliver);
    expect(decodeServerFrame(encodeFrame(deliver)).t).toBe('deliver');
  });
});

describe('the k6 fixture generator', () => {
  it('authenticates real devices once and writes tickets a k6-style client resumes with, without a signature', async () => {
    await cryptoReady();
    const seed = randomBytes(32).toString('hex');
    const authority = AuthorityKey.fromSeed(Uint8Array.from(Buffer.from(seed, 'hex')));
    const port = await freePort();
    const { cmd, args } = tsxArgs(fileURLToPath(new URL('../../loadtest/targets/relay-main.ts', import.meta.url)));
    const config = { port, trustedAuthorities: [Buffer.from(authority.publicKey).toString('hex')] };
    const relay = await spawnServer({ cmd, args, port, env: { SEALRELAY_LT_CONFIG: JSON.stringify(config) }, readyTimeoutMs: 30_000 });
    try {
      const fx = await makeTicketFixtures({ url: `ws://127.0.0.1:${port}/`, orders: 2, messagesPerOrder: 3, authoritySeedHex: seed });
      expect(fx.authorityPublicKey).toBe(Buffer.from(authority.publicKey).toString('hex'));
      expect(fx.orders).toHaveLength(2);
      expect(fx.orders[0]!.envelopes).toHaveLength(3);
      const device = fx.orders[1]!.receivers[2]!;
      const welcome = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
        ws.on('open', () => ws.send(encode({ t: 'connect', v: 1, deviceId: device.deviceId, ticket: new Uint8Array(Buffer.from(device.ticket, 'base64')) })));
        ws.on('message', (d: Buffer) => {
          ws.close();
          resolve(decode(new Uint8Array(d)) as Record<string, unknown>);
        });
        ws.on('error', reject);
      });
      expect(welcome).toMatchObject({ t: 'welcome', deviceId: device.deviceId, resumed: true });
    } finally {
      await relay.stop();
    }
  }, 120_000);
});
