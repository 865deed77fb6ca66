/**
 * Run a ToxicProxy as its own process (e.g. inside a namespace), steered through
 * the HTTP control API on a Unix socket. Prints one JSON line {"ready":true,...}
 * on stdout once both are listening; exits cleanly on SIGTERM/SIGINT.
 *
 *   tsx loadtest/net/proxy-main.ts --listen 10.213.0.1:9000 --upstream 127.0.0.1:8080 \
 *       --control /tmp/sr-ab12/proxy.sock [--toxics '{"down":{"latencyMs":100}}']
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ToxicProxy, type ToxicsPatch } from './proxy.ts';
import { serveControl } from './proxy-control.ts';

function hostPort(s: string | undefined, flag: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(s ?? '');
  if (!m) throw new Error(`${flag} must be host:port, got "${s ?? ''}"`);
  return { host: m[1]!, port: Number(m[2]) };
}

const { values } = parseArgs({
  options: {
    listen: { type: 'string' },
    upstream: { type: 'string' },
    control: { type: 'string' },
    toxics: { type: 'string' },
  },
});

const listen = hostPort(values.listen, '--listen');
const upstream = hostPort(values.upstream, '--upstream');
if (!values.control) throw new Error('--control <unix socket path> is required');
const controlPath = values.control;
const toxics = values.toxics ? (JSON.parse(values.toxics) as ToxicsPatch) : undefined;

rmSync(controlPath, { force: true }); // a stale socket from a crashed run would block listen
const proxy = await ToxicProxy.start({ upstream, listen, ...(toxics ? { toxics } : {}) });
const control = await serveControl(proxy, { socketPath: controlPath });
process.stdout.write(`${JSON.stringify({ ready: true, host: proxy.host, port: proxy.port, control: controlPath })}\n`);

const stop = async (): Promise<void> => {
  control.close();
  await proxy.close();
  rmSync(controlPath, { force: true });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
