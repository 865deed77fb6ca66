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

/** A subcommand of ours: errors become an exit code and one sentence (cli/args.ts). */
function ours(name: string, load: () => Promise<(argv: string[]) => Promise<number | void>>): Subcommand['run'] {
  return async (argv) => {
    const { runCommand } = await import('./args.ts');
    return runCommand(name, async () => (await load())(argv));
  };
}

export const SUBCOMMANDS: Record<string, Subcommand> = {
  serve: {
    summary: 'run the relay (memory store, or Redis with REDIS_URL); see server/README.md for settings',
    run: async (argv) => (await import('./serve.ts')).serve(argv),
  },
  keygen: {
    summary: 'make a tenant authority key or a device key (keygen authority|device --out FILE)',
    run: ours('keygen', async () => (await import('./keygen.ts')).keygen),
  },
  cert: {
    summary: "issue a device certificate with the authority key",
    run: ours('cert', async () => (await import('./cert.ts')).cert),
  },
  order: {
    summary: 'order create (sign epoch 1, put it on the relay) / order roster (add, remove, reassign courier: a new epoch)',
    run: ours('order', async () => (await import('./order.ts')).order),
  },
  send: {
    summary: 'send one encrypted message (text, media, order, location, status, exception, proof_of_delivery, rating)',
    run: ours('send', async () => (await import('./send.ts')).send),
  },
  tail: {
    summary: "print an order's messages as this device reads them, decrypted (--json, --follow)",
    run: ours('tail', async () => (await import('./tail.ts')).tail),
  },
  export: {
    summary: "export an order's rosters, key packages and envelopes for an offline audit",
    run: ours('export', async () => (await import('./export.ts')).exportOrder),
  },
  audit: {
    summary: 'verify an exported order log without content keys; exit 1 on any anomaly',
    run: ours('audit', async () => (await import('./audit.ts')).audit),
  },
  fingerprint: {
    summary: "print a device's fingerprint, or the safety number with a peer",
    run: ours('fingerprint', async () => (await import('./fingerprint.ts')).fingerprint),
  },
  loadtest: {
    summary: 'run a load-test scenario (loadtest/cli.ts)',
    run: ours('loadtest', async () => (await import('./delegate.ts')).loadtest),
  },
  bench: {
    summary: 'benchmarks: bench relay | bench crypto',
    run: ours('bench', async () => (await import('./delegate.ts')).bench),
  },
};

/** Commands that finish on their own; anything a library leaves running must not keep the process alive after they do. */
const ONE_SHOT = new Set(['keygen', 'cert', 'order', 'send', 'tail', 'export', 'audit', 'fingerprint']);

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
      if (ONE_SHOT.has(process.argv[2] ?? '')) setTimeout(() => process.exit(), 2000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`sealrelay: ${(err as Error)?.message ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
