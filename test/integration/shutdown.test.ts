import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { closeCodeOf } from '../../protocol/errors.ts';
import { MemoryStore } from '../../server/store/memory.ts';
import type { AppendInput, AppendResult } from '../../server/store/types.ts';
import { Sender, TestClient, authed, b, makeWorld, putRoster, rosterFor, startTestRelay } from './helpers.ts';

/** A store whose appends take a while, so shutdown has something in flight to wait for. */
class SlowStore extends MemoryStore {
  appendStarted: (() => void) | undefined;
  override async append(input: AppendInput): Promise<AppendResult> {
    this.appendStarted?.();
    await new Promise((r) => setTimeout(r, 300));
    return super.append(input);
  }
}

describe('graceful shutdown', () => {
  it('finishes in-flight appends (the client gets its puback), then closes sockets with SERVER_RESTARTING and refuses new ones', async () => {
    const w = await makeWorld();
    const store = new SlowStore();
    const relay = await startTestRelay(w, {}, { store });
    const order = 'order-shutdown';
    const r = rosterFor(w, order, [w.shipper]);
    const c = await authed(relay, w.shipper);
    await putRoster(c, order, r.bytes);
    const started = new Promise<void>((res) => (store.appendStarted = res));
    c.send({ t: 'pub', order, clientMsgId: 'in-flight', envelope: b(new Sender(w.shipper, r.roster).seal('text')) });
    await started;
    const closing = relay.close();
    expect(await c.nextOf('puback')).toMatchObject({ clientMsgId: 'in-flight', seq: 1 });
    expect((await c.closed).code).toBe(closeCodeOf('SERVER_RESTARTING'));
    await closing;
    await expect(TestClient.open(relay.url)).rejects.toThrow();
  });

  it('takes no new publish once shutting down (SERVER_RESTARTING), so a steady publisher cannot hold shutdown for the whole grace period', async () => {
    const w = await makeWorld();
    const store = new SlowStore();
    const relay = await startTestRelay(w, { shutdownGraceMs: 20_000 }, { store });
    const order = 'order-shutdown-steady';
    const r = rosterFor(w, order, [w.shipper]);
    const c = await authed(relay, w.shipper);
    await putRoster(c, order, r.bytes);
    const sender = new Sender(w.shipper, r.roster);
    const started = new Promise<void>((res) => (store.appendStarted = res));
    c.send({ t: 'pub', order, clientMsgId: 'first', envelope: b(sender.seal('text')) });
    await started;
    const t0 = Date.now();
    const closing = relay.close();
    // Keeps publishing during the grace period, as a busy client would.
    c.send({ t: 'pub', order, clientMsgId: 'during-shutdown', envelope: b(sender.seal('text')) });
    expect(await c.nextOf('puback')).toMatchObject({ clientMsgId: 'first' });
    expect(await c.nextError()).toMatchObject({ code: 'SERVER_RESTARTING', clientMsgId: 'during-shutdown' });
    await closing;
    expect(Date.now() - t0).toBeLessThan(5000);
    // Nothing was stored for the refused publish: its retry elsewhere is the only copy.
    expect((await store.read(order, 0, 10)).length).toBe(1);
  });

  it('`sealrelay serve` prints where it listens and exits 0 on SIGTERM, closing sockets with SERVER_RESTARTING', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'serve', '--port', '0', '--host', '127.0.0.1'], {
      cwd: process.cwd(),
      // A trusted authority set from the environment, as an operator would (this once broke start-up: the env value is decoded twice).
      env: { ...process.env, LOG_LEVEL: 'warn', SEALRELAY_TRUSTED_AUTHORITIES: Buffer.alloc(32, 7).toString('base64') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (ws:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${out}`)));
    });
    const c = await TestClient.open(url);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect((await c.closed).code).toBe(closeCodeOf('SERVER_RESTARTING'));
    expect(await exited).toBe(0);
  });

  it('`sealrelay serve` refuses a bad setting with a sentence naming it (exit 1)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'serve', '--port', 'eighty'], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toMatch(/Setting port from option --port is invalid/);
  });
});
