/**
 * Role policy: which roles read which scopes and publish which kinds into which
 * scopes. Policy is data (validated with zod), versioned by its id, and
 * enforced by the relay and by every client. See the table in crypto/README.md.
 */
import { z } from 'zod';
import { CryptoError } from './errors.ts';
import { Writer } from './encoding.ts';
import { hash32 } from './sodium.ts';

export const ROLES = ['shipper', 'consignee', 'courier', 'dispatcher', 'support', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export const KINDS = ['text', 'media', 'order', 'location', 'status', 'exception', 'proof_of_delivery', 'rating', 'system'] as const;
export type Kind = (typeof KINDS)[number];

/** Scopes of the default policy; a policy may define more. */
export const SCOPES = ['shared', 'commercial'] as const;
export type Scope = string;

const scopeName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'scope: 1..32 of [a-z0-9_-], starting with a letter');

export const PolicySchema = z
  .object({
    id: z.string().min(1).max(128),
    description: z.string().max(1000).optional(),
    scopes: z.record(scopeName, z.object({ readers: z.array(z.enum(ROLES)) })),
    publish: z.array(
      z.object({
        roles: z.array(z.enum(ROLES)).min(1),
        kinds: z.array(z.enum(KINDS)).min(1),
        scopes: z.array(scopeName).min(1),
      }),
    ),
  })
  .superRefine((p, ctx) => {
    p.publish.forEach((rule, i) => {
      for (const scope of rule.scopes) {
        const def = p.scopes[scope];
        if (!def) {
          ctx.addIssue({ code: 'custom', path: ['publish', i, 'scopes'], message: `unknown scope ${scope}` });
          continue;
        }
        // A publisher must be able to read what it writes into, or it could not
        // follow the conversation it takes part in; a policy that says otherwise is a typo.
        for (const role of rule.roles) {
          if (!def.readers.includes(role)) {
            ctx.addIssue({ code: 'custom', path: ['publish', i, 'roles'], message: `${role} publishes into ${scope} but cannot read it` });
          }
        }
      }
    });
  });

export type PolicyData = z.infer<typeof PolicySchema>;

/** A validated policy with lookup tables. */
export interface Policy {
  readonly id: string;
  readonly data: PolicyData;
  /** scope → roles that read it */
  readonly readers: ReadonlyMap<string, ReadonlySet<Role>>;
  /** `${role}|${kind}|${scope}` present iff allowed */
  readonly allowed: ReadonlySet<string>;
}

