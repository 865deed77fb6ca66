/**
 * `npm run demo`: one order, start to finish, against an embedded relay (memory
 * store, a free port), with every party a separate SDK client on its own socket:
 *
 *   placed → accepted → picked up → location → exception with a photo →
 *   courier reassigned mid-route (the old courier is cut off) → out for delivery →
 *   delivered → proof of delivery → ratings
 *
 * Then it prints the conversation as each party's application was handed it,
 * and beside it what the relay stored: clear headers and sealed sizes, never a
 * body. It checks what each party saw against the policy and the rosters and
 * exits 1 if anyone saw too much, too little, out of order, or any warning.
 * Bounded: gives up (exit 1) after DEMO_DEADLINE_MS.
 */
import { isSealRelayError, type MessageBody, type MessageKind, type ReceivedMessage } from '../client/node.ts';
import {
  AuthorityKey,
  DEFAULT_POLICY,
  ReceiverState,
  cryptoReady,
  decodeEnvelopeHeader,
  decodeKeyPackageHeader,
  isCryptoError,
  mayRead,
  openEnvelope,
  openKeyPackage,
  signRoster,
  verifyRoster,
  type RosterMemberInput,
  type VerifiedRoster,
} from '../crypto/index.ts';
import { startRelay } from '../server/index.ts';
import { MemoryStore } from '../server/store/memory.ts';
import { paint } from '../cli/args.ts';
import { summarize } from '../cli/format.ts';
import { join, makeParty, until, type Party } from './parties.ts';

const ORDER = 'SO-2026-1111';
/** The whole demo normally takes 2–4 s; this bounds a hang (a CI job must end). */
const DEMO_DEADLINE_MS = 45_000;
const STEP_MS = 15_000;
/** A removal is pushed at once; seconds of silence mean it will not come. */
const REMOVAL_MS = 4_000;

interface Sent {
  readonly seq: number;
  readonly by: Party;
  readonly kind: MessageKind;
  readonly scope: string;
  readonly epoch: number;
}

