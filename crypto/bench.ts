/**
 * Crypto micro-benchmark: `npm run bench:crypto` (a table) or
 * `npm run bench:crypto -- --json` (the table, then one JSON object on the last line).
 * `--backend wasm|native|both` (default both: every backend that loads), `--rounds N` (default 7).
 *
 * Single-threaded. Each figure is the median of N rounds of ROUND_MS CPU time each, and
 * the backends' rounds are interleaved (wasm, native, wasm, native, …) so that a change
 * in the machine's load hits both alike and the native/wasm ratio is measured in the
 * same conditions. Rates are per CPU-second of this process (process.cpuUsage), i.e.
 * per core: on a shared, loaded machine wall-clock rates mostly measure the neighbours.
 * The wall-clock figure is printed beside it in the table.
 * encrypt+sign = sealEnvelope (ratchet step, pad, XChaCha20-Poly1305, Ed25519 sign, hash);
 * verify+decrypt = openEnvelope (decode, policy, Ed25519 verify, ratchet, AEAD open, unpad).
 * JSON: the issue's fields for the auto-selected backend (what an application gets),
 * plus `backends` (each one measured) and `nativeOverWasm` (ratios of the medians).
 */
import { cryptoReady } from './sodium.ts';
import { cryptoBackend, loadBackend, useBackend, type CryptoBackendChoice, type CryptoBackendName } from './backend.ts';
import { AuthorityKey, DeviceKeys } from './identity.ts';
import { issueCertificate } from './certificate.ts';
import { signRoster, verifyRoster } from './roster.ts';
import { OutboundSenderKey, createKeyPackages, openKeyPackage } from './senderkey.ts';
import { ReceiverState } from './ratchet.ts';
import { sealEnvelope, openEnvelope } from './envelope.ts';

const ROUND_MS = 120;
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const ROUNDS = Math.max(1, Number(arg('--rounds') ?? 7));
const wanted = arg('--backend') ?? 'both';
if (!['wasm', 'native', 'both'].includes(wanted)) throw new Error(`--backend ${wanted}: use wasm, native or both`);