/** Validate policy data (parsed JSON). Throws CryptoError('MALFORMED') with zod's reasons. */
export function loadPolicy(json: unknown): Policy {
  const parsed = PolicySchema.safeParse(json);
  if (!parsed.success) {
    throw new CryptoError('MALFORMED', `invalid policy: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const data = parsed.data;
  const readers = new Map<string, ReadonlySet<Role>>();
  for (const [scope, def] of Object.entries(data.scopes)) readers.set(scope, new Set(def.readers));
  const allowed = new Set<string>();
  for (const rule of data.publish) {
    for (const role of rule.roles) for (const kind of rule.kinds) for (const scope of rule.scopes) allowed.add(`${role}|${kind}|${scope}`);
  }
  return Object.freeze({ id: data.id, data, readers, allowed });
}

const EVERYONE: Role[] = [...ROLES];
const TALKERS: Role[] = ['shipper', 'consignee', 'courier', 'dispatcher', 'support'];

/** The default policy; its table is in crypto/README.md. */
export const DEFAULT_POLICY: Policy = loadPolicy({
  id: 'sealrelay/default@1',
  description: 'Everyone reads shared; shipper, dispatcher and auditor read commercial; the auditor publishes nothing.',
  scopes: {
    shared: { readers: EVERYONE },
    commercial: { readers: ['shipper', 'dispatcher', 'auditor'] },
  },
  publish: [
    { roles: TALKERS, kinds: ['text', 'media'], scopes: ['shared'] },
    { roles: ['shipper', 'dispatcher'], kinds: ['text', 'media', 'order'], scopes: ['commercial'] },
    { roles: ['shipper', 'dispatcher'], kinds: ['order'], scopes: ['shared'] },
    { roles: ['courier'], kinds: ['location'], scopes: ['shared'] },
    { roles: ['courier', 'dispatcher'], kinds: ['status'], scopes: ['shared'] },
    { roles: ['courier', 'dispatcher', 'support', 'consignee'], kinds: ['exception'], scopes: ['shared'] },
    { roles: ['consignee'], kinds: ['proof_of_delivery'], scopes: ['shared'] },
    { roles: ['shipper', 'consignee'], kinds: ['rating'], scopes: ['shared'] },
    { roles: ['dispatcher', 'support'], kinds: ['system'], scopes: ['shared'] },
    { roles: ['dispatcher'], kinds: ['system'], scopes: ['commercial'] },
  ],
});

const registry = new Map<string, Policy>([[DEFAULT_POLICY.id, DEFAULT_POLICY]]);

/** Make a policy known to policyById (and so to roster verification). Ids are immutable: re-registering different data fails. */
export function registerPolicy(policy: Policy): void {
  const existing = registry.get(policy.id);
  if (existing && JSON.stringify(existing.data) !== JSON.stringify(policy.data)) {
    throw new CryptoError('INVALID_ARGUMENT', `policy ${policy.id} is already registered with other rules; bump its version`);
  }
  registry.set(policy.id, policy);
}

const TAG_POLICY = 'sealrelay/policy/v1';

/**
 * The canonical encoding of a policy's rules (what rosters commit to):
 *   str('sealrelay/policy/v1') str id u32 nScopes { str scope u32 n { str role }*n }*nScopes
 *   u32 nAllowed { str role str kind str scope }*nAllowed
 * Scopes sorted by name, readers in ROLES order, allowed (role, kind, scope) triples sorted by
 * role, kind, scope (each in code-unit order; ids are ASCII in practice). The description is not
 * a rule and is left out; two ways of writing the same rules encode alike.
 */
export function policyEncoding(policy: Policy): Uint8Array {
  const w = new Writer(TAG_POLICY, 2048).id(policy.id, 'policy id');
  const scopes = [...policy.readers.keys()].sort(cmp);
  w.u32(scopes.length);
  for (const scope of scopes) {
    const readers = ROLES.filter((r) => policy.readers.get(scope)!.has(r));
    w.str(scope).u32(readers.length);
    for (const r of readers) w.str(r);
  }
  const triples = [...policy.allowed].map((t) => t.split('|') as [string, string, string]);
  triples.sort((a, b) => cmp(a[0], b[0]) || cmp(a[1], b[1]) || cmp(a[2], b[2]));
  w.u32(triples.length);
  for (const [role, kind, scope] of triples) w.str(role).str(kind).str(scope);
  return w.finish();
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const hashes = new WeakMap<Policy, Uint8Array>();

/** BLAKE2b-256 of policyEncoding(policy): signed into every roster that names the policy. */
export function policyHash(policy: Policy): Uint8Array {
  let h = hashes.get(policy);
  if (!h) {
    h = hash32(policyEncoding(policy));
    hashes.set(policy, h);
  }
  return h.slice();
}

/** A registered policy, or undefined. */
export function policyById(id: string): Policy | undefined {
  return registry.get(id);
}

export function isRole(x: string): x is Role {
  return (ROLES as readonly string[]).includes(x);
}

export function isKind(x: string): x is Kind {
  return (KINDS as readonly string[]).includes(x);
}

/** May `role` publish `kind` into `scope`? Unknown role/kind/scope → false. */
export function mayPublish(policy: Policy, role: string, kind: string, scope: string): boolean {
  return policy.allowed.has(`${role}|${kind}|${scope}`);
}

/** May `role` publish anything at all into `scope` (and so distribute a sender key for it)? */
export function mayPublishAny(policy: Policy, role: string, scope: string): boolean {
  return KINDS.some((k) => mayPublish(policy, role, k, scope));
}

/** May `role` read `scope`? */
export function mayRead(policy: Policy, role: string, scope: string): boolean {
  const r = policy.readers.get(scope);
  return r !== undefined && isRole(role) && r.has(role);
}

/** Scopes defined by the policy. */
export function scopesOf(policy: Policy): string[] {
  return [...policy.readers.keys()];
}

/**
 * Members of a roster who may read `scope`, under the roster's policy (or the one given).
 * @example for (const m of readersOf(roster, 'commercial')) sealTo(m.deviceId);
 */
export function readersOf<M extends { role: string }>(
  roster: { readonly members: readonly M[]; readonly policyId: string },
  scope: string,
  policy?: Policy,
): M[] {
  const p = policy ?? policyById(roster.policyId);
  if (!p) throw new CryptoError('UNKNOWN_POLICY', `policy ${roster.policyId}`);
  return roster.members.filter((m) => mayRead(p, m.role, scope));
}