const out = (s = ''): void => void process.stdout.write(s + '\n');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A small fake JPEG: the SOI/APP0 marker bytes, then noise (photos are incompressible too). */
function fakePhoto(bytes: number, seed: number): Uint8Array {
  const b = new Uint8Array(bytes);
  b.set([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]);
  let x = seed >>> 0 || 1;
  for (let i = 11; i < bytes - 2; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  b.set([0xff, 0xd9], bytes - 2);
  return b;
}

function memberOf(p: Party): RosterMemberInput {
  return { deviceId: p.keys.deviceId, userId: p.userId, role: p.role, certificate: p.certificate };
}

async function main(): Promise<number> {
  const started = Date.now();
  await cryptoReady();
  const authority = AuthorityKey.generate();
  const store = new MemoryStore();
  const relay = await startRelay(
    { host: '127.0.0.1', port: 0, trustedAuthorities: [hex(authority.publicKey)], logLevel: 'silent', relayId: 'demo-relay' },
    { store, defaultMetrics: false },
  );
  const mk = (name: string, role: Parameters<typeof makeParty>[4], user: string) => makeParty(authority, authority.publicKey, relay.url, name, role, user);
  const shipper = await mk('shipper', 'shipper', 'hangzhou-tea-co');
  const consignee = await mk('consignee', 'consignee', 'li-wei');
  const courier1 = await mk('courier-1', 'courier', 'courier-zhang');
  const dispatcher = await mk('dispatcher', 'dispatcher', 'dispatch-desk');
  const courier2 = await mk('courier-2', 'courier', 'courier-chen');
  const parties = [shipper, consignee, courier1, dispatcher, courier2];
  const problems: string[] = [];
  const sent: Sent[] = [];
  const rosters = new Map<number, VerifiedRoster>();

  out(paint.bold(`sealrelay demo — order ${ORDER} on an embedded relay at ${relay.url} (memory store)`));
  out(paint.dim(`authority ${hex(authority.publicKey).slice(0, 16)}…; five devices, five sockets; the relay holds no key`));
  out();

  try {
    // ---------------------------------------------------------------- epoch 1
    const epoch1 = signRoster(authority, { orderId: ORDER, epoch: 1, members: [shipper, consignee, courier1, dispatcher].map(memberOf), policyId: DEFAULT_POLICY.id, issuedAt: Date.now() });
    rosters.set(1, verifyRoster(epoch1, { trustedAuthorities: [authority.publicKey], now: Date.now() }));
    await dispatcher.client.putRoster(ORDER, epoch1);
    for (const p of [shipper, consignee, courier1, dispatcher]) await join(p, ORDER);
    narrate('dispatcher', 'puts roster epoch 1: shipper, consignee, courier-1, dispatcher');

    const post = async <K extends MessageKind>(p: Party, kind: K, body: MessageBody<K>, scope?: string, note?: string): Promise<number> => {
      const s = await p.session!.send(kind, body, scope ? { scope } : {});
      const seq = await withDeadline(s.acked, `the relay to acknowledge ${p.name}'s ${kind}`);
      sent.push({ seq, by: p, kind, scope: s.scope, epoch: s.epoch });
      narrate(p.name, `${kind}${s.scope === 'shared' ? '' : ` [${s.scope}]`} → seq ${seq}${note ? `  ${paint.dim(note)}` : ''}`);
      return seq;
    };

    const pickup = { name: 'Hangzhou Tea Co. dock 4', line: '88 Wensan Rd, Hangzhou', country: 'CN' };
    const dropoff = { name: 'Li Wei', line: '1200 Huaihai Rd, Shanghai', country: 'CN' };
    await post(shipper, 'order', { action: 'details', reference: 'HTC-5531', pickup, dropoff, items: [{ description: 'Longjing tea, 2 pallets', quantity: 2, weightKg: 340 }] }, undefined, 'placed');
    await post(shipper, 'order', { action: 'details', reference: 'HTC-5531', pickup, dropoff, price: { amount: '1290.00', currency: 'CNY' }, declaredValue: { amount: '48000.00', currency: 'CNY' } }, undefined, 'terms: shipper and dispatch only');
    await post(dispatcher, 'order', { action: 'accept', etaMs: Date.now() + 5 * 3600_000, note: 'courier Zhang assigned' });
    await post(courier1, 'status', { status: 'picked_up', at: Date.now() });
    await post(courier1, 'location', { lat: 30.2741, lng: 120.1551, accuracyM: 8, at: Date.now() });
    await post(courier1, 'location', { lat: 30.5102, lng: 120.6873, accuracyM: 12, at: Date.now() });

    const photo = fakePhoto(24_000, 7);
    const ref = await withDeadline(courier1.client.uploadAttachment(ORDER, photo, { mimeType: 'image/jpeg', name: 'crushed-corner.jpg', width: 640, height: 480 }), 'the photo upload');
    await post(courier1, 'exception', { type: 'damaged', description: 'Pallet 2 corner crushed in loading; goods look intact', evidence: [ref] }, undefined, `photo ${photo.length.toLocaleString('en-US')} B, encrypted then uploaded`);
    await until(() => consignee.seen.some((m) => m.kind === 'exception'), STEP_MS, 'the consignee to receive the exception');
    const exception = consignee.seen.find((m) => m.kind === 'exception')!;
    const evidence = exception.kind === 'exception' ? exception.body.evidence?.[0] : undefined;
    const got = evidence ? await withDeadline(consignee.client.downloadAttachment(evidence), 'the photo download') : undefined;
    if (!got || Buffer.compare(Buffer.from(got), Buffer.from(photo)) !== 0) problems.push('consignee: the downloaded photo does not match what courier-1 took');
    else narrate('consignee', `downloads the photo: ${got.length.toLocaleString('en-US')} B, hash and every chunk verified`);
    await post(consignee, 'text', { text: 'Seen the photo. Please continue; I will inspect on delivery.' });

    // ---------------------------------------------------------------- reassignment: epoch 2
    const epoch2 = signRoster(authority, {
      orderId: ORDER,
      epoch: 2,
      prevHash: rosters.get(1)!.hash,
      members: [shipper, consignee, dispatcher, courier2].map(memberOf),
      policyId: DEFAULT_POLICY.id,
      issuedAt: Date.now(),
    });
    rosters.set(2, verifyRoster(epoch2, { trustedAuthorities: [authority.publicKey], previous: rosters.get(1)!, now: Date.now() }));
    let relaySaidRemoved = false;
    courier1.client.connection.on('frame', (f) => {
      if (f.t === 'unsubscribed' && f.code === 'MEMBER_REMOVED') relaySaidRemoved = true;
    });
    await dispatcher.client.putRoster(ORDER, epoch2);
    narrate('dispatcher', 'reassigns the courier mid-route: roster epoch 2 replaces courier-1 with courier-2');
    await until(() => courier1.removedAt !== undefined, REMOVAL_MS, 'courier-1 to learn it was removed').catch(() => undefined);
    if (courier1.removedAt !== undefined) {
      narrate('courier-1', `is told: MEMBER_REMOVED (epoch ${courier1.removedAt}); its session has ended`);
    } else {
      problems.push(
        `courier-1's app was never told it was removed${relaySaidRemoved ? ' (the relay sent MEMBER_REMOVED, but the SDK could not verify it: the roster that removed it was not served to it)' : ' (the relay sent no MEMBER_REMOVED either)'}`,
      );
      narrate('courier-1', paint.red(`is NOT told it was removed${relaySaidRemoved ? ' (the relay said MEMBER_REMOVED; the SDK did not verify it)' : ''}`));
    }
    await join(courier2, ORDER);
    narrate('courier-2', 'opens the order: verifies the chain from epoch 1, reads from epoch 2 on');
    for (const p of [shipper, consignee, dispatcher]) await until(() => p.session!.roster.epoch === 2, STEP_MS, `${p.name} to accept epoch 2`);

    await post(dispatcher, 'text', { text: 'Courier Chen takes over at the Jiaxing hub; same ETA.' });
    await post(courier2, 'status', { status: 'at_hub', hub: 'Jiaxing', at: Date.now() });
    await post(courier2, 'status', { status: 'out_for_delivery', at: Date.now() });
    await post(courier2, 'location', { lat: 31.2165, lng: 121.4365, accuracyM: 5, at: Date.now() });
    await post(courier2, 'status', { status: 'delivered', at: Date.now() });
    const pod = await withDeadline(consignee.client.uploadAttachment(ORDER, fakePhoto(9_000, 11), { mimeType: 'image/jpeg', name: 'pod.jpg' }), 'the proof-of-delivery photo upload');
    await post(consignee, 'proof_of_delivery', { receivedBy: 'Li Wei', at: Date.now(), photo: pod, location: { lat: 31.2165, lng: 121.4365 } });
    await post(consignee, 'rating', { stars: 4, comment: 'Damaged corner, but handled well and on time.' });
    await post(shipper, 'rating', { stars: 5, comment: 'Smooth handover between couriers.' });
    await post(shipper, 'text', { text: 'Invoice HTC-5531 settled: 1290.00 CNY.' }, 'commercial');

    // The cut-off courier: its client refuses to send, the relay refuses to let it back in.
    try {
      await courier1.session!.send('location', { lat: 31.2, lng: 121.4, at: Date.now() });
      problems.push('courier-1 could still queue a message after removal');
    } catch (e) {
      narrate('courier-1', `tries to post a location: refused by its own client (${isSealRelayError(e) ? e.code : String(e)})`);
    }
    try {
      await withDeadline(courier1.client.openOrder(ORDER), 'courier-1 reopening');
      problems.push('courier-1 could reopen the order after removal');
    } catch (e) {
      narrate('courier-1', `tries to reopen the order: ${isSealRelayError(e) ? e.code : (e as Error).message}`);
    }

    // ---------------------------------------------------------------- wait for everyone, then judge
    const expected = new Map<Party, number[]>();
    for (const p of parties) {
      expected.set(
        p,
        sent.filter((s) => {
          const member = rosters.get(s.epoch)!.memberByDevice(p.keys.deviceId);
          return member !== undefined && mayRead(rosters.get(s.epoch)!.policy, member.role, s.scope);
        }).map((s) => s.seq),
      );
    }
    await until(() => parties.every((p) => p.seen.length >= expected.get(p)!.length), STEP_MS, 'every party to receive what it may read').catch((e: Error) => problems.push(e.message));
    await new Promise((r) => setTimeout(r, 150)); // anything extra (wrong) would arrive now

    for (const p of parties) {
      const seqs = p.seen.map((m) => m.seq);
      const want = expected.get(p)!;
      if (seqs.join() !== want.join()) problems.push(`${p.name} saw seqs [${seqs.join(', ')}], expected [${want.join(', ')}]`);
      for (const w of p.warnings) problems.push(`${p.name} got a warning: ${w.code}: ${w.message}`);
      for (const m of p.seen) {
        const member = rosters.get(m.epoch)?.memberByDevice(p.keys.deviceId);
        if (!member || !mayRead(DEFAULT_POLICY, member.role, m.scope)) problems.push(`${p.name} read seq ${m.seq} (${m.scope}, epoch ${m.epoch}), which it may not`);
      }
    }

    const stored = await store.read(ORDER, 0, 10_000);
    const cutOff = await proveCutOff(store, courier1, stored, rosters);
    problems.push(...cutOff.problems);

    printConversations(parties, expected);
    printRelayView(stored, parties, expected, rosters);
    out(paint.bold('courier-1 after its removal'));
    for (const line of cutOff.lines) out(`  ${line}`);
    out();
  } catch (e) {
    problems.push(`the demo stopped: ${(e as Error).message}`);
    // What the parties were told before it stopped is the first thing to look at.
    for (const p of parties) for (const w of p.warnings) problems.push(`${p.name} had a warning: ${w.code}: ${w.message}`);
  } finally {
    for (const p of parties) p.client.close();
    await relay.close();
  }

  if (problems.length > 0) {
    out(paint.red(paint.bold(`FAILED: ${problems.length} problem${problems.length === 1 ? '' : 's'}`)));
    for (const p of problems) out(paint.red(`  - ${p}`));
    return 1;
  }
  out(paint.green(paint.bold(`OK`)) + ` — ${sent.length} messages, 5 parties, 2 roster epochs, every party saw exactly what its role and membership allow, in order, with no warning (${((Date.now() - started) / 1000).toFixed(1)} s).`);
  return 0;

  function narrate(who: string, what: string): void {
    out(`${paint.dim(`+${((Date.now() - started) / 1000).toFixed(2).padStart(5)}s`)}  ${paint.cyan(who.padEnd(10))}  ${what}`);
  }
}

function withDeadline<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_MS);
    }),
  ]).finally(() => clearTimeout(t));
}

