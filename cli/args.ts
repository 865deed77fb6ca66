/**
 * What every subcommand shares: argument parsing over node:util parseArgs, the
 * two kinds of error a user can meet (usage → exit 2, failure → exit 1, each
 * with a sentence saying what to do), and colour that appears only on a TTY.
 */
import { parseArgs } from 'node:util';

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean | string[] | boolean[] };
export type Options = Record<string, OptionSpec>;

/** The command was called wrongly (missing or bad option): exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The command was called rightly but could not do its job (file missing, relay refused): exit 1. */
export class CliFailure extends Error {
  override readonly name = 'CliFailure';
}

export interface CommandDef<O extends Options> {
  /** e.g. 'keygen device' */
  readonly name: string;
  /** The whole --help text after the usage line. */
  readonly help: string;
  readonly usage: string;
  readonly options: O;
  readonly positionals?: boolean;
}

export type Values<O extends Options> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K]['multiple'] extends true ? string[] : string;
};

export interface Parsed<O extends Options> {
  readonly values: Values<O>;
  readonly positionals: string[];
}

/** Parse argv; `undefined` means --help was printed and the command should exit 0. */
export function parse<O extends Options>(def: CommandDef<O>, argv: string[]): Parsed<O> | undefined {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText(def));
    return undefined;
  }
  try {
    const r = parseArgs({ args: argv, options: def.options as never, allowPositionals: def.positionals ?? false, strict: true });
    return { values: r.values as Values<O>, positionals: r.positionals };
  } catch (e) {
    // parseArgs' messages name the option ("Unknown option '--foo'"); keep them, add the way out.
    throw new UsageError(String((e as Error).message).replace(/\. To specify a positional.*$/s, ''));
  }
}

export function helpText<O extends Options>(def: CommandDef<O>): string {
  return `usage: sealrelay ${def.usage}\n\n${def.help.trim()}\n`;
}

/** A required option, or a usage error naming it and what it is for. */
export function need<T>(value: T | undefined, flag: string, what: string): T {
  if (value === undefined || (typeof value === 'string' && value === '') || (Array.isArray(value) && value.length === 0)) {
    throw new UsageError(`missing --${flag}: ${what}`);
  }
  return value;
}

export function intOption(value: string | undefined, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be a whole number from ${min} to ${max} (got "${value}")`);
  return n;
}

export function numberOption(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${flag} must be a number from ${min} to ${max} (got "${value}")`);
  return n;
}

/**
 * Run a command body and turn what it throws into an exit code and one clear
 * line on stderr. Unknown errors keep their message: a stack trace helps no
 * operator, but the message usually names what failed.
 */
export async function runCommand(name: string, body: () => Promise<number | void>): Promise<number | void> {
  try {
    // undefined: the command set process.exitCode itself (the delegated harness scripts do).
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`sealrelay ${name}: ${e.message}\nRun "sealrelay ${name} --help" for the options.\n`);
      return 2;
    }
    const err = e as Error & { code?: unknown };
    const code = typeof err.code === 'string' && !(e instanceof CliFailure) ? `${err.code}: ` : '';
    process.stderr.write(`sealrelay ${name}: ${code}${err.message ?? String(e)}\n`);
    return 1;
  }
}

// ---------------------------------------------------------------- colour

/** Colour only when writing to a terminal and NO_COLOR (https://no-color.org) is unset or empty. */
export function colourEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  const noColor = process.env['NO_COLOR'];
  return stream.isTTY === true && (noColor === undefined || noColor === '');
}

function sgr(open: number, close: number): (s: string, stream?: NodeJS.WriteStream) => string {
  return (s, stream) => (colourEnabled(stream) ? `\x1b[${open}m${s}\x1b[${close}m` : s);
}

export const paint = {
  bold: sgr(1, 22),
  dim: sgr(2, 22),
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
  blue: sgr(34, 39),
  magenta: sgr(35, 39),
  cyan: sgr(36, 39),
};

export function say(line: string): void {
  process.stdout.write(line + '\n');
}

export function warnLine(line: string): void {
  process.stderr.write(paint.yellow(line, process.stderr) + '\n');
}
