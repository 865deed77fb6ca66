/**
 * Test fixtures for the relay: a world of parties with real certificates and
 * rosters (crypto's own factories), a relay on a free port, and a raw protocol
 * client over the `ws` package that speaks frames directly (no SDK), so tests
 * see exactly what the relay sends.
 */
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import WebSocket from 'ws';
import {
  AuthorityKey,
  DeviceKeys,
  OutboundSenderKey,
  createKeyPackages,
  cryptoReady,
  issueCertificate,
  sealEnvelope,
  signChallenge,
  signRoster,
  verifyRoster,
  type Kind,
  type Role,
  type VerifiedRoster,
} from '../../crypto/index.ts';
import { decodeServerFrame, encodeFrame } from '../../protocol/codec.ts';
import { errorOfCloseCode } from '../../protocol/errors.ts';
import type { ClientFrame, ServerFrame, ServerFrameOf } from '../../protocol/frames.ts';
import { challengeTranscript } from '../../protocol/handshake.ts';
import { PROTOCOL_VERSION } from '../../protocol/limits.ts';
import { startRelay, type RelayConfigInput, type RelayDeps, type RunningRelay } from '../../server/index.ts';
import { createLogger } from '../../server/log.ts';

export const DAY = 24 * 3600_000;
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export interface Party {
  readonly role: Role;
  readonly userId: string;
  readonly keys: DeviceKeys;
  readonly cert: Uint8Array;
}

export function makeParty(authority: AuthorityKey, role: Role, window?: { notBefore: number; notAfter: number }): Party {
  const keys = DeviceKeys.generate();
  const now = Date.now();
  const userId = `u-${role}-${keys.deviceId.slice(2, 8)}`;
  const cert = issueCertificate(authority, {
    tenant: 'acme-logistics',
    userId,
    signPublicKey: keys.signPublicKey,
    boxPublicKey: keys.boxPublicKey,
    ...(window ?? { notBefore: now - DAY, notAfter: now + 90 * DAY }),
  });
  return { role, userId, keys, cert };
}

export interface World {
  readonly authority: AuthorityKey;
  readonly trusted: Uint8Array[];
  readonly shipper: Party;
  readonly consignee: Party;
  readonly courier: Party;
  readonly dispatcher: Party;
}

export async function makeWorld(): Promise<World> {
  await cryptoReady();
  const authority = AuthorityKey.generate();
  return {
    authority,
    trusted: [authority.publicKey],
    shipper: makeParty(authority, 'shipper'),
    consignee: makeParty(authority, 'consignee'),
    courier: makeParty(authority, 'courier'),
    dispatcher: makeParty(authority, 'dispatcher'),
  };
}

/** Sign roster `epoch` of `order` with these members, linked to `previous`. */
export function rosterFor(w: World, order: string, members: Party[], previous?: VerifiedRoster): { bytes: Uint8Array; roster: VerifiedRoster } {
  const bytes = signRoster(w.authority, {
    orderId: order,
    epoch: (previous?.epoch ?? 0) + 1,
    prevHash: previous?.hash,
    members: members.map((p) => ({ deviceId: p.keys.deviceId, userId: p.userId, role: p.role, certificate: p.cert })),
    policyId: 'sealrelay/default@1',
    issuedAt: Date.now(),
  });
  return { bytes, roster: verifyRoster(bytes, { trustedAuthorities: w.trusted, previous, now: Date.now() }) };
}

/** Seals envelopes for one sender in one order/epoch/scope. */
export class Sender {
  private readonly key: OutboundSenderKey;
  constructor(
    readonly party: Party,
    readonly roster: VerifiedRoster,
    readonly scope = 'shared',
  ) {
    this.key = OutboundSenderKey.create({ orderId: roster.orderId, epoch: roster.epoch, scope, senderDeviceId: party.keys.deviceId, now: Date.now() });
  }
  seal(kind: Kind, body = 'hello'): Uint8Array {
    return sealEnvelope({ senderKey: this.key, sender: this.party.keys, kind, body: utf8(body) });
  }
  keyPackages(): Uint8Array[] {
    return createKeyPackages(this.key, this.party.keys, this.roster).map((p) => p.bytes);
  }
}

/** A silent logger unless RELAY_TEST_LOGS=1. */
export function quietLogger() {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  return process.env.RELAY_TEST_LOGS ? createLogger({ level: 'debug' }) : createLogger({ level: 'info', destination: sink });
}

export async function startTestRelay(w: World | undefined, config: RelayConfigInput = {}, deps: RelayDeps = {}): Promise<RunningRelay> {
  return startRelay(
    { host: '127.0.0.1', port: 0, trustedAuthorities: w ? w.trusted.map((k) => Buffer.from(k).toString('hex')) : [], relayId: 'test-relay', ...config },
    { logger: quietLogger(), defaultMetrics: false, ...deps },
  );
}

