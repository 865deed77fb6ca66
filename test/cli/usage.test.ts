/**
 * The CLI's manners: every command explains itself with --help, a wrong call
 * exits 2 with a sentence saying what to do, a failure exits 1, and a key file
 * is never overwritten by accident. Most checks call main() in-process (fast);
 * two spawn the real binary to prove the exit codes reach the shell.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { sandbox, type Sandbox } from './helpers.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sealrelay-usage-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Run `sealrelay ...argv` in this process; what it printed and its exit code. */
async function cli(...argv: string[]): Promise<{ code: number | void; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const code = await main(argv);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const HELP: string[][] = [
  ['keygen'],
  ['cert'],
  ['order'],
  ['order', 'create'],
  ['order', 'roster'],
  ['send'],
  ['tail'],
  ['export'],
  ['audit'],
  ['fingerprint'],
  ['loadtest'],
  ['bench'],
];

describe('sealrelay --help', () => {
  it('lists every command with a one-line summary', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    for (const c of ['serve', 'keygen', 'cert', 'order', 'send', 'tail', 'export', 'audit', 'fingerprint', 'loadtest', 'bench']) expect(r.out).toMatch(new RegExp(`^  ${c}\\s+\\S`, 'm'));
  });

  it.each(HELP)('%s %s --help prints its usage and options and exits 0', async (...cmd) => {
    const r = await cli(...cmd.filter(Boolean), '--help');
    expect(r.code ?? 0).toBe(0);
    expect(r.out).toMatch(new RegExp(`usage: sealrelay ${cmd[0]}`));
    expect(r.err).toBe('');
    if (!['order', 'loadtest', 'bench'].includes(cmd.join(' '))) expect(r.out).toMatch(/--help/);
  });

  it('no command at all is a usage error (exit 2) that still shows the list', async () => {
    const r = await cli();
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/usage: sealrelay <command>/);
  });
});

describe('usage errors exit 2 with a sentence naming the problem and the way out', () => {
  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['keygen'], /say what to make: "keygen authority" or "keygen device"/],
    [['keygen', 'device'], /missing --out: the file to write the secret key to/],
    [['keygen', 'device', '--out', 'x.key', '--bogus'], /Unknown option '--bogus'/],
    [['cert', '--authority', 'a.key'], /missing --device/],
    [['order', 'create', '--authority', 'a.key', '--order', 'O', '--relay', 'ws://x/'], /missing --member: at least one member/],
    [['order', 'roster', '--authority', 'a', '--order', 'O', '--relay', 'ws://x/', '--device', 'd', '--cert', 'c'], /say what changes: --add/],
    [['order', 'reshuffle'], /unknown order subcommand "reshuffle"/],
    [['send', '--order', 'O'], /missing --kind/],
    [['send', '--order', 'O', '--kind', 'telegram'], /unknown --kind "telegram"/],
    [['send', '--order', 'O', '--kind', 'status', '--status', 'teleported'], /--status must be one of picked_up/],
    [['send', '--order', 'O', '--kind', 'location', '--lat', '91', '--lon', '0'], /--lat must be a number from -90 to 90/],
    [['send', '--order', 'O', '--kind', 'rating', '--stars', '9'], /--stars must be a whole number from 1 to 5/],
    [['send', '--order', 'O', '--kind', 'media'], /a media message needs at least one --attach FILE/],
    [['send', '--order', 'O', '--kind', 'order', '--json', '{"action":"teleport"}'], /the order body is not valid/],
    [['send', '--order', 'O', '--kind', 'text', '--text', 'hi'], /missing --relay/],
    [['tail', '--order', 'O', '--from-seq', 'latest'], /--from-seq must be a whole number from 0/],
    [['audit'], /name the exported log to audit/],
    [['audit', 'log.json'], /missing --authority-pub/],
    [['fingerprint'], /missing --device/],
    [['bench', 'warp'], /unknown benchmark "warp"/],
  ])('%j', async (argv, message) => {
    const r = await cli(...(argv as string[]));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message as RegExp);
    if (!(argv as string[]).includes('frobnicate')) expect(r.err).toMatch(/Run "sealrelay .+ --help" for the options\./);
  });
});

