/**
 * A tiny HTTP control API for a ToxicProxy, like toxiproxy's, and its client.
 * It listens on a Unix socket path by default: a path-based Unix socket is
 * reachable across network namespaces, so a harness in the host namespace can
 * steer a proxy that runs inside sr-<id>-srv.
 *
 *   GET  /state                          → ProxyState
 *   POST /toxics    {down?:{latencyMs?,jitterMs?,kbit?}, up?:{...}}
 *   POST /stall     {ms}
 *   POST /blackhole {ms}
 *   POST /resume
 *   POST /reset     {probability?, refuseMs?}   → {reset: n}
 *
 * @example
 *   const ctl = new ProxyControlClient({ socketPath: '/tmp/sr-ab12/proxy.sock' });
 *   await ctl.setToxics({ down: { latencyMs: 400 } });
 */
import http from 'node:http';
import { z } from 'zod';
import type { ProxyState, ToxicProxy, ToxicsPatch } from './proxy.ts';

const LaneSchema = z
  .object({
    latencyMs: z.number().nonnegative(),
    jitterMs: z.number().nonnegative(),
    kbit: z.number().positive().nullable(),
  })
  .partial()
  .strict();
const ToxicsSchema = z.object({ down: LaneSchema.optional(), up: LaneSchema.optional() }).strict();
const MsSchema = z.object({ ms: z.number().nonnegative().finite() }).strict();
const ResetSchema = z.object({ probability: z.number().min(0).max(1).optional(), refuseMs: z.number().nonnegative().optional() }).strict();

/** Control bodies are a few hundred bytes; anything bigger is a mistake. */
const MAX_BODY_BYTES = 16 * 1024;

export type ControlTarget = { socketPath: string } | { host: string; port: number };

/** Serve the control API for `proxy`; resolves once listening. */
export async function serveControl(proxy: ToxicProxy, target: ControlTarget): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(b);
    });
    req.on('end', () => {
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      try {
        const raw = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : {};
        const route = `${req.method} ${req.url}`;
        switch (route) {
          case 'GET /state':
            return reply(200, proxy.state());
          case 'POST /toxics':
            proxy.setToxics(ToxicsSchema.parse(raw));
            return reply(200, proxy.state());
          case 'POST /stall':
            proxy.stall(MsSchema.parse(raw).ms);
            return reply(200, proxy.state());
          case 'POST /blackhole':
            proxy.blackhole(MsSchema.parse(raw).ms);
            return reply(200, proxy.state());
          case 'POST /resume':
            proxy.resume();
            return reply(200, proxy.state());
          case 'POST /reset':
            return reply(200, { reset: proxy.reset(ResetSchema.parse(raw)) });
          default:
            return reply(404, { error: `no route ${route}; see loadtest/net/proxy-control.ts` });
        }
      } catch (e) {
        return reply(400, { error: e instanceof Error ? e.message : String(e) });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if ('socketPath' in target) server.listen(target.socketPath, done);
    else server.listen(target.port, target.host, done);
  });
  return server;
}

/** Client for serveControl(); every method resolves with the proxy's new state. */
export class ProxyControlClient {
  constructor(private readonly target: ControlTarget) {}

  state(): Promise<ProxyState> {
    return this.call('GET', '/state') as Promise<ProxyState>;
  }
  setToxics(patch: ToxicsPatch): Promise<ProxyState> {
    return this.call('POST', '/toxics', patch) as Promise<ProxyState>;
  }
  stall(ms: number): Promise<ProxyState> {
    return this.call('POST', '/stall', { ms }) as Promise<ProxyState>;
  }
  blackhole(ms: number): Promise<ProxyState> {
    return this.call('POST', '/blackhole', { ms }) as Promise<ProxyState>;
  }
  resume(): Promise<ProxyState> {
    return this.call('POST', '/resume') as Promise<ProxyState>;
  }
  async reset(opts: { probability?: number; refuseMs?: number } = {}): Promise<number> {
    return ((await this.call('POST', '/reset', opts)) as { reset: number }).reset;
  }

  private call(method: string, path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        { ...this.target, method, path, headers: payload ? { 'content-type': 'application/json' } : {} },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            if (res.statusCode !== 200) reject(new Error(`proxy control ${method} ${path}: ${res.statusCode} ${text}`));
            else resolve(JSON.parse(text) as unknown);
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
}
