import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthorityKey, signChallenge } from '../../crypto/index.ts';
import { closeCodeOf } from '../../protocol/errors.ts';
import { challengeTranscript } from '../../protocol/handshake.ts';
import { PROTOCOL_VERSION } from '../../protocol/limits.ts';
import type { RunningRelay } from '../../server/index.ts';
import { DAY, TestClient, authed, b, makeParty, makeWorld, startTestRelay, type Party, type World } from './helpers.ts';

let w: World;
let relay: RunningRelay;

beforeAll(async () => {
  w = await makeWorld();
  relay = await startTestRelay(w, { limits: { maxConnectionsPerDevice: 2, authTimeoutMs: 400 } });
});
afterAll(() => relay.close());

async function answer(c: TestClient, p: Party, sign: (transcript: Uint8Array) => Uint8Array): Promise<void> {
  c.send({ t: 'connect', v: PROTOCOL_VERSION, deviceId: p.keys.deviceId });
  const ch = await c.nextOf('challenge');
  c.send({ t: 'auth', certificate: b(p.cert), signature: b(sign(challengeTranscript(ch.relayId, ch.nonce, p.keys.deviceId))) });
}

describe('device authentication', () => {
  it('refuses a publish before authentication with NOT_AUTHENTICATED and keeps the socket open', async () => {
    const c = await TestClient.open(relay.url);
    c.send({ t: 'pub', order: 'o-1', clientMsgId: 'm1', envelope: b(new Uint8Array([1, 2, 3])) });
    expect((await c.nextError()).code).toBe('NOT_AUTHENTICATED');
    c.send({ t: 'ping', n: 5 });
    expect(await c.nextOf('pong')).toMatchObject({ n: 5 });
    c.close();
  });

  it('welcomes a device that signs the challenge with the key of its trusted certificate', async () => {
    const c = await TestClient.open(relay.url);
    const welcome = await c.auth(w.courier);
    expect(welcome).toMatchObject({ deviceId: w.courier.keys.deviceId, resumed: false });
    expect(welcome.ticketExpiresAt).toBeGreaterThan(Date.now());
    c.close();
  });

  it('refuses a signature made with another key (AUTH_FAILED, closed with its code)', async () => {
    const c = await TestClient.open(relay.url);
    await answer(c, w.courier, (t) => signChallenge(w.shipper.keys, t));
    expect((await c.nextError()).code).toBe('AUTH_FAILED');
    expect((await c.closed).code).toBe(closeCodeOf('AUTH_FAILED'));
  });

  it('refuses a signature over a different nonce (a replayed answer)', async () => {
    const c = await TestClient.open(relay.url);
    await answer(c, w.courier, () => signChallenge(w.courier.keys, challengeTranscript('test-relay', new Uint8Array(32), w.courier.keys.deviceId)));
    expect((await c.closed).error).toBe('AUTH_FAILED');
  });

  it('refuses a certificate from an authority the relay does not trust (CERT_UNTRUSTED)', async () => {
    const stranger = makeParty(AuthorityKey.generate(), 'courier');
    const c = await TestClient.open(relay.url);
    await answer(c, stranger, (t) => signChallenge(stranger.keys, t));
    expect((await c.nextError()).code).toBe('CERT_UNTRUSTED');
    expect((await c.closed).code).toBe(closeCodeOf('CERT_UNTRUSTED'));
  });

  it('refuses an expired certificate (CERT_EXPIRED)', async () => {
    const old = makeParty(w.authority, 'courier', { notBefore: Date.now() - 10 * DAY, notAfter: Date.now() - DAY });
    const c = await TestClient.open(relay.url);
    await answer(c, old, (t) => signChallenge(old.keys, t));
    expect((await c.closed).error).toBe('CERT_EXPIRED');
  });

  it('refuses a certificate of another device than `connect` named', async () => {
    const c = await TestClient.open(relay.url);
    c.send({ t: 'connect', v: PROTOCOL_VERSION, deviceId: w.courier.keys.deviceId });
    const ch = await c.nextOf('challenge');
    c.send({ t: 'auth', certificate: b(w.shipper.cert), signature: b(signChallenge(w.shipper.keys, challengeTranscript(ch.relayId, ch.nonce, w.courier.keys.deviceId))) });
    expect((await c.closed).error).toBe('AUTH_FAILED');
  });

  it('resumes with the ticket from welcome, without a challenge', async () => {
    const c1 = await TestClient.open(relay.url);
    const w1 = await c1.auth(w.dispatcher);
    c1.close();
    const c2 = await TestClient.open(relay.url);
    c2.send({ t: 'connect', v: PROTOCOL_VERSION, deviceId: w.dispatcher.keys.deviceId, ticket: w1.ticket });
    const f = await c2.next();
    expect(f).toMatchObject({ t: 'welcome', resumed: true, deviceId: w.dispatcher.keys.deviceId });
    c2.close();
  });

  it('answers a forged or foreign ticket with TICKET_INVALID and a fresh challenge', async () => {
    const c1 = await TestClient.open(relay.url);
    const w1 = await c1.auth(w.consignee);
    c1.close();
    const forged = w1.ticket.slice();
    forged[forged.length - 1]! ^= 1;
    const c2 = await TestClient.open(relay.url);
    c2.send({ t: 'connect', v: PROTOCOL_VERSION, deviceId: w.consignee.keys.deviceId, ticket: forged });
    expect((await c2.nextError()).code).toBe('TICKET_INVALID');
    await c2.nextOf('challenge');
    // Someone else's (valid) ticket does not make you them.
    const c3 = await TestClient.open(relay.url);
    c3.send({ t: 'connect', v: PROTOCOL_VERSION, deviceId: w.courier.keys.deviceId, ticket: w1.ticket });
    expect((await c3.nextError()).code).toBe('TICKET_INVALID');
    c2.close();
    c3.close();
  });

  it('closes a socket that does not authenticate in time (AUTH_TIMEOUT)', async () => {
    const c = await TestClient.open(relay.url);
    expect((await c.closed).error).toBe('AUTH_TIMEOUT');
  });

  it('caps connections per device (TOO_MANY_CONNECTIONS)', async () => {
    const p = makeParty(w.authority, 'support');
    const a = await authed(relay, p);
    const bb = await authed(relay, p);
    const c = await TestClient.open(relay.url);
    await expect(c.auth(p)).rejects.toThrow(/TOO_MANY_CONNECTIONS/);
    expect((await c.closed).error).toBe('TOO_MANY_CONNECTIONS');
    a.close();
    bb.close();
  });

  it('refuses an unsupported protocol version', async () => {
    const c = await TestClient.open(relay.url);
    c.send({ t: 'connect', v: 99, deviceId: w.courier.keys.deviceId });
    expect((await c.closed).error).toBe('UNSUPPORTED_VERSION');
  });
});

describe('a relay started without any trusted authority', () => {
  it('starts, but refuses every device with CERT_UNTRUSTED', async () => {
    const bare = await startTestRelay(undefined);
    try {
      const c = await TestClient.open(bare.url);
      await expect(c.auth(w.courier)).rejects.toThrow(/CERT_UNTRUSTED/);
      expect((await c.closed).error).toBe('CERT_UNTRUSTED');
    } finally {
      await bare.close();
    }
  });
});
