/**
 * Crypto micro-benchmark: `npm run bench:crypto` (a table) or
 * `npm run bench:crypto -- --json` (the table, then one JSON object on the last line).
 * Single-threaded, time-bounded (~4 s): each figure is the median of ROUNDS rounds.
 * Rates are per CPU-second of this process (process.cpuUsage), i.e. per core: on a
 * shared, loaded machine wall-clock rates mostly measure the neighbours. The wall-clock
 * figure is printed beside it in the table.
 * encrypt+sign = sealEnvelope (ratchet step, pad, XChaCha20-Poly1305, Ed25519 sign, hash);
 * verify+decrypt = openEnvelope (decode, policy, Ed25519 verify, ratchet, AEAD open, unpad).
 */
import { cryptoReady } from './sodium.ts';
import { AuthorityKey, DeviceKeys } from './identity.ts';
import { issueCertificate } from './certificate.ts';
import { signRoster, verifyRoster } from './roster.ts';
import { OutboundSenderKey, createKeyPackages, openKeyPackage } from './senderkey.ts';
import { ReceiverState } from './ratchet.ts';
import { sealEnvelope, openEnvelope } from './envelope.ts';

const ROUNDS = 5;
const ROUND_MS = 120;

await cryptoReady();

const now = Date.now();
const authority = AuthorityKey.generate();
const sender = DeviceKeys.generate();
const receiver = DeviceKeys.generate();
const cert = (d: DeviceKeys, userId: string) =>
  issueCertificate(authority, { tenant: 'bench', userId, signPublicKey: d.signPublicKey, boxPublicKey: d.boxPublicKey, notBefore: now - 1000, notAfter: now + 86_400_000 });
const roster = verifyRoster(
  signRoster(authority, {
    orderId: 'bench-order',
    epoch: 1,
    members: [
      { deviceId: sender.deviceId, userId: 's', role: 'dispatcher', certificate: cert(sender, 's') },
      { deviceId: receiver.deviceId, userId: 'r', role: 'shipper', certificate: cert(receiver, 'r') },
    ],
    policyId: 'sealrelay/default@1',
    issuedAt: now,
  }),
  { trustedAuthorities: [authority.publicKey], now },
);

const wall: Record<string, number> = {};
const median = (xs: number[]): number => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number);
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Runs `op` for ROUND_MS of CPU time per round; returns the median ops per CPU-second. */
function measure(op: () => void, label: string): number {
  for (let i = 0; i < 50; i++) op(); // warm-up (JIT, wasm tier-up)
  const rates: number[] = [];
  const wallRates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const c0 = cpuMs();
    const w0 = performance.now();
    let cpu = 0;
    while (cpu < ROUND_MS) {
      for (let i = 0; i < 16; i++) op();
      n += 16;
      cpu = cpuMs() - c0;
    }
    rates.push((n * 1000) / cpu);
    wallRates.push((n * 1000) / (performance.now() - w0));
  }
  wall[label] = median(wallRates);
  return median(rates);
}

function freshChain(): { sk: OutboundSenderKey; st: ReceiverState } {
  const sk = OutboundSenderKey.create({ orderId: 'bench-order', epoch: 1, scope: 'shared', senderDeviceId: sender.deviceId, now });
  const st = new ReceiverState();
  for (const p of createKeyPackages(sk, sender, roster)) st.install(openKeyPackage(p.bytes, receiver, roster));
  return { sk, st };
}

function sizeBench(size: number): { encryptSignPerSec: number; verifyDecryptPerSec: number } {
  const body = new Uint8Array(size).fill(0x61);
  let { sk } = freshChain();
  const encryptSignPerSec = measure(() => {
    sealEnvelope({ senderKey: sk, sender, kind: 'text', body });
  }, `enc${size}`);
  // Pre-seal a batch, then open it in order (as a receiver does); refill when used up.
  let batch: Uint8Array[] = [];
  let st = new ReceiverState();
  let at = 0;
  const refill = (): void => {
    const c = freshChain();
    sk = c.sk;
    st = c.st;
    batch = Array.from({ length: 2000 }, () => sealEnvelope({ senderKey: sk, sender, kind: 'text', body }));
    at = 0;
  };
  refill();
  const verifyDecryptPerSec = measureWithRefill(() => {
    if (at === batch.length) refill();
    openEnvelope(batch[at++] as Uint8Array, { roster, receiverState: st, expectedOrderId: 'bench-order' });
  }, () => at === batch.length, refill, `dec${size}`);
  return { encryptSignPerSec, verifyDecryptPerSec };
}

/** Like measure(), but refills outside the timed region. */
function measureWithRefill(op: () => void, empty: () => boolean, refill: () => void, label: string): number {
  const rates: number[] = [];
  const wallRates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    let busy = 0;
    let busyWall = 0;
    while (busy < ROUND_MS) {
      if (empty()) refill();
      const c0 = cpuMs();
      const w0 = performance.now();
      for (let i = 0; i < 16 && !empty(); i++, n++) op();
      busy += cpuMs() - c0;
      busyWall += performance.now() - w0;
    }
    rates.push((n * 1000) / busy);
    wallRates.push((n * 1000) / busyWall);
  }
  wall[label] = median(wallRates);
  return median(rates);
}

const small = sizeBench(256);
const large = sizeBench(65536);
const sealSk = OutboundSenderKey.create({ orderId: 'bench-order', epoch: 1, scope: 'shared', senderDeviceId: sender.deviceId, now });
// createKeyPackages seals to one reader here, so its rate is the per-recipient rate.
const sealSenderKeyPerSec = measure(() => {
  createKeyPackages(sealSk, sender, roster);
}, 'seal');

const result = {
  '256': small,
  '65536': large,
  sealSenderKeyPerSec,
  backend: 'libsodium-wrappers-sumo',
};

const fmt = (n: number | undefined): string => (n ?? 0).toLocaleString('en-US').padStart(8);
console.log(`sealrelay crypto bench — node ${process.version}, one thread, median of ${ROUNDS} rounds of ${ROUND_MS} ms CPU`);
console.log('ops per CPU-second (wall-clock ops/s in parentheses; lower when the machine is shared)');
console.log('body bytes |      encrypt+sign      |     verify+decrypt');
for (const [size, r] of [[256, small], [65536, large]] as const) {
  console.log(`${String(size).padStart(10)} | ${fmt(r.encryptSignPerSec)} (${fmt(wall[`enc${size}`])}) | ${fmt(r.verifyDecryptPerSec)} (${fmt(wall[`dec${size}`])})`);
}
console.log(`sender-key packages sealed+signed (per recipient): ${fmt(sealSenderKeyPerSec)} (${fmt(wall.seal)})`);
if (process.argv.includes('--json')) console.log(JSON.stringify(result));
