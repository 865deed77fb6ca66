/**
 * `npm run demo` is a promise to a visitor: it must finish, on its own, and say
 * OK only when every party saw exactly what it should.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from './helpers.ts';

it('npm run demo runs a whole order with a mid-route courier reassignment and exits 0 within its deadline', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'demo', 'run.ts')], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 55_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  expect(code, `${out}\n${err}`).toBe(0);
  expect(out).toMatch(/^OK — \d+ messages, 5 parties, 2 roster epochs/m);
  expect(out).toMatch(/courier-1 {3}is told: MEMBER_REMOVED \(epoch 2\)/);
  expect(out).toMatch(/tries all \d+ envelopes of epoch 2 .*: 0 open/);
  // The relay's view carries sizes and clear headers, never a body: no plaintext from the conversation appears in it.
  const relayView = out.slice(out.indexOf('── what the relay stored'), out.indexOf('courier-1 after its removal'));
  expect(relayView).toMatch(/commercial\s+order\s+shipper\s+\d+ B/);
  expect(relayView).not.toMatch(/1290\.00|Longjing|Huaihai/);
  expect(out).not.toMatch(/✗ wrong/);
}, 60_000);
