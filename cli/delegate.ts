/**
 * `sealrelay loadtest` and `sealrelay bench`: the harness scripts parse
 * process.argv themselves when imported, so they are run in this process with
 * argv rewritten to look as if they had been started directly. Each sets its
 * own exit code.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from './args.ts';

async function runScript(relative: string, args: string[]): Promise<void> {
  const path = fileURLToPath(new URL(relative, import.meta.url));
  if (!existsSync(path)) throw new UsageError(`${relative.replace(/^\.\.\//, '')} is not in this checkout`);
  process.argv = [process.argv[0] ?? 'node', path, ...args];
  await import(path);
}

export async function loadtest(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'usage: sealrelay loadtest --scenario S --profile P [--target T --rate R --duration D --orders N --store memory|redis --json]\n\n' +
        'Runs one load-test scenario (loadtest/cli.ts; see loadtest/ for scenarios, targets and network profiles)\n' +
        'and writes JSON and HTML reports under reports/.\n',
    );
    return;
  }
  await runScript('../loadtest/cli.ts', argv);
}

const BENCHES: Record<string, { script: string; what: string }> = {
  relay: { script: '../loadtest/bench/relay.ts', what: 'relay CPU per delivery and latency vs a bare uWS relay (flags: --quick --rates --duration --orders --json)' },
  crypto: { script: '../crypto/bench.ts', what: 'encrypt+sign and verify+decrypt per second (flag: --json)' },
};

export async function bench(argv: string[]): Promise<number | void> {
  const [which, ...rest] = argv;
  const b = which === undefined ? undefined : BENCHES[which];
  if (!b) {
    const list = Object.entries(BENCHES).map(([k, v]) => `  ${k.padEnd(7)} ${v.what}`).join('\n');
    const text = `usage: sealrelay bench relay|crypto [flags]\n\n${list}\n`;
    if (which === '--help' || which === '-h') {
      process.stdout.write(text);
      return 0;
    }
    throw new UsageError(which === undefined ? 'say which benchmark: relay or crypto' : `unknown benchmark "${which}": relay or crypto`);
  }
  await runScript(b.script, rest);
}
