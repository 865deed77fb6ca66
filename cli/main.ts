/**
 * The `sealrelay` command: a small dispatch table. To add a subcommand, add one
 * entry below whose `run` is imported lazily (so `serve` does not load the
 * load-test harness and vice versa).
 *
 *   sealrelay serve [--port N] [--config relay.json] ...
 */
export interface Subcommand {
  /** One line for `sealrelay help`. */
  readonly summary: string;
  /** Run with the arguments after the subcommand name; resolves to the exit code (or never, for servers). */
  readonly run: (argv: string[]) => Promise<number | void>;
}

export const SUBCOMMANDS: Record<string, Subcommand> = {
  serve: {
    summary: 'run the relay (memory store, or Redis with REDIS_URL); see server/README.md for settings',
    run: async (argv) => (await import('./serve.ts')).serve(argv),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((k) => k.length));
  const lines = Object.entries(SUBCOMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: sealrelay <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number | void> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = SUBCOMMANDS[name];
  if (!cmd) {
    process.stderr.write(`sealrelay: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return cmd.run(rest);
}

// Run when executed directly (tsx cli/main.ts ..., or bin/sealrelay.js).
const entry = process.argv[1] ?? '';
if (entry.endsWith('cli/main.ts') || entry.endsWith('bin/sealrelay.js') || entry.endsWith('/sealrelay')) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`sealrelay: ${(err as Error)?.message ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