type Stored = Awaited<ReturnType<MemoryStore['read']>>;

/**
 * Show, from the relay's own store, that courier-1 cannot read epoch 2: every
 * sender key ever sealed to it is of epoch 1, and no epoch-2 envelope opens with them.
 */
async function proveCutOff(store: MemoryStore, p: Party, stored: Stored, rosters: Map<number, VerifiedRoster>): Promise<{ lines: string[]; problems: string[] }> {
  const lines: string[] = [];
  const problems: string[] = [];
  const packages = await store.keyPackages(ORDER, p.keys.deviceId);
  const state = new ReceiverState();
  const epochs = new Set<number>();
  for (const bytes of packages) {
    const k = openKeyPackage(bytes, p.keys, rosters.get(decodeKeyPackageHeader(bytes).epoch)!);
    epochs.add(k.epoch);
    state.install(k);
  }
  lines.push(`holds ${packages.length} sender keys sealed to it, all of epoch ${[...epochs].join(', ') || '—'}`);
  if ([...epochs].some((e) => e > 1)) problems.push('a sender key of epoch 2 was sealed to the removed courier');
  const later = stored.filter((m) => m.epoch >= 2);
  let opened = 0;
  const codes = new Set<string>();
  for (const m of later) {
    try {
      openEnvelope(m.envelope, { roster: rosters.get(m.epoch)!, receiverState: state, expectedOrderId: ORDER });
      opened++;
    } catch (e) {
      codes.add(isCryptoError(e) ? e.code : 'ERROR');
    }
  }
  lines.push(`tries all ${later.length} envelopes of epoch 2 straight from the relay's store with those keys: ${opened} open (${[...codes].join(', ') || 'none refused'})`);
  lines.push(`the relay delivered it nothing after its removal: its last message is seq ${p.seen.at(-1)?.seq ?? '—'}`);
  if (opened > 0) problems.push(`the removed courier could decrypt ${opened} envelope(s) of epoch 2`);
  return { lines, problems };
}