await cryptoReady();
const auto = cryptoBackend();
const autoChoice: CryptoBackendChoice = auto === 'sodium-native' ? 'native' : 'wasm';
const choices: CryptoBackendChoice[] = [];
const names = {} as Record<CryptoBackendChoice, CryptoBackendName>;
for (const c of wanted === 'both' ? (['wasm', 'native'] as const) : [wanted as CryptoBackendChoice]) {
  try {
    names[c] = (await loadBackend(c)).name;
    choices.push(c);
  } catch (e) {
    console.error(`skipping ${c}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
if (choices.length === 0) throw new Error('no crypto backend loaded');

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

const median = (xs: number[]): number => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number);
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One benchmarked operation, bound to the backend it was made under. `ready()` false = refill (untimed) first. */
interface Runner {
  op(): void;
  ready(): boolean;
  refill(): void;
}

interface Figure {
  cpu: number;
  wall: number;
}

/** Interleaved rounds of each backend's runner; returns median ops per CPU-second and per wall-second. */
async function measure(make: () => Runner): Promise<Record<CryptoBackendChoice, Figure>> {
  const runners = {} as Record<CryptoBackendChoice, Runner>;
  for (const c of choices) {
    await useBackend(c);
    const r = make();
    for (let i = 0; i < 50; i++) {
      if (!r.ready()) r.refill();
      r.op(); // warm-up (JIT, wasm tier-up)
    }
    runners[c] = r;
  }
  const rates = Object.fromEntries(choices.map((c) => [c, { cpu: [] as number[], wall: [] as number[] }])) as Record<CryptoBackendChoice, { cpu: number[]; wall: number[] }>;
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of choices) {
      await useBackend(c);
      const r = runners[c];
      let n = 0;
      let busy = 0;
      let busyWall = 0;
      while (busy < ROUND_MS) {
        if (!r.ready()) r.refill();
        const c0 = cpuMs();
        const w0 = performance.now();
        for (let i = 0; i < 16 && r.ready(); i++, n++) r.op();
        busy += cpuMs() - c0;
        busyWall += performance.now() - w0;
      }
      rates[c].cpu.push((n * 1000) / busy);
      rates[c].wall.push((n * 1000) / busyWall);
    }
  }
  return Object.fromEntries(choices.map((c) => [c, { cpu: median(rates[c].cpu), wall: median(rates[c].wall) }])) as Record<CryptoBackendChoice, Figure>;
}

function freshChain(): { sk: OutboundSenderKey; st: ReceiverState } {
  const sk = OutboundSenderKey.create({ orderId: 'bench-order', epoch: 1, scope: 'shared', senderDeviceId: sender.deviceId, now });
  const st = new ReceiverState();
  for (const p of createKeyPackages(sk, sender, roster)) st.install(openKeyPackage(p.bytes, receiver, roster));
  return { sk, st };
}

const always = (): boolean => true;

function sealRunner(size: number): () => Runner {
  return () => {
    const body = new Uint8Array(size).fill(0x61);
    const { sk } = freshChain();
    return { op: () => void sealEnvelope({ senderKey: sk, sender, kind: 'text', body }), ready: always, refill: () => {} };
  };
}

/** Pre-seals a batch and opens it in order (as a receiver does); refills when used up, outside the timed region. */
function openRunner(size: number): () => Runner {
  return () => {
    const body = new Uint8Array(size).fill(0x61);
    let batch: Uint8Array[] = [];
    let st = new ReceiverState();
    let at = 0;
    const refill = (): void => {
      const c = freshChain();
      st = c.st;
      batch = Array.from({ length: 2000 }, () => sealEnvelope({ senderKey: c.sk, sender, kind: 'text', body }));
      at = 0;
    };
    refill();
    return {
      op: () => void openEnvelope(batch[at++] as Uint8Array, { roster, receiverState: st, expectedOrderId: 'bench-order' }),
      ready: () => at < batch.length,
      refill,
    };
  };
}

// createKeyPackages seals to one reader here, so its rate is the per-recipient rate.
const keyPackageRunner = (): Runner => {
  const sk = OutboundSenderKey.create({ orderId: 'bench-order', epoch: 1, scope: 'shared', senderDeviceId: sender.deviceId, now });
  return { op: () => void createKeyPackages(sk, sender, roster), ready: always, refill: () => {} };
};

const enc256 = await measure(sealRunner(256));
const dec256 = await measure(openRunner(256));
const enc64k = await measure(sealRunner(65536));
const dec64k = await measure(openRunner(65536));
const seal = await measure(keyPackageRunner);
await useBackend(autoChoice);

type Result = { '256': { encryptSignPerSec: number; verifyDecryptPerSec: number }; '65536': { encryptSignPerSec: number; verifyDecryptPerSec: number }; sealSenderKeyPerSec: number };
const resultOf = (c: CryptoBackendChoice): Result => ({
  '256': { encryptSignPerSec: enc256[c].cpu, verifyDecryptPerSec: dec256[c].cpu },
  '65536': { encryptSignPerSec: enc64k[c].cpu, verifyDecryptPerSec: dec64k[c].cpu },
  sealSenderKeyPerSec: seal[c].cpu,
});
const backends = Object.fromEntries(choices.map((c) => [names[c], resultOf(c)])) as Partial<Record<CryptoBackendName, Result>>;
const reported: CryptoBackendChoice = choices.includes(autoChoice) ? autoChoice : (choices[0] as CryptoBackendChoice);
const ratio = (x: Record<CryptoBackendChoice, Figure>): number => Math.round((x.native.cpu / x.wasm.cpu) * 100) / 100;
const both = choices.length === 2;
const result = {
  ...resultOf(reported),
  backend: names[reported],
  backends,
  ...(both
    ? {
        nativeOverWasm: {
          '256': { encryptSignPerSec: ratio(enc256), verifyDecryptPerSec: ratio(dec256) },
          '65536': { encryptSignPerSec: ratio(enc64k), verifyDecryptPerSec: ratio(dec64k) },
          sealSenderKeyPerSec: ratio(seal),
        },
      }
    : {}),
};

const fmt = (n: number | undefined): string => (n ?? 0).toLocaleString('en-US').padStart(9);
console.log(`sealrelay crypto bench — node ${process.version}, one thread, median of ${ROUNDS} interleaved rounds of ${ROUND_MS} ms CPU`);
console.log(`auto-selected backend: ${auto}; ops per CPU-second (wall-clock ops/s in parentheses; lower when the machine is shared)`);
const rows: [string, Record<CryptoBackendChoice, Figure>][] = [
  ['encrypt+sign 256 B', enc256],
  ['verify+decrypt 256 B', dec256],
  ['encrypt+sign 64 KiB', enc64k],
  ['verify+decrypt 64 KiB', dec64k],
  ['key package (per reader)', seal],
];
console.log(`${'operation'.padEnd(26)}${choices.map((c) => `| ${names[c].padEnd(23)}`).join('')}${both ? '| native/wasm' : ''}`);
for (const [label, f] of rows) {
  const cells = choices.map((c) => `| ${fmt(f[c].cpu)} (${fmt(f[c].wall)}) `).join('');
  console.log(`${label.padEnd(26)}${cells}${both ? `| ${ratio(f).toFixed(2)}x` : ''}`);
}
const goal = resultOf(reported)['256'];
console.log(`goal at 256 B (${names[reported]}): encrypt+sign ≥ 15,000/s ${goal.encryptSignPerSec >= 15_000 ? 'met' : 'NOT met'}, verify+decrypt ≥ 8,000/s ${goal.verifyDecryptPerSec >= 8_000 ? 'met' : 'NOT met'}`);
if (process.argv.includes('--json')) console.log(JSON.stringify(result));
