/** Ticket resumption across relay nodes: what a resume re-checks (audit finding: tickets were bearer tokens of any relay sharing a secret). */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../protocol/codec.ts';
import { PROTOCOL_VERSION } from '../../protocol/limits.ts';
import { AuthorityKey } from '../../crypto/index.ts';
import { MemoryStore } from '../../server/store/memory.ts';
import { makeWorld, type World } from '../integration/helpers.ts';
import { FakeClient, fakeNode, type FakeNode } from './fake-cluster.ts';

let w: World;
const nodes: FakeNode[] = [];
beforeAll(async () => { w = await makeWorld(); });
afterEach(async () => { await Promise.all(nodes.splice(0).map((n) => n.relay.close())); });

const secret = 't'.repeat(40);
const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');

async function ticketFrom(node: FakeNode): Promise<Uint8Array<ArrayBuffer>> {
  const c = await FakeClient.open(node, w.courier);
  const welcome = c.all().find((f) => f.t === 'welcome');
  if (welcome?.t !== 'welcome') throw new Error('no welcome');
  return welcome.ticket;
}

function resume(node: FakeNode, ticket: Uint8Array<ArrayBuffer>): string[] {
  const conn = node.transport.connect();
  node.transport.receive(conn, encodeFrame({ t: 'connect', v: PROTOCOL_VERSION, deviceId: w.courier.keys.deviceId, ticket }));
  return conn.frames().map((f) => (f.t === 'error' ? `error:${f.code}` : f.t === 'welcome' ? `welcome:${f.resumed}` : f.t));
}

describe('resuming with a ticket', () => {
  it('works on another node of the same cluster (same relayId and secret)', async () => {
    const store = new MemoryStore();
    const a = await fakeNode(w, store, { ticketSecrets: [secret] });
    const b = await fakeNode(w, store, { ticketSecrets: [secret] });
    nodes.push(a, b);
    expect(resume(b, await ticketFrom(a))).toEqual(['welcome:true']);
  });

  it('is refused by a relay with another relayId even if it shares the secret', async () => {
    const a = await fakeNode(w, new MemoryStore(), { ticketSecrets: [secret], relayId: 'tenant-a' });
    const b = await fakeNode(w, new MemoryStore(), { ticketSecrets: [secret], relayId: 'tenant-b' });
    nodes.push(a, b);
    expect(resume(b, await ticketFrom(a))).toEqual(['error:TICKET_INVALID', 'challenge']);
  });

  it('is refused once the authority that certified the device is no longer trusted', async () => {
    const a = await fakeNode(w, new MemoryStore(), { ticketSecrets: [secret] });
    const other = AuthorityKey.generate();
    // The operator rotated the authority out: same cluster, same secret, new trust list.
    const b = await fakeNode(w, new MemoryStore(), { ticketSecrets: [secret], trustedAuthorities: [hex(other.publicKey)] });
    nodes.push(a, b);
    expect(resume(b, await ticketFrom(a))).toEqual(['error:TICKET_INVALID', 'challenge']);
  });
});