function printConversations(parties: Party[], expected: Map<Party, number[]>): void {
  out();
  for (const p of parties) {
    out(paint.bold(`── as ${p.name} (${p.role}, ${p.userId}) sees it: ${p.seen.length} message${p.seen.length === 1 ? '' : 's'}${p.removedAt ? `, removed at epoch ${p.removedAt}` : ''}`));
    if (p.seen.length === 0 && expected.get(p)!.length === 0) out(paint.dim('   (nothing)'));
    for (const m of p.seen) out(`   #${String(m.seq).padEnd(3)} ${who(m, parties).padEnd(12)} ${m.kind.padEnd(17)} ${summarize(m)}${m.scope === 'shared' ? '' : paint.magenta(` [${m.scope}]`)}`);
    for (const w of p.warnings) out(paint.yellow(`   WARNING ${w.code}: ${w.message}`));
    out();
  }
}

function who(m: ReceivedMessage, parties: Party[]): string {
  if (m.self) return 'me';
  return parties.find((p) => p.keys.deviceId === m.sender.deviceId)?.name ?? m.sender.role;
}

function printRelayView(stored: Stored, parties: Party[], expected: Map<Party, number[]>, rosters: Map<number, VerifiedRoster>): void {
  out(paint.bold('── what the relay stored: the clear header it needs for routing and policy, and the sealed size; no body, no key'));
  const head = `   seq  ep  scope       kind               sender       sealed  │ ${parties.map((p) => p.name.padEnd(10)).join(' ')}`;
  out(paint.dim(head));
  for (const m of stored) {
    const h = decodeEnvelopeHeader(m.envelope);
    const sender = parties.find((p) => p.keys.deviceId === m.sender);
    const cells = parties.map((p) => {
      const member = rosters.get(m.epoch)?.memberByDevice(p.keys.deviceId);
      const saw = p.seen.some((x) => x.seq === m.seq);
      const should = expected.get(p)!.includes(m.seq);
      if (saw !== should) return paint.red('✗ wrong'.padEnd(10));
      if (saw) return paint.green((p.keys.deviceId === m.sender ? '✓ (sent)' : '✓ read').padEnd(10));
      return paint.dim((member ? '· role' : '— not in').padEnd(10));
    });
    out(
      `   ${String(m.seq).padStart(3)}  ${String(m.epoch).padStart(2)}  ${m.scope.padEnd(11)} ${h.kind.padEnd(18)} ${(sender?.role ?? '?').padEnd(11)} ${`${m.envelope.length} B`.padStart(7)}  │ ${cells.join(' ')}`,
    );
  }
  out(paint.dim('   ✓ read: decrypted and verified by that party  · role: its role may not read the scope  — not in: not a member of that epoch'));
  out();
}

const timer = setTimeout(() => {
  process.stderr.write(`demo: still running after ${DEMO_DEADLINE_MS / 1000} s; giving up\n`);
  process.exit(1);
}, DEMO_DEADLINE_MS);
main().then(
  (code) => {
    clearTimeout(timer);
    process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`demo: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
