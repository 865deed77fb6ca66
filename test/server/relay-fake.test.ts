import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../protocol/codec.ts';
import { closeCodeOf } from '../../protocol/errors.ts';
import { PROTOCOL_VERSION } from '../../protocol/limits.ts';
import { startRelay } from '../../server/index.ts';
import { quietLogger } from '../integration/helpers.ts';
import { FakeTransport } from './fake-transport.ts';

async function fakeRelay() {
  const transport = new FakeTransport();
  const relay = await startRelay({ port: 0, trustedAuthorities: ['a'.repeat(64)], limits: { maxBadFramesInARow: 3 } }, { transport, logger: quietLogger(), defaultMetrics: false });
  return { transport, relay };
}

describe('the relay over a fake transport (no sockets)', () => {
  it('answers frames before authentication with NOT_AUTHENTICATED, a connect with a challenge, a ping with a pong', async () => {
    const { transport, relay } = await fakeRelay();
    const c = transport.connect();
    transport.receive(c, encodeFrame({ t: 'sub', order: 'o', afterSeq: 0 }));
    transport.receive(c, encodeFrame({ t: 'ping', n: 3 }));
    transport.receive(c, encodeFrame({ t: 'connect', v: PROTOCOL_VERSION, deviceId: 'd_x' }));
    expect(c.frames().map((f) => (f.t === 'error' ? f.code : f.t))).toEqual(['NOT_AUTHENTICATED', 'pong', 'challenge']);
    await relay.close();
  });

  it('closes after too many bad frames in a row, with the BAD_FRAME close code, and forgets the connection', async () => {
    const { transport, relay } = await fakeRelay();
    const c = transport.connect();
    expect(relay.connections()).toBe(1);
    for (let i = 0; i < 5; i++) transport.receive(c, new Uint8Array([0xc1, i]));
    expect(c.closeCode).toBe(closeCodeOf('BAD_FRAME'));
    // Three answers, then the closing error that says why.
    expect(c.frames().filter((f) => f.t === 'error')).toHaveLength(4);
    expect(relay.connections()).toBe(0);
    await relay.close();
  });

  it('never throws out of the message handler, whatever the bytes', async () => {
    const { transport, relay } = await fakeRelay();
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 2000; i++) {
      const c = transport.connect();
      const bytes = Uint8Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
      expect(() => transport.receive(c, bytes, rand() > 0.1)).not.toThrow();
      c.end(1000);
    }
    expect(relay.connections()).toBe(0);
    await relay.close();
  });
});
