/**
 * The people of the demo: each a device with its own keys, certificate and SDK
 * client (its own socket, its own storage), recording what its application is
 * handed: messages, warnings, the moment it learns it was removed.
 */
import { MemoryStorage, SealRelayClient, nodeTransport, type OrderSession, type OrderWarning, type ReceivedMessage } from '../client/node.ts';
import { DeviceKeys, issueCertificate, type AuthorityKey, type Role } from '../crypto/index.ts';

export interface Party {
  readonly name: string;
  readonly role: Role;
  readonly userId: string;
  readonly keys: DeviceKeys;
  readonly certificate: Uint8Array;
  readonly client: SealRelayClient;
  session?: OrderSession;
  readonly seen: ReceivedMessage[];
  readonly warnings: OrderWarning[];
  /** The epoch whose roster told this device it was removed. */
  removedAt?: number;
}

const DAY = 24 * 3600_000;

export async function makeParty(authority: AuthorityKey, trusted: Uint8Array, relayUrl: string, name: string, role: Role, userId: string): Promise<Party> {
  const keys = DeviceKeys.generate();
  const now = Date.now();
  const certificate = issueCertificate(authority, {
    tenant: 'acme-logistics',
    userId,
    signPublicKey: keys.signPublicKey,
    boxPublicKey: keys.boxPublicKey,
    notBefore: now - DAY,
    notAfter: now + 30 * DAY,
  });
  const client = await SealRelayClient.create({
    url: relayUrl,
    transport: nodeTransport(),
    storage: new MemoryStorage(),
    device: { keys, certificate },
    trustedAuthorities: [trusted],
    ackDelayMs: 10,
  });
  client.connect();
  return { name, role, userId, keys, certificate, client, seen: [], warnings: [] };
}

/** Open the order for `p` and record everything its application would be handed. */
export async function join(p: Party, orderId: string): Promise<void> {
  const session = await p.client.openOrder(orderId);
  session.on('message', (m) => p.seen.push(m));
  session.on('warning', (w) => p.warnings.push(w));
  session.on('removed', ({ epoch }) => {
    p.removedAt = epoch;
  });
  p.session = session;
}

/** Resolve when `done()` holds, polling; reject with `what` after `ms`. */
export async function until(done: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