describe('files', () => {
  it('a device key encrypted with --password-env is 0600, needs its password, and refuses a wrong one (exit 1)', async () => {
    process.env['SR_TEST_PW'] = 'hunter2 hunter2';
    process.env['SR_TEST_BAD'] = 'wrong';
    const key = join(dir, 'enc.key');
    const made = await cli('keygen', 'device', '--out', key, '--password-env', 'SR_TEST_PW');
    expect(made.code, made.err).toBe(0);
    expect(made.out).toMatch(/encrypted with Argon2id/);
    expect((await stat(key)).mode & 0o777).toBe(0o600);
    const pub = JSON.parse(await readFile(join(dir, 'enc.pub'), 'utf8')) as { deviceId: string; fingerprint: string };
    expect(made.out).toContain(pub.deviceId);

    const ok = await cli('fingerprint', '--device', key, '--password-env', 'SR_TEST_PW');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain(pub.fingerprint);
    const none = await cli('fingerprint', '--device', key);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/enc\.key is encrypted: pass --password-env VAR/);
    const bad = await cli('fingerprint', '--device', key, '--password-env', 'SR_TEST_BAD');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/wrong password for .*enc\.key/);
  });

  it('keygen refuses to overwrite a key (exit 1, file untouched) unless --force', async () => {
    const key = join(dir, 'a.key');
    expect((await cli('keygen', 'authority', '--out', key)).code).toBe(0);
    const before = await readFile(key);
    const again = await cli('keygen', 'authority', '--out', key);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/a\.key already exists; refusing to overwrite an authority key \(pass --force/);
    expect(Buffer.compare(await readFile(key), before)).toBe(0);
    const forced = await cli('keygen', 'authority', '--out', key, '--force');
    expect(forced.code).toBe(0);
    expect(Buffer.compare(await readFile(key), before)).not.toBe(0);
    expect((await stat(key)).mode & 0o777).toBe(0o600);
  });

  it('fingerprint with --peer prints the same safety number from either side', async () => {
    for (const n of ['p1', 'p2']) expect((await cli('keygen', 'device', '--out', join(dir, `${n}.key`))).code).toBe(0);
    const a = await cli('fingerprint', '--device', join(dir, 'p1.key'), '--peer', join(dir, 'p2.pub'));
    const b = await cli('fingerprint', '--device', join(dir, 'p2.key'), '--peer', join(dir, 'p1.pub'));
    const sn = (s: string) => s.split('safety number')[1]!.replace(/\s+/g, ' ').trim();
    expect(sn(a.out)).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(sn(a.out)).toBe(sn(b.out));
  });

  it('a file of the wrong kind gets a sentence, not a stack trace (exit 1)', async () => {
    await writeFile(join(dir, 'junk.key'), 'not a key');
    const r = await cli('cert', '--authority', join(dir, 'junk.key'), '--device', join(dir, 'p1.pub'), '--tenant', 't', '--user', 'u', '--out', join(dir, 'x.cert'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/is not an authority key \(unknown format\); create one with "sealrelay keygen authority"/);
    const missing = await cli('audit', join(dir, 'nope.json'), '--authority-pub', '00'.repeat(32));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nope\.json does not exist/);
  });
});

describe('failures exit 1 with what to do', () => {
  it('send to a relay that is not there gives up after --timeout, naming the transport error', async () => {
    const f = (n: string) => join(dir, n);
    expect((await cli('keygen', 'authority', '--out', f('auth-u.key'))).code).toBe(0);
    expect((await cli('keygen', 'device', '--out', f('dev-u.key'))).code).toBe(0);
    expect((await cli('cert', '--authority', f('auth-u.key'), '--device', f('dev-u.pub'), '--tenant', 't', '--user', 'u', '--out', f('dev-u.cert'))).code).toBe(0);
    const r = await cli('send', '--relay', 'ws://127.0.0.1:9/', '--device', f('dev-u.key'), '--cert', f('dev-u.cert'), '--state', f('state-u'), '--order', 'O', '--kind', 'text', '--text', 'hi', '--timeout', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/timed out after 1 s waiting for order O to open \(last problem: TRANSPORT_ERROR: .*\); check that the relay is reachable, or raise --timeout/);
    const wrongCert = await cli('send', '--relay', 'ws://127.0.0.1:9/', '--device', f('dev-u.key'), '--cert', f('dev-u.pub'), '--order', 'O', '--kind', 'text', '--text', 'hi');
    expect(wrongCert.code).toBe(1);
    expect(wrongCert.err).toMatch(/is not a device certificate; issue one with "sealrelay cert"/);
  });
});

describe('the real binary', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await sandbox();
  });
  afterAll(async () => {
    await sb.cleanup();
  });

  it('passes exit codes to the shell: 2 for a usage error, 1 for an overwrite refusal, 0 for help', async () => {
    await writeFile(join(sb.dir, 'taken.key'), 'x');
    const [usage, refused, help] = await Promise.all([
      sb.run(['send', '--kind', 'text', '--nope']),
      sb.run(['keygen', 'device', '--out', 'taken.key']),
      sb.run(['tail', '--help']),
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/sealrelay send: Unknown option '--nope'/);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to overwrite/);
    expect(await readFile(join(sb.dir, 'taken.key'), 'utf8')).toBe('x');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: sealrelay tail/);
  }, 30_000);
});
