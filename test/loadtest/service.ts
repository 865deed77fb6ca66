import { existsSync } from 'node:fs';

/**
 * Whether a suite's outside service is here. Absent: skip with ONE loud line that
 * says what to install, except under CI=true, where a missing service must fail
 * the suite (a green CI that skipped everything proves nothing).
 */
export function requireService(name: string, present: boolean, install: string): boolean {
  if (present) return true;
  if (process.env.CI === 'true') throw new Error(`${name} is required under CI=true but missing: ${install}`);
  console.warn(`SKIPPING ${name} tests: ${name} is not installed here (${install})`);
  return false;
}

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = () => existsSync(CHROMIUM);
