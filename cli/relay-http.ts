/**
 * The relay's HTTP API (server/README.md "HTTP API") as the CLI uses it: signed
 * requests (protocol/http-auth.ts, transcript v2) for rosters and history, where a
 * one-shot command needs no WebSocket session. The signature names the relay's id,
 * learned once per RelayHttp from `GET /healthz` unless the caller gives it. Every
 * relay refusal becomes a CliFailure carrying the relay's code and its sentence.
 */
import { createHash, randomBytes } from 'node:crypto';
import { signChallenge, type DeviceKeys } from '../crypto/index.ts';
import { HTTP_AUTH_HEADERS, httpRequestTranscript } from '../protocol/http-auth.ts';
import { MAX_DELIVER_BATCH, MAX_ROSTERS_PER_GET } from '../protocol/index.ts';
import { CliFailure, UsageError } from './args.ts';

export interface Signer {
  readonly keys: DeviceKeys;
  readonly certificate: Uint8Array;
}

/** ws://host:port/ → http://host:port (and wss → https). */
export function httpBaseOf(relay: string): string {
  let u: URL;
  try {
    u = new URL(relay);
  } catch {
    throw new UsageError(`--relay "${relay}" is not a URL; use the relay's WebSocket URL, e.g. ws://127.0.0.1:8080/`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:' && u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`--relay must be a ws:// or wss:// URL (got ${u.protocol}//)`);
  }
  const proto = u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:';
  return `${proto}//${u.host}`;
}

/** ws:// form of --relay, for the SDK. */
export function wsUrlOf(relay: string): string {
  const base = httpBaseOf(relay);
  return base.replace(/^http/, 'ws') + '/';
}

export class RelayHttp {
  private relayId: Promise<string> | undefined;

  /** `relayId`: the relay's id if known; otherwise it is asked for at `GET /healthz` before the first signed request. */
  constructor(
    private readonly base: string,
    private readonly signer: Signer,
    relayId?: string,
  ) {
    if (relayId !== undefined) this.relayId = Promise.resolve(relayId);
  }

  /** The id the relay serves at /healthz (what v2 signatures bind to), fetched once. */
  private relayIdOnce(): Promise<string> {
    this.relayId ??= this.fetchRelayId();
    // A failed attempt is not remembered: the next command may find the relay up.
    this.relayId.catch(() => (this.relayId = undefined));
    return this.relayId;
  }

  private async fetchRelayId(): Promise<string> {
    let res: Response;
    try {
      res = await fetch(`${this.base}/healthz`, { signal: AbortSignal.timeout(20_000) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new CliFailure(`cannot reach the relay at ${this.base} (${cause}); check --relay and that "sealrelay serve" is running`);
    }
    const body = (await res.json().catch(() => undefined)) as { relayId?: unknown } | undefined;
    if (!res.ok || typeof body?.relayId !== 'string' || body.relayId === '') {
      throw new CliFailure(`the relay at ${this.base} did not name its relayId at /healthz (HTTP ${res.status}); is --relay a sealrelay relay?`);
    }
    return body.relayId;
  }

  async request(method: 'GET' | 'PUT' | 'POST', pathAndQuery: string, body?: Uint8Array, contentType = 'application/octet-stream'): Promise<unknown> {
    const relayId = await this.relayIdOnce();
    const timestamp = Date.now();
    const nonce = randomBytes(18).toString('base64url');
    const bodySha256 = createHash('sha256').update(body ?? new Uint8Array(0)).digest();
    // No request of the CLI carries a header of HTTP_SIGNED_HEADERS: they all sign as empty.
    const signature = signChallenge(this.signer.keys, httpRequestTranscript({ method, pathAndQuery, timestamp, nonce, bodySha256, relayId }));
    const headers: Record<string, string> = {
      [HTTP_AUTH_HEADERS.certificate]: Buffer.from(this.signer.certificate).toString('base64'),
      [HTTP_AUTH_HEADERS.timestamp]: String(timestamp),
      [HTTP_AUTH_HEADERS.nonce]: nonce,
      [HTTP_AUTH_HEADERS.signature]: Buffer.from(signature).toString('base64'),
    };
    if (body) headers['content-type'] = contentType;
    let res: Response;
    try {
      res = await fetch(this.base + pathAndQuery, { method, headers, ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}), signal: AbortSignal.timeout(20_000) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new CliFailure(`cannot reach the relay at ${this.base} (${cause}); check --relay and that "sealrelay serve" is running`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.ok) return json;
    const err = (json ?? {}) as { error?: string; message?: string; detail?: string };
    const code = err.error ?? `HTTP_${res.status}`;
    throw Object.assign(new CliFailure(`the relay refused ${method} ${pathAndQuery.split('?')[0]}: ${code}: ${err.message ?? text.slice(0, 200)}${err.detail ? ` (${err.detail})` : ''}`), { relayCode: code });
  }

  private orderPath(order: string): string {
    return `/v1/orders/${encodeURIComponent(order)}`;
  }

  /** The whole roster chain (ascending epochs). Needs a device that is or was a member. */
  async rosters(order: string): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    let from = 1;
    for (;;) {
      // A relay that pages by bytes says where to go on (`nextEpoch`); an older one pages by count only.
      const r = (await this.request('GET', `${this.orderPath(order)}/rosters?from=${from}`)) as { rosters: string[]; nextEpoch?: number };
      out.push(...r.rosters.map(fromB64));
      if (typeof r.nextEpoch === 'number' && r.nextEpoch > from) from = r.nextEpoch;
      else if (r.rosters.length >= MAX_ROSTERS_PER_GET) from = out.length + 1;
      else return out;
    }
  }

  async putRoster(order: string, roster: Uint8Array): Promise<{ epoch: number; hash: string }> {
    return (await this.request('PUT', `${this.orderPath(order)}/roster`, roster)) as { epoch: number; hash: string };
  }

  /** Key packages addressed to the signing device, following the relay's `next` cursor when it pages. */
  async keyPackages(order: string): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    let after: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const r = (await this.request('GET', `${this.orderPath(order)}/key-packages${after ? `?after=${after}` : ''}`)) as { packages: string[]; next?: string };
      out.push(...r.packages.map(fromB64));
      if (!r.next || r.next === after) return out;
      after = r.next;
    }
    return out;
  }

  /** Every message after `afterSeq` the signing device may see, paging to the head. */
  async history(order: string, afterSeq = 0): Promise<{ headSeq: number; messages: HistoryMessage[] }> {
    const messages: HistoryMessage[] = [];
    let after = afterSeq;
    for (;;) {
      const r = (await this.request('GET', `${this.orderPath(order)}/messages?after=${after}&limit=${MAX_DELIVER_BATCH}`)) as {
        headSeq: number;
        nextAfterSeq: number;
        messages: { seq: number; prev: number; at: number; envelope: string }[];
      };
      for (const m of r.messages) messages.push({ seq: m.seq, prev: m.prev, at: m.at, envelope: fromB64(m.envelope) });
      if (r.nextAfterSeq >= r.headSeq || r.nextAfterSeq <= after) return { headSeq: r.headSeq, messages };
      after = r.nextAfterSeq;
    }
  }
}

export interface HistoryMessage {
  readonly seq: number;
  readonly prev: number;
  readonly at: number;
  readonly envelope: Uint8Array;
}

export function fromB64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}
