/**
 * A whole order, typed at a terminal: every step is `node bin/sealrelay.js ...`
 * in a child process, against a real relay on a free port. The tests run in
 * file order and build on each other, like the operator's session they mimic.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type RunningRelay } from '../../server/index.ts';
import { createLogger } from '../../server/log.ts';
import { jsonLines, sandbox, seqOf, until, type Sandbox } from './helpers.ts';

const ORDER = 'SO-CLI-1';
const DEVICES = ['shipper', 'consignee', 'courier', 'dispatcher', 'courier2'] as const;
type Name = (typeof DEVICES)[number];

let sb: Sandbox;
let relay: RunningRelay;
const ids = {} as Record<Name, string>;
/** What was sent, by seq. */
const sent = new Map<number, { by: Name; kind: string; scope: 'shared' | 'commercial' }>();

/** --relay/--device/--cert/--order for a device. */
const as = (who: Name, extra: string[] = []): string[] => ['--relay', relay.url, '--device', `${who}.key`, '--cert', `${who}.cert`, '--order', ORDER, ...extra];

async function tailJson(who: Name, extra: string[] = []): Promise<Record<string, unknown>[]> {
  const r = await sb.run(['tail', ...as(who, ['--json', ...extra])]);
  expect(r.code, `${who}'s tail: ${r.stderr}`).toBe(0);
  return jsonLines(r.stdout);
}

