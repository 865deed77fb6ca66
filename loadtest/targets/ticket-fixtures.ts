/**
 * Fixtures for tools that cannot sign (k6 has no Ed25519): real devices
 * authenticate once against a running relay here, and their resumption tickets,
 * certificates and pre-sealed envelopes are written as JSON. The rosters are put
 * on the relay at the same time. Tickets last TICKET_TTL_MS (12 h) and are only
 * valid on relays sharing SEALRELAY_TICKET_SECRET.
 */
import { writeFileSync } from 'node:fs';
import { AuthorityKey, cryptoReady } from '../../crypto/index.ts';
import type { K6Device, K6Fixtures } from '../k6/fixtures-format.ts';
import { bodyBytesForEnvelope, makeFixtures, preSeal, type LoadDevice } from './fixtures.ts';
import { connectDevice, wire } from './relay-connection.ts';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

async function ticketOf(url: string, device: LoadDevice, roster?: { orderId: string; bytes: Uint8Array }): Promise<K6Device> {
  let rosterDone: (() => void) | undefined;
  let rosterFailed: ((e: Error) => void) | undefined;
  const conn = await connectDevice(url, device, {
    onFrame: (f) => {
      if (f.t === 'roster_ok') rosterDone?.();
      else if (f.t === 'error') rosterFailed?.(new Error(`${f.code}: ${f.message}`));
    },
    onClose: () => undefined,
  });
  if (roster) {
    await new Promise<void>((resolve, reject) => {
      rosterDone = resolve;
      rosterFailed = reject;
      conn.send({ t: 'roster_put', rid: 1, order: roster.orderId, roster: wire(roster.bytes) });
    });
  }
  conn.ws.close(1000);
  return { deviceId: device.deviceId, ticket: b64(conn.ticket), certificate: b64(device.certificate) };
}

export async function makeTicketFixtures(o: { url: string; orders: number; messagesPerOrder: number; authoritySeedHex?: string }): Promise<K6Fixtures> {
  await cryptoReady();
  const authority = o.authoritySeedHex ? AuthorityKey.fromSeed(Uint8Array.from(Buffer.from(o.authoritySeedHex, 'hex'))) : AuthorityKey.generate();
  const runId = Math.random().toString(36).slice(2, 8);
  const f = await makeFixtures({ orders: o.orders, receiversPerOrder: 3, runId, authority });
  const orders: K6Fixtures['orders'] = [];
  for (const order of f.orders) {
    const publisher = await ticketOf(o.url, order.publisher, { orderId: order.orderId, bytes: order.roster });
    const receivers = [];
    for (const r of order.receivers) receivers.push(await ticketOf(o.url, r));
    orders.push({ orderId: order.orderId, publisher, receivers, envelopes: preSeal(order, o.messagesPerOrder, bodyBytesForEnvelope(256)).map(b64) });
  }
  return {
    relayUrl: o.url,
    httpUrl: o.url.replace(/^ws/, 'http').replace(/\/$/, ''),
    authorityPublicKey: Buffer.from(authority.publicKey).toString('hex'),
    createdAt: new Date().toISOString(),
    orders,
  };
}

export function writeTicketFixtures(file: string, fx: K6Fixtures): void {
  writeFileSync(file, JSON.stringify(fx) + '\n');
}
