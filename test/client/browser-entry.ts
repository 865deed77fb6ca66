/**
 * Runs inside Chromium (bundled by browser.test.ts with esbuild): the SDK with
 * the browser transport and IndexedDB storage, driven by the test through
 * window.sealrelayScenario.
 */
import { DeviceKeys, cryptoReady } from '../../crypto/index.ts';
import { IndexedDbStorage, SealRelayClient, browserTransport, type ReceivedMessage } from '../../client/index.ts';

interface Config {
  url: string;
  keys: string;
  cert: string;
  trusted: string[];
  order: string;
  /** 'send': send texts online; 'queue': store texts while offline and stop; 'flush': restart and let the outbox drain. */
  step: 'send' | 'queue' | 'flush';
  texts: string[];
  expectFromPeer: number;
}

const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((h) => parseInt(h, 16)));

async function scenario(cfg: Config): Promise<{ received: string[]; states: string[]; pendingAtStart: number; pendingAtEnd: number }> {
  await cryptoReady();
  const client = await SealRelayClient.create({
    url: cfg.url,
    transport: browserTransport(),
    storage: new IndexedDbStorage('sealrelay-browser-test'),
    device: { keys: DeviceKeys.deserialize(hex(cfg.keys)), certificate: hex(cfg.cert) },
    trustedAuthorities: cfg.trusted.map(hex),
    backoff: { baseMs: 50, maxMs: 300 },
  });
  const pendingAtStart = client.pendingCount();
  const states: string[] = [];
  client.on('state', (s) => states.push(`${s.to}:${s.code}`));
  client.connect();
  const received: string[] = [];
  if (cfg.step === 'flush') {
    await until(() => client.pendingCount() === 0);
    client.close();
    return { received, states, pendingAtStart, pendingAtEnd: client.pendingCount() };
  }
  const order = await client.openOrder(cfg.order);
  const it = order.messages();
  if (cfg.step === 'queue') client.offline();
  for (const text of cfg.texts) await order.send('text', { text });
  if (cfg.step === 'queue') {
    const pendingAtEnd = client.pendingCount();
    client.close();
    return { received, states, pendingAtStart, pendingAtEnd };
  }
  while (received.length < cfg.texts.length + cfg.expectFromPeer) {
    const { value } = (await it.next()) as { value: ReceivedMessage };
    received.push(value.kind === 'text' ? `${value.self ? 'me' : value.sender.role}: ${value.body.text}` : value.kind);
  }
  await until(() => client.pendingCount() === 0);
  client.close();
  return { received, states, pendingAtStart, pendingAtEnd: client.pendingCount() };
}

function until(cond: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (cond()) {
        clearInterval(t);
        resolve();
      }
    }, 20);
  });
}

(globalThis as unknown as { sealrelayScenario: typeof scenario }).sealrelayScenario = scenario;
