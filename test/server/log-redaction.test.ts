import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/log.ts';
import { Sender, TestClient, b, makeWorld, publish, putRoster, rosterFor, startTestRelay } from '../integration/helpers.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'trace', destination: stream }) };
}

/** Every way a byte string could show up in a JSON log line. */
function forms(bytes: Uint8Array): string[] {
  const slice = bytes.subarray(Math.max(0, bytes.length - 48)); // the tail: ciphertext/signature, never a common prefix
  return [Buffer.from(slice).toString('base64').slice(4, 40), Buffer.from(slice).toString('hex').slice(8, 72), JSON.stringify([...slice.subarray(0, 12)]).slice(1, -1)];
}

describe('log redaction', () => {
  it('redacts secret-bearing fields by path and summarises any stray bytes', () => {
    const { lines, logger } = capture();
    const secret = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff);
    logger.info({ envelope: secret, frame: { ticket: secret, messages: [{ envelope: secret }] }, req: { body: 'plaintext!' }, other: { nested: secret } }, 'x');
    const line = lines.join('\n');
    for (const f of forms(secret)) expect(line).not.toContain(f);
    expect(line).not.toContain('plaintext!');
    expect(line).toContain('[redacted]');
    expect(line).toContain('<64 bytes>');
  });

  it('a relay at trace level logs no ciphertext, ticket, signature or certificate bytes through auth, publish, delivery and errors', async () => {
    const { lines, logger } = capture();
    const w = await makeWorld();
    const relay = await startTestRelay(w, {}, { logger });
    try {
      const order = 'order-logs';
      const r = rosterFor(w, order, [w.shipper, w.consignee]);
      const c = await TestClient.open(relay.url);
      const welcome = await c.auth(w.shipper);
      await putRoster(c, order, r.bytes);
      const envelope = new Sender(w.shipper, r.roster).seal('text', 'the secret price is 4711');
      c.send({ t: 'sub', rid: 1, order, afterSeq: 0 });
      await publish(c, order, 'm1', envelope);
      await c.nextOf('deliver');
      c.send({ t: 'pub', order, clientMsgId: 'bad', envelope: b(envelope.slice(0, 40)) }); // refused: error path
      await c.nextError();
      c.send(new Uint8Array([0xc1, 0xff, 0x00])); // garbage: error path
      await c.nextError();
      c.close();
      await c.closed;
      expect(lines.length).toBeGreaterThan(5);
      const all = lines.join('\n');
      for (const secret of [envelope, welcome.ticket, w.shipper.cert, r.bytes]) for (const f of forms(secret)) expect(all).not.toContain(f);
      expect(all).not.toContain('4711');
      // Lines carry the connection id.
      expect(lines.some((l) => /"conn":"c-/.test(l) && /"msg":"authenticated"/.test(l))).toBe(true);
    } finally {
      await relay.close();
    }
  });
});