export interface Closed {
  code: number;
  reason: string;
  error: string | undefined;
}

/** A raw protocol client: frames in, frames out, nothing clever. */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  readonly closed: Promise<Closed>;
  isClosed = false;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => {
      this.frames.push(decodeServerFrame(new Uint8Array(data)));
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.isClosed = true;
        resolve({ code, reason: reason.toString(), error: errorOfCloseCode(code) });
        this.wake();
      }),
    );
    ws.on('error', () => undefined);
  }

  static open(url: string): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { maxPayload: 1 << 20 });
      const c = new TestClient(ws);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(frame: ClientFrame | Uint8Array): void {
    this.ws.send(frame instanceof Uint8Array ? frame : encodeFrame(frame));
  }

  /** Remove and return the first frame matching `pred` (waiting up to timeoutMs). */
  async next<T extends ServerFrame = ServerFrame>(pred: (f: ServerFrame) => boolean = () => true, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0] as T;
      if (this.isClosed) throw new Error(`socket closed while waiting; frames: ${this.frames.map((f) => f.t).join(',')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames held: ${this.frames.map((f) => (f.t === 'error' ? `error:${f.code}` : f.t)).join(',')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  nextOf<T extends ServerFrame['t']>(t: T, timeoutMs?: number): Promise<ServerFrameOf<T>> {
    return this.next<ServerFrameOf<T>>((f) => f.t === t, timeoutMs);
  }

  nextError(timeoutMs?: number): Promise<ServerFrameOf<'error'>> {
    return this.nextOf('error', timeoutMs);
  }

  /** connect → challenge → auth → welcome. */
  async auth(p: Party): Promise<ServerFrameOf<'welcome'>> {
    this.send({ t: 'connect', v: PROTOCOL_VERSION, deviceId: p.keys.deviceId });
    const ch = await this.nextOf('challenge');
    this.send({ t: 'auth', certificate: p.cert as Uint8Array<ArrayBuffer>, signature: signChallenge(p.keys, challengeTranscript(ch.relayId, ch.nonce, p.keys.deviceId)) as Uint8Array<ArrayBuffer> });
    const f = await this.next((x) => x.t === 'welcome' || (x.t === 'error' && x.code !== 'TICKET_INVALID'));
    if (f.t !== 'welcome') throw new Error(`auth refused: ${f.t === 'error' ? f.code : f.t}`);
    return f;
  }

  /** Collect `count` delivered messages of `order` (in arrival order). */
  async deliveries(order: string, count: number, timeoutMs = 10_000): Promise<Array<{ seq: number; prev: number; envelope: Uint8Array }>> {
    const out: Array<{ seq: number; prev: number; envelope: Uint8Array }> = [];
    while (out.length < count) {
      const f = await this.next<ServerFrameOf<'deliver'>>((x) => x.t === 'deliver' && x.order === order, timeoutMs);
      out.push(...f.messages);
    }
    return out;
  }

  /** The underlying TCP socket, to stop reading (a slow consumer) and resume. */
  get tcp(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  close(): void {
    this.ws.close();
  }
}

/** Open, authenticate, and put the order's first roster if given. */
export async function authed(relay: RunningRelay, p: Party): Promise<TestClient> {
  const c = await TestClient.open(relay.url);
  await c.auth(p);
  return c;
}

export const b = (x: Uint8Array): Uint8Array<ArrayBuffer> => x as Uint8Array<ArrayBuffer>;

export async function putRoster(c: TestClient, order: string, bytes: Uint8Array, rid = 1): Promise<ServerFrame> {
  c.send({ t: 'roster_put', rid, order, roster: b(bytes) });
  return c.next((f) => (f.t === 'roster_ok' || f.t === 'error') && (f as { rid?: number }).rid === rid);
}

export async function publish(c: TestClient, order: string, clientMsgId: string, envelope: Uint8Array): Promise<ServerFrame> {
  c.send({ t: 'pub', order, clientMsgId, envelope: b(envelope) });
  return c.next((f) => (f.t === 'puback' || f.t === 'error') && (f as { clientMsgId?: string }).clientMsgId === clientMsgId);
}

export async function subscribe(c: TestClient, order: string, afterSeq = 0, rid = 7): Promise<ServerFrame> {
  c.send({ t: 'sub', rid, order, afterSeq });
  return c.next((f) => (f.t === 'subscribed' || f.t === 'error') && (f as { rid?: number }).rid === rid);
}

export async function metricValue(relay: RunningRelay, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await relay.metrics.registry.getSingleMetric(name)?.get();
  if (!m) return 0;
  return m.values.filter((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val)).reduce((s, v) => s + v.value, 0);
}
