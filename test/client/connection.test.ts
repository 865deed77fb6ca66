import { beforeEach, describe, expect, it } from 'vitest';
import { challengeTranscript, closeCodeOf, type ServerFrame } from '../../protocol/index.ts';
import { Connection, type StateChange } from '../../client/connection.ts';
import { SealRelayError } from '../../client/errors.ts';
import { FakeTransport, ManualClock, flush, welcomeFrame } from './fakes.ts';

const challenge: ServerFrame = { t: 'challenge', nonce: new Uint8Array(32).fill(9), relayId: 'relay-a', serverTime: 0 };
const signed: Uint8Array[] = [];

function setup(over: Partial<ConstructorParameters<typeof Connection>[0]> = {}) {
  const transport = new FakeTransport();
  const clock = new ManualClock();
  const conn = new Connection({
    url: 'ws://relay',
    transport,
    clock,
    random: () => 0.5,
    backoff: { baseMs: 1000, maxMs: 8000 },
    heartbeatMs: 1000,
    auth: {
      deviceId: 'dev-1',
      certificate: new Uint8Array([4, 4]),
      sign: (t) => {
        signed.push(t);
        return new Uint8Array(64).fill(1);
      },
    },
    ...over,
  });
  const states: StateChange[] = [];
  conn.on('state', (s) => states.push(s));
  return { transport, clock, conn, states };
}

/** Drive a socket through challenge → auth → welcome. */
async function authenticate(t: FakeTransport, ticket = new Uint8Array([1, 2, 3])) {
  const s = t.current;
  s.sink.open();
  s.receive(challenge);
  await flush();
  s.receive(welcomeFrame({ ticket }));
  return s;
}

