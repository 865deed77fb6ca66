/** Idle-timeout accounting and frame logging (relay engineer's notes). */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../protocol/codec.ts';
import { PROTOCOL_VERSION } from '../../protocol/limits.ts';
import { startRelay } from '../../server/index.ts';
import { createLogger } from '../../server/log.ts';
import { metricValue, quietLogger } from '../integration/helpers.ts';
import { FakeTransport } from './fake-transport.ts';

describe('a socket closed by the idle timeout', () => {
  it('counts as IDLE_TIMEOUT when the client sent nothing for the whole window, and not otherwise', async () => {
    let now = 1_000_000;
    const transport = new FakeTransport();
    const relay = await startRelay({ port: 0, limits: { idleTimeoutS: 60 } }, { transport, logger: quietLogger(), defaultMetrics: false, now: () => now });
    const idle = transport.connect();
    const chatty = transport.connect();
    now += 50_000;
    transport.receive(chatty, encodeFrame({ t: 'ping' }));
    now += 10_000;
    idle.end(1006);
    chatty.end(1006);
    expect(await metricValue(relay, 'sealrelay_errors_total', { code: 'IDLE_TIMEOUT' })).toBe(1);
    await relay.close();
  });
});

describe('logFrames', () => {
  it('logs each frame in and out at debug level with its type and size, never its payload', async () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (c, _e, cb) => { lines.push(...String(c).split('\n').filter(Boolean)); cb(); } });
    const transport = new FakeTransport();
    const relay = await startRelay({ port: 0, logFrames: true, logLevel: 'debug' }, { transport, logger: createLogger({ level: 'debug', destination }), defaultMetrics: false });
    const c = transport.connect();
    transport.receive(c, encodeFrame({ t: 'connect', v: PROTOCOL_VERSION, deviceId: 'd_someone' }));
    const frames = lines.map((l) => JSON.parse(l) as { msg: string; dir?: string; type?: string; bytes?: number; nonce?: unknown }).filter((l) => l.msg === 'frame');
    expect(frames.map((f) => `${f.dir}:${f.type}`)).toEqual(['in:connect', 'out:challenge']);
    expect(frames.every((f) => typeof f.bytes === 'number' && f.nonce === undefined)).toBe(true);
    await relay.close();
    const quiet: string[] = [];
    const t2 = new FakeTransport();
    const r2 = await startRelay({ port: 0, logLevel: 'debug' }, { transport: t2, logger: createLogger({ level: 'debug', destination: new Writable({ write: (ch, _e, cb) => { quiet.push(String(ch)); cb(); } }) }), defaultMetrics: false });
    t2.receive(t2.connect(), encodeFrame({ t: 'ping' }));
    expect(quiet.join('')).not.toContain('"msg":"frame"');
    await r2.close();
  });
});
