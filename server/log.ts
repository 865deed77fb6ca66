/**
 * Structured logs (pino). One line per connection event and per error, each
 * with `conn` (connection id) or `req` (HTTP request id). Nothing secret or
 * sealed is ever logged: the redaction paths below cover every field that can
 * hold ciphertext, tickets, signatures, certificates or bodies, at the depths
 * our log calls use; test/server/log-redaction.test.ts proves it.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

const SECRET_FIELDS = ['envelope', 'ticket', 'signature', 'certificate', 'data', 'body', 'roster', 'rosters', 'packages', 'nonce', 'secret', 'ticketSecrets', 'authorization'];

/** Redaction paths: the field itself, one and two levels down, and inside message arrays. */
export const REDACT_PATHS: string[] = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `frame.messages[*].${f}`, `headers["x-sealrelay-${f}"]`]);

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Where lines go (default stdout); tests pass a capture stream. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { svc: 'sealrelay' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Byte arrays that slip past redaction are summarised, never dumped.
      serializers: { err: pino.stdSerializers.err },
      hooks: {
        logMethod(args, method) {
          const [first] = args;
          if (first && typeof first === 'object' && !(first instanceof Error)) args[0] = scrubBytes(first as Record<string, unknown>, 0) as never;
          method.apply(this, args);
        },
      },
    },
    opts.destination,
  );
}

/** Replace any Uint8Array with its length, defence in depth behind redaction. */
function scrubBytes(value: unknown, depth: number): unknown {
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  if (depth > 4 || value === null || typeof value !== 'object' || value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((v) => scrubBytes(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubBytes(v, depth + 1);
  return out;
}
