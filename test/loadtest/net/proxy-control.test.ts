import type http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProxyControlClient, serveControl } from '../../../loadtest/net/proxy-control.ts';
import { ToxicProxy } from '../../../loadtest/net/proxy.ts';
import { medianRttMs, startEchoServer } from './helpers.ts';

let echo: Awaited<ReturnType<typeof startEchoServer>>;
let proxy: ToxicProxy;
let server: http.Server;
let dir: string;
let ctl: ProxyControlClient;

beforeEach(async () => {
  echo = await startEchoServer();
  proxy = await ToxicProxy.start({ upstream: { host: '127.0.0.1', port: echo.port } });
  dir = mkdtempSync(join(tmpdir(), 'sr-ctl-'));
  server = await serveControl(proxy, { socketPath: join(dir, 'proxy.sock') });
  ctl = new ProxyControlClient({ socketPath: join(dir, 'proxy.sock') });
});

afterEach(async () => {
  server.close();
  await proxy.close();
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('proxy control API over a Unix socket', () => {
  it('changes toxics at runtime and the change is felt on the next round trip', async () => {
    const state = await ctl.setToxics({ down: { latencyMs: 50 } });
    expect(state.toxics.down).toEqual({ latencyMs: 50, jitterMs: 0, kbit: null });
    expect(await medianRttMs(proxy.port, 3)).toBeGreaterThanOrEqual(49);
  });

  it('reports stall, blackhole and reset state, and resume ends them', async () => {
    expect((await ctl.stall(10_000)).stalledForMs).toBeGreaterThan(9000);
    expect((await ctl.blackhole(5_000)).blackholedForMs).toBeGreaterThan(4000);
    const resumed = await ctl.resume();
    expect([resumed.stalledForMs, resumed.blackholedForMs]).toEqual([0, 0]);
    expect(await ctl.reset({ refuseMs: 1000 })).toBe(0);
    expect((await ctl.state()).refusingForMs).toBeGreaterThan(900);
  });

  it('rejects malformed requests with 400 and a reason, unknown routes with 404', async () => {
    await expect(ctl.setToxics({ down: { latencyMs: -1 } })).rejects.toThrow(/400/);
    await expect(ctl.stall(Number.NaN)).rejects.toThrow(/400/);
    await expect((ctl as unknown as { call(m: string, p: string): Promise<unknown> }).call('GET', '/nope')).rejects.toThrow(/404/);
  });
});
