/**
 * End-to-end fixtures for SDK tests: the relay's test world (real authority,
 * certificates, rosters) and SDK clients connected to a real relay over `ws`.
 */
import type { RunningRelay } from '../../server/index.ts';
import { SealRelayClient, type ClientOptions } from '../../client/client.ts';
import { MemoryStorage } from '../../client/storage/memory.ts';
import { nodeTransport } from '../../client/transport/node.ts';
import type { Transport, TransportSocket } from '../../client/transport/types.ts';
import type { OrderSession, ReceivedMessage, OrderWarning } from '../../client/order.ts';
import type { Party, World } from '../integration/helpers.ts';

export { makeParty, makeWorld, rosterFor, startTestRelay } from '../integration/helpers.ts';
export type { Party, World };

/** A node transport whose live sockets a test can cut, like a network drop. */
export class CuttableTransport implements Transport {
  readonly name = 'cuttable';
  private readonly inner = nodeTransport();
  private readonly live = new Set<TransportSocket>();
  opened = 0;
  open(url: string, sink: Parameters<Transport['open']>[1]): TransportSocket {
    this.opened++;
    const s = this.inner.open(url, {
      ...sink,
      close: (code, reason) => {
        this.live.delete(s);
        sink.close(code, reason);
      },
    });
    this.live.add(s);
    return s;
  }
  /** Drop every socket without a close handshake from the relay's side of view (the client sees 1006-ish). */
  cut(): void {
    for (const s of this.live) s.close(4000, 'cut by test');
    this.live.clear();
  }
}

/** A client of `relay` for party `p`, connected unless `connect: false`. */
export async function makeClient(relay: RunningRelay, w: World, p: Party, over: Partial<ClientOptions> & { connect?: boolean } = {}): Promise<SealRelayClient> {
  const { connect = true, ...options } = over;
  const client = await SealRelayClient.create({
    url: relay.url,
    transport: options.transport ?? nodeTransport(),
    storage: options.storage ?? new MemoryStorage(),
    device: { keys: p.keys, certificate: p.cert },
    trustedAuthorities: w.trusted,
    backoff: { baseMs: 50, maxMs: 300 },
    ackDelayMs: 5,
    ...options,
  });
  if (connect) client.connect();
  return client;
}

/** Collects what an order session hands to the application. */
export function record(order: OrderSession): { messages: ReceivedMessage[]; warnings: OrderWarning[] } {
  const out = { messages: [] as ReceivedMessage[], warnings: [] as OrderWarning[] };
  order.on('message', (m) => out.messages.push(m));
  order.on('warning', (w) => out.warnings.push(w));
  return out;
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