describe('connection state machine', () => {
  beforeEach(() => {
    signed.length = 0;
  });

  it('connects with connect → challenge → auth → welcome, reporting each state with a code', async () => {
    const { transport, conn, states } = setup();
    conn.connect();
    expect(conn.state).toBe('connecting');
    const s = transport.current;
    s.sink.open();
    expect(s.sent[0]).toEqual({ t: 'connect', v: 1, deviceId: 'dev-1' });
    s.receive(challenge);
    await flush();
    expect(signed[0]).toEqual(challengeTranscript('relay-a', new Uint8Array(32).fill(9), 'dev-1'));
    expect(s.last()).toMatchObject({ t: 'auth', certificate: new Uint8Array([4, 4]) });
    s.receive(welcomeFrame());
    expect(conn.state).toBe('connected');
    expect(states.map((x) => [x.from, x.to, x.code])).toEqual([
      ['disconnected', 'connecting', 'CONNECT_CALLED'],
      ['connecting', 'connected', 'AUTHENTICATED'],
    ]);
    expect(states[1]!.reason).toMatch(/accepted/);
  });

  it('reconnects with the resumption ticket, and answers the fresh challenge when the ticket is refused', async () => {
    const { transport, clock, conn } = setup();
    conn.connect();
    await authenticate(transport, new Uint8Array([7, 7]));
    transport.current.sink.close(1006, '');
    clock.advance(1000);
    const s2 = transport.current;
    s2.sink.open();
    expect(s2.sent[0]).toEqual({ t: 'connect', v: 1, deviceId: 'dev-1', ticket: new Uint8Array([7, 7]) });
    s2.receive({ t: 'error', code: 'TICKET_INVALID', message: 'expired' });
    s2.receive(challenge);
    await flush();
    expect(s2.last()?.t).toBe('auth');
    s2.receive(welcomeFrame({ ticket: new Uint8Array([8]) }));
    expect(conn.state).toBe('connected');
    // The refused ticket is forgotten even if the new welcome had not replaced it.
    transport.current.sink.close(1006, '');
    clock.advance(1000);
    transport.current.sink.open();
    expect(transport.current.sent[0]).toMatchObject({ ticket: new Uint8Array([8]) });
  });

  it('after a network drop goes back to connecting with TRANSPORT_CLOSED and retries after a jittered backoff', async () => {
    const { transport, clock, conn, states } = setup();
    conn.connect();
    await authenticate(transport);
    transport.current.sink.close(1006, '');
    expect(states.at(-1)).toMatchObject({ from: 'connected', to: 'connecting', code: 'TRANSPORT_CLOSED' });
    expect(transport.sockets).toHaveLength(1);
    clock.advance(499); // random 0.5 × base 1000
    expect(transport.sockets).toHaveLength(1);
    clock.advance(1);
    expect(transport.sockets).toHaveLength(2);
    // Second failure before welcome: the window doubles.
    transport.current.sink.error(new Error('refused'));
    clock.advance(999);
    expect(transport.sockets).toHaveLength(2);
    clock.advance(1);
    expect(transport.sockets).toHaveLength(3);
  });

  it('keeps only one reconnect in flight however many failures are reported', async () => {
    const { transport, clock, conn } = setup();
    conn.connect();
    await authenticate(transport);
    const s = transport.current;
    s.sink.error(new Error('reset'));
    s.sink.close(1006, '');
    s.sink.error(new Error('again'));
    conn.online();
    clock.advance(10_000);
    expect(transport.sockets).toHaveLength(2);
  });

  it('drops callbacks from an old socket: a late welcome or close cannot change the new connection', async () => {
    const { transport, clock, conn, states } = setup();
    conn.connect();
    const old = await authenticate(transport);
    old.sink.close(1006, '');
    clock.advance(1000);
    const fresh = transport.current;
    fresh.sink.open();
    const before = states.length;
    old.receive(welcomeFrame());
    old.sink.close(1000, 'bye');
    old.sink.error(new Error('late'));
    expect(conn.state).toBe('connecting');
    expect(states.length).toBe(before);
    expect(transport.sockets).toHaveLength(2);
  });

  it('lets the relay close code decide: a retryable code reconnects, a final one stays disconnected', async () => {
    const a = setup();
    a.conn.connect();
    await authenticate(a.transport);
    a.transport.current.sink.close(closeCodeOf('SERVER_RESTARTING'), 'restarting');
    expect(a.states.at(-1)).toMatchObject({ to: 'connecting', code: 'SERVER_RESTARTING' });

    const b = setup();
    b.conn.connect();
    b.transport.current.sink.open();
    b.transport.current.sink.close(closeCodeOf('CERT_EXPIRED'), 'expired');
    expect(b.states.at(-1)).toMatchObject({ from: 'connecting', to: 'disconnected', code: 'CERT_EXPIRED' });
    b.clock.advance(60_000);
    expect(b.transport.sockets).toHaveLength(1);
  });

  it('notices a dead link within two heartbeat intervals and reconnects', async () => {
    const { transport, clock, conn, states } = setup();
    conn.connect();
    const s = await authenticate(transport);
    clock.advance(1000);
    expect(s.ofType('ping')).toHaveLength(1);
    s.receive({ t: 'pong' });
    clock.advance(1000);
    expect(conn.state).toBe('connected');
    clock.advance(1000); // two silent intervals since the pong
    expect(states.at(-1)).toMatchObject({ to: 'connecting', code: 'HEARTBEAT_TIMEOUT' });
    expect(s.closedWith).toBeDefined();
  });

  it('answers relay pings with pongs', async () => {
    const { transport, conn } = setup();
    conn.connect();
    const s = await authenticate(transport);
    s.receive({ t: 'ping', n: 5 });
    expect(s.last()).toEqual({ t: 'pong', n: 5 });
  });

  it('gives up on a handshake that never finishes and tries again', async () => {
    const { transport, clock, conn } = setup({ handshakeTimeoutMs: 3000 });
    const retries: string[] = [];
    conn.on('reconnecting', (r) => retries.push(`${r.code} in ${r.delayMs}`));
    conn.connect();
    transport.current.sink.open();
    clock.advance(3000);
    expect(retries).toEqual(['HANDSHAKE_TIMEOUT in 500']);
    expect(transport.sockets[0]!.closedWith).toBeDefined();
    clock.advance(500);
    expect(transport.sockets).toHaveLength(2);
  });

  it('waits while offline and reconnects at once when the platform says online', async () => {
    const { transport, clock, conn, states } = setup();
    conn.connect();
    await authenticate(transport);
    conn.offline();
    expect(states.at(-1)).toMatchObject({ to: 'connecting', code: 'NETWORK_OFFLINE' });
    clock.advance(60_000);
    expect(transport.sockets).toHaveLength(1);
    conn.online();
    expect(transport.sockets).toHaveLength(2);
  });

  it('correlates requests by rid, resends them after a reconnect, and rejects on an error frame', async () => {
    const { transport, clock, conn } = setup();
    conn.connect();
    const first = conn.request({ t: 'roster_get', rid: 0, order: 'o' }, ['rosters']);
    const failing = conn.request({ t: 'kp_get', rid: 0, order: 'o' }, ['kp']);
    const s1 = await authenticate(transport);
    const [get, kp] = [s1.ofType('roster_get')[0]!, s1.ofType('kp_get')[0]!];
    expect(get.rid).not.toBe(kp.rid);
    s1.receive({ t: 'error', code: 'NOT_A_MEMBER', message: 'no', rid: kp.rid });
    await expect(failing).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    s1.sink.close(1006, '');
    clock.advance(1000);
    const s2 = await authenticate(transport);
    expect(s2.ofType('roster_get')[0]?.rid).toBe(get.rid);
    s2.receive({ t: 'rosters', rid: get.rid, order: 'o', rosters: [] });
    await expect(first).resolves.toMatchObject({ t: 'rosters' });
  });

  it('sends a pending request once on a new connection, even when welcome listeners make new ones', async () => {
    const { transport, clock, conn } = setup();
    conn.connect();
    await authenticate(transport);
    conn.request({ t: 'roster_get', rid: 0, order: 'o' }, ['rosters']).catch(() => undefined);
    transport.current.sink.close(1006, '');
    clock.advance(1000);
    conn.once('welcome', () => void conn.request({ t: 'kp_get', rid: 0, order: 'o' }, ['kp']).catch(() => undefined));
    const s2 = await authenticate(transport);
    expect(s2.sent.filter((f) => f.t === 'roster_get' || f.t === 'kp_get').map((f) => f.t)).toEqual(['roster_get', 'kp_get']);
    conn.close();
  });

  it('times a request out, and fails every pending request when closed', async () => {
    const { clock, conn } = setup({ requestTimeoutMs: 5000 });
    conn.connect();
    const slow = conn.request({ t: 'roster_get', rid: 0, order: 'o' }, ['rosters']);
    const pending = conn.request({ t: 'kp_get', rid: 0, order: 'o' }, ['kp'], 60_000);
    clock.advance(5000);
    await expect(slow).rejects.toBeInstanceOf(SealRelayError);
    await expect(slow).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
    conn.close();
    await expect(pending).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    expect(conn.state).toBe('closed');
    expect(() => conn.connect()).toThrow(SealRelayError);
  });

  it('hands frames that are not answers to a request to the frame listener', async () => {
    const { transport, conn } = setup();
    const frames: ServerFrame[] = [];
    conn.on('frame', (f) => frames.push(f));
    conn.connect();
    const s = await authenticate(transport);
    s.receive({ t: 'puback', order: 'o', clientMsgId: 'm', seq: 1, duplicate: false });
    expect(frames.map((f) => f.t)).toEqual(['puback']);
  });

  it('reconnects on a frame it cannot decode rather than trusting a corrupted stream', async () => {
    const { transport, conn, states } = setup();
    conn.connect();
    const s = await authenticate(transport);
    s.sink.message(new Uint8Array([0xc1]));
    expect(states.at(-1)).toMatchObject({ to: 'connecting', code: 'PROTOCOL_VIOLATION' });
  });
});

