/**
 * Crypto micro-benchmark: `npm run bench:crypto` (a table) or
 * `npm run bench:crypto -- --json` (the table, then one JSON object on the last line).
 * Single-threaded, time-bounded (~4 s): each figure is the median of ROUNDS rounds.
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

/** Runs `op` for ROUND_MS per round; returns the median ops/s. */
function measure(op: () => void): number {
  for (let i = 0; i < 50; i++) op(); // warm-up (JIT, wasm tier-up)
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < ROUND_MS) {
      for (let i = 0; i < 16; i++) op();
      n += 16;
      elapsed = performance.now() - start;
    }
    rates.push((n * 1000) / elapsed);
  }
  rates.sort((a, b) => a - b);
  return Math.round(rates[Math.floor(ROUNDS / 2)] as number);
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
  });
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
  }, () => at === batch.length, refill);
  return { encryptSignPerSec, verifyDecryptPerSec };
}

/** Like measure(), but refills outside the timed region. */
function measureWithRefill(op: () => void, empty: () => boolean, refill: () => void): number {
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    let busy = 0;
    while (busy < ROUND_MS) {
      if (empty()) refill();
      const t0 = performance.now();
      for (let i = 0; i < 16 && !empty(); i++, n++) op();
      busy += performance.now() - t0;
    }
    rates.push((n * 1000) / busy);
  }
  rates.sort((a, b) => a - b);
  return Math.round(rates[Math.floor(ROUNDS / 2)] as number);
}

const small = sizeBench(256);
const large = sizeBench(65536);
const sealSk = OutboundSenderKey.create({ orderId: 'bench-order', epoch: 1, scope: 'shared', senderDeviceId: sender.deviceId, now });
// createKeyPackages seals to one reader here, so its rate is the per-recipient rate.
const sealSenderKeyPerSec = measure(() => {
  createKeyPackages(sealSk, sender, roster);
});

const result = {
  '256': small,
  '65536': large,
  sealSenderKeyPerSec,
  backend: 'libsodium-wrappers-sumo',
};

const fmt = (n: number): string => n.toLocaleString('en-US').padStart(10);
console.log(`sealrelay crypto bench — node ${process.version}, one core, median of ${ROUNDS} × ${ROUND_MS} ms`);
console.log('body bytes | encrypt+sign/s | verify+decrypt/s');
console.log(`       256 | ${fmt(small.encryptSignPerSec)}     | ${fmt(small.verifyDecryptPerSec)}`);
console.log(`     65536 | ${fmt(large.encryptSignPerSec)}     | ${fmt(large.verifyDecryptPerSec)}`);
console.log(`sender-key packages sealed+signed per second (per recipient): ${fmt(sealSenderKeyPerSec)}`);
if (process.argv.includes('--json')) console.log(JSON.stringify(result));
