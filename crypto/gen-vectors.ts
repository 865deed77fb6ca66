/**
 * Regenerate crypto/test-vectors.json: `npx tsx crypto/gen-vectors.ts`.
 * Only do this for an intended, versioned change of an encoding or derivation;
 * the vectors test fails on any unintended one.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cryptoReady } from './sodium.ts';
import { computeVectors } from './vectors.ts';

await cryptoReady();
const out = fileURLToPath(new URL('./test-vectors.json', import.meta.url));
writeFileSync(out, JSON.stringify(computeVectors(), null, 2) + '\n');
console.log(`wrote ${out}`);