describe('connection against a hostile relay', () => {
  beforeEach(() => {
    signed.length = 0;
  });

  it('with relayId set, a challenge naming another relay ends the connection with RELAY_ID_MISMATCH: nothing signed, no auth frame, no reconnect', async () => {
    const { transport, clock, conn, states } = setup({ relayId: 'relay-b' });
    conn.connect();
    const pending = conn.request({ t: 'roster_get', rid: 0, order: 'o', fromEpoch: 1 }, ['rosters']).catch((e: unknown) => e);
    const s = transport.current;
    s.sink.open();
    s.receive(challenge); // relay-a: a relay forwarding another relay's challenge
    await flush();
    expect(signed).toEqual([]);
    expect(s.ofType('auth')).toEqual([]);
    expect(conn.state).toBe('disconnected');
    expect(states.at(-1)).toMatchObject({ to: 'disconnected', code: 'RELAY_ID_MISMATCH' });
    expect(await pending).toMatchObject({ code: 'RELAY_ID_MISMATCH' });
    clock.advance(60_000);
    expect(transport.sockets.length).toBe(1);
  });

  it('with relayId set, the expected relay id authenticates as usual', async () => {
    const { transport, conn } = setup({ relayId: 'relay-a' });
    conn.connect();
    await authenticate(transport);
    expect(signed.length).toBe(1);
    expect(conn.state).toBe('connected');
  });

  it('a relay announcing heartbeatMs: 1 cannot make the client ping in a tight loop (or time the link out)', async () => {
    const { transport, clock, conn } = setup({ heartbeatMs: 60_000 });
    conn.connect();
    const s = transport.current;
    s.sink.open();
    s.receive(challenge);
    await flush();
    s.receive(welcomeFrame({ limits: { maxFrameBytes: 262144, maxEnvelopeBytes: 98304, heartbeatMs: 1 } }));
    for (let i = 0; i < 100; i++) clock.advance(5); // 500 ms
    expect(conn.state).toBe('connected');
    expect(s.ofType('ping').length).toBe(0);
    clock.advance(600); // past the 1 s floor: one ping
    expect(s.ofType('ping').length).toBe(1);
  });
});
