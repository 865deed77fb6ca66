import { once } from 'node:events';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ToxicProxy } from '../../../loadtest/net/proxy.ts';
import { collect, connect, firstBadChunk, medianRttMs, numberedChunks, startEchoServer } from './helpers.ts';

let echo: Awaited<ReturnType<typeof startEchoServer>>;
let proxy: ToxicProxy;

beforeEach(async () => {
  echo = await startEchoServer();
  proxy = await ToxicProxy.start({ upstream: { host: '127.0.0.1', port: echo.port } });
});

afterEach(async () => {
  await proxy.close();
  await echo.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ToxicProxy on loopback', () => {
  it('adds the configured latency to every round trip', async () => {
    const direct = await medianRttMs(echo.port);
    const clean = await medianRttMs(proxy.port);
    proxy.setToxics({ down: { latencyMs: 60 }, up: { latencyMs: 40 } });
    const slowed = await medianRttMs(proxy.port);
    console.info(`RTT direct ${direct.toFixed(2)} ms, via clean proxy ${clean.toFixed(2)} ms, with 40+60 ms latency ${slowed.toFixed(1)} ms`);
    // A lower bound only: timers may fire late on a busy machine, never early.
    expect(slowed - direct).toBeGreaterThanOrEqual(98);
  });

  it('keeps byte order and content of 10,000 numbered chunks under heavy jitter, both ways', async () => {
    proxy.setToxics({ up: { latencyMs: 5, jitterMs: 5 }, down: { latencyMs: 5, jitterMs: 5 } });
    const count = 10_000;
    const size = 64;
    const s = await connect(proxy.port);
    const got = collect(s);
    const chunks = numberedChunks(count, size);
    // Yield between small batches so the proxy reads ~1000 separate chunks, each
    // with its own jitter; one big write would arrive as a few reads and prove little.
    for (let i = 0; i < count; i += 10) {
      for (const c of chunks.slice(i, i + 10)) s.write(c);
      await new Promise((r) => setImmediate(r));
    }
    s.end();
    const received = await got;
    expect(received.length).toBe(count * size);
    expect(firstBadChunk(received, count, size)).toBe(-1);
  });

  it('reset() closes every open connection with an RST, and refuseMs resets reconnects until it ends', async () => {
    const a = await connect(proxy.port);
    const b = await connect(proxy.port);
    const errors = Promise.all([a, b].map((s) => once(s, 'error').then(([e]) => (e as NodeJS.ErrnoException).code)));
    await sleep(20);
    expect(proxy.reset({ refuseMs: 300 })).toBe(2);
    expect(await errors).toEqual(['ECONNRESET', 'ECONNRESET']);

    // The kernel may finish the handshake before the proxy's RST, or not: either way an RST.
    const refused = net.connect({ port: proxy.port, host: '127.0.0.1' });
    const [err] = await once(refused, 'error');
    expect((err as NodeJS.ErrnoException).code).toBe('ECONNRESET');

    await sleep(350);
    expect(await medianRttMs(proxy.port, 1)).toBeLessThan(1000);
    expect(proxy.state().stats.resets).toBe(3);
  });

  it('stall() holds all data for its duration, then delivers every byte in order', async () => {
    const s = await connect(proxy.port);
    const count = 2000;
    const size = 50;
    const got = collect(s);
    let firstByteAt = 0;
    s.once('data', () => (firstByteAt = performance.now()));
    const t0 = performance.now();
    proxy.stall(500);
    for (const c of numberedChunks(count, size)) s.write(c);
    s.end();
    const received = await got;
    expect(firstByteAt - t0).toBeGreaterThanOrEqual(495);
    expect(firstBadChunk(received, count, size)).toBe(-1);
  });

  it('limits bandwidth: 100 KB at 800 kbit/s takes at least a second', async () => {
    proxy.setToxics({ up: { kbit: 800 } });
    const s = await connect(proxy.port);
    const got = collect(s);
    const t0 = performance.now();
    s.end(Buffer.alloc(100_000, 7));
    const received = await got;
    const ms = performance.now() - t0;
    console.info(`100 KB through an 800 kbit/s proxy lane: ${ms.toFixed(0)} ms (${((100_000 * 8) / ms).toFixed(0)} kbit/s)`);
    expect(received.length).toBe(100_000);
    expect(ms).toBeGreaterThanOrEqual(990);
  });

  it('blackhole() parks new connections and holds data until it ends', async () => {
    const s = await connect(proxy.port);
    proxy.blackhole(400);
    const t0 = performance.now();
    s.write('held');
    const late = await connect(proxy.port); // the kernel accepts; the proxy does not answer yet
    late.write('parked');
    const [first] = await once(s, 'data');
    const [second] = await once(late, 'data');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(395);
    expect(String(first)).toBe('held');
    expect(String(second)).toBe('parked');
    s.destroy();
    late.destroy();
  });
});