beforeAll(async () => {
  sb = await sandbox();
  const keys = await Promise.all([
    sb.run(['keygen', 'authority', '--out', 'authority.key']),
    ...DEVICES.map((d) => sb.run(['keygen', 'device', '--out', `${d}.key`])),
  ]);
  for (const k of keys) expect(k.code, k.stderr).toBe(0);
  for (const d of DEVICES) ids[d] = (JSON.parse(await readFile(join(sb.dir, `${d}.pub`), 'utf8')) as { deviceId: string }).deviceId;
  const authorityPub = (await readFile(join(sb.dir, 'authority.pub'), 'utf8')).trim();
  relay = await startRelay(
    { host: '127.0.0.1', port: 0, trustedAuthorities: [authorityPub], relayId: 'cli-test' },
    { logger: createLogger({ level: 'silent' }), defaultMetrics: false },
  );
  const certs = await Promise.all(DEVICES.map((d) => sb.run(['cert', '--authority', 'authority.key', '--device', `${d}.pub`, '--tenant', 'acme', '--user', `u-${d}`, '--out', `${d}.cert`])));
  for (const c of certs) expect(c.code, c.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await relay?.close();
  await sb?.cleanup();
});

describe('an order lifecycle at the command line', () => {
  it('keygen wrote each secret with mode 0600 and its public half beside it', async () => {
    for (const f of ['authority.key', ...DEVICES.map((d) => `${d}.key`)]) expect((await stat(join(sb.dir, f))).mode & 0o777, f).toBe(0o600);
    expect(Object.values(ids).every((id) => /^d_[a-z2-7]{26}$/.test(id))).toBe(true);
  });

  it('order create signs epoch 1 and the relay accepts it', async () => {
    const r = await sb.run(['order', 'create', '--authority', 'authority.key', '--order', ORDER, '--relay', relay.url, '--out', 'roster1.bin',
      ...['shipper', 'consignee', 'courier', 'dispatcher'].map((d) => ['--member', `${d}=${d}.cert`]).flat()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created.*epoch 1/);
    for (const d of ['shipper', 'consignee', 'courier', 'dispatcher'] as const) expect(r.stdout).toContain(ids[d]);
  });

  it('send delivers each kind through the SDK and prints the sequence number the relay gave it; the policy refuses a consignee placing an order', async () => {
    await writeFile(join(sb.dir, 'dent.jpg'), Buffer.alloc(5000, 7));
    const record = (by: Name, kind: string, scope: 'shared' | 'commercial') => (r: Awaited<ReturnType<Sandbox['run']>>) => sent.set(seqOf(r), { by, kind, scope });
    // One device's sends in sequence (they share its outbox); different devices at once.
    await Promise.all([
      sb.run(['send', ...as('shipper', ['--kind', 'order', '--json', '{"action":"details","reference":"R-7","pickup":{"line":"Dock 4"},"dropoff":{"line":"12 Nanjing Rd"},"price":{"amount":"129.50","currency":"CNY"}}'])]).then(record('shipper', 'order', 'commercial')),
      sb.run(['send', ...as('dispatcher', ['--kind', 'order', '--json', '{"action":"accept"}'])]).then(record('dispatcher', 'order', 'shared')),
      sb.run(['send', ...as('consignee', ['--kind', 'text', '--text', 'please ring twice'])]).then(record('consignee', 'text', 'shared')),
      (async () => {
        record('courier', 'status', 'shared')(await sb.run(['send', ...as('courier', ['--kind', 'status', '--status', 'picked_up'])]));
        record('courier', 'exception', 'shared')(await sb.run(['send', ...as('courier', ['--kind', 'exception', '--type', 'damaged', '--text', 'corner crushed', '--attach', 'dent.jpg'])]));
      })(),
      (async () => {
        // A consignee may not place orders: refused by the client before anything is sealed.
        const denied = await sb.run(['send', '--state', join(sb.dir, 'state-2'), ...as('consignee', ['--kind', 'order', '--json', '{"action":"accept"}'])]);
        expect(denied.code).toBe(1);
        expect(denied.stderr).toMatch(/a consignee may not send order into shared.*nothing was sent/);
      })(),
    ]);
    expect([...sent.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
  }, 60_000);

  it('tail --json shows each reader exactly what its role may read, decrypted, in sequence order; the courier and consignee never see commercial terms', async () => {
    const [dispatcher, courier, consignee] = await Promise.all([tailJson('dispatcher'), tailJson('courier'), tailJson('consignee')]);
    const visible = (reader: Name): number[] =>
      [...sent.entries()].filter(([, s]) => s.scope === 'shared' || reader === 'dispatcher' || reader === 'shipper').map(([seq]) => seq).sort((a, b) => a - b);

    for (const [reader, lines] of [['dispatcher', dispatcher], ['courier', courier], ['consignee', consignee]] as const) {
      const msgs = lines.filter((l) => l['type'] === 'message');
      const ownNotes = lines.filter((l) => l['type'] === 'note');
      expect(lines.filter((l) => l['type'] === 'warning'), `${reader} warnings`).toEqual([]);
      // Its own earlier messages come back decrypted (self) when the SDK kept its sender keys, else as notes; everything else decrypted.
      const seqs = [...msgs, ...ownNotes].map((l) => l['seq'] as number).sort((a, b) => a - b);
      expect(seqs, reader).toEqual(visible(reader));
      expect(msgs.map((l) => l['seq'] as number), `${reader} in order`).toEqual([...msgs.map((l) => l['seq'] as number)].sort((a, b) => a - b));
      for (const m of msgs) {
        const s = sent.get(m['seq'] as number)!;
        expect(m['kind']).toBe(s.kind);
        expect((m['sender'] as { deviceId: string }).deviceId).toBe(ids[s.by]);
        expect(m['scope']).toBe(s.scope);
      }
      for (const n of ownNotes) expect(sent.get(n['seq'] as number)!.by).toBe(reader);
    }
    const priced = dispatcher.find((l) => l['kind'] === 'order' && l['scope'] === 'commercial')!;
    expect((priced['body'] as { price: { amount: string } }).price.amount).toBe('129.50');
    const exception = dispatcher.find((l) => l['kind'] === 'exception')!;
    expect((exception['body'] as { evidence: { name: string; size: number }[] }).evidence[0]).toMatchObject({ name: 'dent.jpg', size: 5000 });
    for (const lines of [courier, consignee]) expect(lines.some((l) => l['scope'] === 'commercial')).toBe(false);
  }, 60_000);

  it('reassigning the courier is a new epoch: the old courier is told MEMBER_REMOVED, sees nothing sent after, and cannot tail again; the new one sees only what follows', async () => {
    const before = Math.max(...sent.keys());
    const lastShared = Math.max(...[...sent.entries()].filter(([, s]) => s.scope === 'shared').map(([seq]) => seq));
    const old = sb.start(['tail', ...as('courier', ['--json', '--follow'])]);
    await until(() => jsonLines(old.stdout()).some((l) => l['seq'] === lastShared), 30_000, 'the old courier to catch up to the head');

    const re = await sb.run(['order', 'roster', '--authority', 'authority.key', '--order', ORDER, '--relay', relay.url, '--device', 'dispatcher.key', '--cert', 'dispatcher.cert', '--reassign-courier', 'courier2.cert']);
    expect(re.code, re.stderr).toBe(0);
    expect(re.stdout).toMatch(/epoch 1 → 2/);
    expect(re.stdout).toContain(ids.courier2);

    const ended = await old.exited;
    expect(ended.code, ended.stderr).toBe(1);
    const lines = jsonLines(ended.stdout);
    // Verified (the SDK checked the epoch-2 roster) or, if the relay withholds that roster from the removed device, the relay's word, marked as such.
    const removed = lines.find((l) => l['type'] === 'removed')!;
    expect(removed).toBeDefined();
    expect(removed['code']).toBe('MEMBER_REMOVED');
    if (removed['verified'] === true) expect(removed['epoch']).toBe(2);
    else expect(removed['verified']).toBe(false);

    const after = seqOf(await sb.run(['send', ...as('courier2', ['--kind', 'status', '--status', 'out_for_delivery'])]));
    sent.set(after, { by: 'courier2', kind: 'status', scope: 'shared' });
    expect(after).toBe(before + 1);
    expect(lines.every((l) => l['seq'] === undefined || (l['seq'] as number) <= before)).toBe(true);

    const [again, fresh, consigneeAfter] = await Promise.all([
      sb.run(['tail', ...as('courier')]),
      tailJson('courier2'),
      tailJson('consignee', ['--from-seq', String(before)]),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not a member of the current roster/);
    expect(fresh.map((l) => l['seq'])).toEqual([after]);
    // Its own message, sent by an earlier process: decrypted if the SDK kept its sender key, else a note (never a warning).
    expect(fresh[0]!['type'] === 'note' || (fresh[0]!['type'] === 'message' && fresh[0]!['self'] === true)).toBe(true);
    const msgs = consigneeAfter.filter((l) => l['type'] === 'message');
    expect(msgs.map((l) => [l['seq'], (l['sender'] as { deviceId: string }).deviceId, l['epoch']])).toEqual([[after, ids.courier2, 2]]);
  }, 60_000);

  it('export writes the history for an offline audit; audit passes on it and fails (exit 1) on a flipped bit or a missing roster', async () => {
    const ex = await sb.run(['export', ...as('dispatcher', ['--out', 'order-log.json'])]);
    expect(ex.code, ex.stderr).toBe(0);
    const log = JSON.parse(await readFile(join(sb.dir, 'order-log.json'), 'utf8')) as { rosters: unknown[]; envelopes: { seq: number; bytes: string }[] };
    expect(log.rosters).toHaveLength(2);
    expect(log.envelopes.map((e) => e.seq)).toEqual([...sent.keys()].sort((a, b) => a - b));

    const flipped = structuredClone(log);
    const bytes = Buffer.from(flipped.envelopes[2]!.bytes, 'base64');
    bytes[bytes.length - 80]! ^= 0x01;
    flipped.envelopes[2]!.bytes = bytes.toString('base64');
    await writeFile(join(sb.dir, 'flipped.json'), JSON.stringify(flipped));
    await writeFile(join(sb.dir, 'no-first-roster.json'), JSON.stringify({ ...log, rosters: log.rosters.slice(1) }));
    const [ok, bad, broken] = await Promise.all(
      ['order-log.json', 'flipped.json', 'no-first-roster.json'].map((f) => sb.run(['audit', f, '--authority-pub', 'authority.pub'])),
    );
    expect(ok!.code, ok!.stdout + ok!.stderr).toBe(0);
    expect(ok!.stdout).toMatch(/OK: no anomaly/);
    expect(bad!.code).toBe(1);
    expect(bad!.stdout).toMatch(/FAILED/);
    expect(bad!.stdout).toMatch(/BAD_SIGNATURE\s+envelope\[2\] \(seq 3\)/);
    expect(broken!.code).toBe(1);
    expect(broken!.stdout).toMatch(/ROSTER_BAD_CHAIN|UNKNOWN_EPOCH/);
  }, 60_000);
});
