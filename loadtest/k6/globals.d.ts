/** k6 provides console as a global; @types/k6 does not declare it. */
declare const console: { log(...args: unknown[]): void; error(...args: unknown[]): void; warn(...args: unknown[]): void };
