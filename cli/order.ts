/**
 * `sealrelay order create|roster`: the authority's side of an order's membership.
 *
 * `create` signs epoch 1 and puts it on the relay. The relay accepts a roster
 * from any authenticated device (the authority's signature is what counts), and
 * the authority is not a device, so the CLI certifies a throw-away device for ten
 * minutes to carry the request; nothing of it is stored.
 *
 * `roster` fetches the chain from the relay (the relay shows rosters only to
 * devices that are or were members, hence --device/--cert), verifies every link
 * from epoch 1 (so it never signs on top of a forged or forked head), and signs
 * the next epoch: members added, removed, or the courier reassigned.
 */
import {
  DEFAULT_POLICY,
  DeviceKeys,
  ROLES,
  RosterChain,
  cryptoReady,
  issueCertificate,
  isCryptoError,
  signRoster,
  type AuthorityKey,
  type Role,
  type RosterMemberInput,
  type VerifiedRoster,
} from '../crypto/index.ts';
import { CliFailure, UsageError, need, paint, parse, say, type CommandDef } from './args.ts';
import { loadAuthority, loadAuthorityPub, loadCertificate, loadDeviceKeys, writeNew } from './files.ts';
import { RelayHttp, httpBaseOf } from './relay-http.ts';

/** How long the throw-away carrier certificate of `order create` lives: one command. */
const CARRIER_CERT_MS = 10 * 60_000;

const CREATE = {
  name: 'order create',
  usage: 'order create --authority authority.key --order ID --member role=device.cert ... --relay ws://HOST:PORT/ [--out roster.bin]',
  help: `
Create an order: sign its first roster (epoch 1) with the authority and put it on the relay.

options:
  --authority FILE                 the tenant authority key
  --authority-password-env VAR     its password, if the key file is encrypted
  --order ID                       the order id, e.g. SO-1042
  --member ROLE=CERT               a member: role (${ROLES.join(', ')}) and device certificate;
                                   repeat for each member
  --policy ID                      policy id (default ${DEFAULT_POLICY.id})
  --relay URL                      the relay, e.g. ws://127.0.0.1:8080/
  --out FILE                       also write the signed roster bytes here
  --force                          replace an existing --out file
  -h, --help                       this text

example:
  sealrelay order create --authority authority.key --order SO-1042 --relay ws://127.0.0.1:8080/ \\
    --member shipper=shipper.cert --member consignee=consignee.cert \\
    --member courier=courier.cert --member dispatcher=dispatcher.cert
`,
  options: {
    authority: { type: 'string' },
    'authority-password-env': { type: 'string' },
    order: { type: 'string' },
    member: { type: 'string', multiple: true },
    policy: { type: 'string' },
    relay: { type: 'string' },
    out: { type: 'string', short: 'o' },
    force: { type: 'boolean' },
  },
} satisfies CommandDef<Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>;

const ROSTER = {
  name: 'order roster',
  usage: 'order roster --authority authority.key --order ID --relay URL --device member.key --cert member.cert (--add role=cert | --remove DEVICE_ID | --reassign-courier cert) ...',
  help: `
Change an order's members: a new roster epoch, chained to the current head.

The chain is fetched from the relay with a member's device (the relay shows an
order's rosters only to its members, present or past) and verified from epoch 1
before the authority signs on top of it. Every removal or role change is a new
epoch: removed devices receive nothing sealed from then on.

options:
  --authority FILE                 the tenant authority key
  --authority-password-env VAR     its password, if the key file is encrypted
  --order ID                       the order
  --relay URL                      the relay, e.g. ws://127.0.0.1:8080/
  --device FILE, --cert FILE       a member device (e.g. the dispatcher's) used to read the chain
  --password-env VAR               password of --device, if encrypted
  --trust KEY                      another authority public key the chain may be signed by
                                   (hex, base64 or a .pub file; rotation); repeatable
  --add ROLE=CERT                  add a member; repeatable
  --remove DEVICE_ID|CERT          remove a member; repeatable
  --reassign-courier CERT          remove every courier and add this one
  --out FILE                       also write the new roster bytes here
  --force                          replace an existing --out file
  -h, --help                       this text

example:
  sealrelay order roster --authority authority.key --order SO-1042 --relay ws://127.0.0.1:8080/ \\
    --device dispatcher.key --cert dispatcher.cert --reassign-courier courier2.cert
`,
  options: {
    authority: { type: 'string' },
    'authority-password-env': { type: 'string' },
    order: { type: 'string' },
    relay: { type: 'string' },
    device: { type: 'string' },
    cert: { type: 'string' },
    'password-env': { type: 'string' },
    trust: { type: 'string', multiple: true },
    add: { type: 'string', multiple: true },
    remove: { type: 'string', multiple: true },
    'reassign-courier': { type: 'string' },
    out: { type: 'string', short: 'o' },
    force: { type: 'boolean' },
  },
} satisfies CommandDef<Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>;

export async function order(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'create') return create(rest);
  if (sub === 'roster') return roster(rest);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(
      'usage: sealrelay order create ...   sign epoch 1 of an order and put it on the relay\n' +
        '       sealrelay order roster ...   add, remove or reassign members: a new epoch\n\n' +
        'Run "sealrelay order create --help" or "sealrelay order roster --help" for the options.\n',
    );
    return sub === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown order subcommand "${sub}": use "order create" or "order roster"`);
}

async function memberOf(spec: string, flag: string): Promise<RosterMemberInput> {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`--${flag} takes ROLE=CERTFILE, e.g. --${flag} courier=courier.cert (got "${spec}")`);
  const role = spec.slice(0, eq);
  if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--${flag} ${spec}: unknown role "${role}"; one of ${ROLES.join(', ')}`);
  const { bytes, cert } = await loadCertificate(spec.slice(eq + 1));
  return { deviceId: cert.deviceId, userId: cert.userId, role: role as Role, certificate: bytes };
}

function describeMembers(members: readonly { role: string; userId: string; deviceId: string }[]): string {
  return members.map((m) => `  ${m.role.padEnd(10)} ${m.userId.padEnd(20)} ${m.deviceId}`).join('\n');
}

/** A device certified for a few minutes, only to sign the HTTP request that carries a roster. */
function carrierDevice(authority: AuthorityKey, tenant: string): { keys: DeviceKeys; certificate: Uint8Array } {
  const keys = DeviceKeys.generate();
  const now = Date.now();
  const certificate = issueCertificate(authority, {
    tenant,
    userId: 'sealrelay-cli-authority',
    signPublicKey: keys.signPublicKey,
    boxPublicKey: keys.boxPublicKey,
    notBefore: now - 60_000,
    notAfter: now + CARRIER_CERT_MS,
  });
  return { keys, certificate };
}

async function create(argv: string[]): Promise<number> {
  const p = parse(CREATE, argv);
  if (!p) return 0;
  const v = p.values;
  const authorityPath = need(v.authority, 'authority', 'the authority key that signs the roster');
  const orderId = need(v.order, 'order', 'the order id, e.g. --order SO-1042');
  const specs = need(v.member, 'member', 'at least one member, e.g. --member courier=courier.cert');
  const relay = need(v.relay, 'relay', 'the relay URL, e.g. --relay ws://127.0.0.1:8080/');
  const base = httpBaseOf(relay);
  await cryptoReady();
  const authority = await loadAuthority(authorityPath, v['authority-password-env']);
  const members: RosterMemberInput[] = [];
  for (const s of specs) members.push(await memberOf(s, 'member'));
  const dup = members.find((m, i) => members.findIndex((n) => n.deviceId === m.deviceId) !== i);
  if (dup) throw new UsageError(`device ${dup.deviceId} is named twice; a device has one role per epoch`);
  const bytes = signRoster(authority, { orderId, epoch: 1, members, policyId: v.policy ?? DEFAULT_POLICY.id, issuedAt: Date.now() });
  const tenant = (await loadCertificate(specs[0]!.slice(specs[0]!.indexOf('=') + 1))).cert.tenant;
  const http = new RelayHttp(base, carrierDevice(authority, tenant));
  authority.wipe();
  const ok = await http.putRoster(orderId, bytes);
  if (v.out) await writeNew(v.out, bytes, { force: v.force === true, what: 'a roster' });
  say(`${paint.bold('order')} ${orderId} ${paint.green('created')} on ${relay}: epoch ${ok.epoch}, roster hash ${ok.hash.slice(0, 16)}…`);
  say(describeMembers(members));
  if (v.out) say(`wrote ${v.out}`);
  return 0;
}

async function roster(argv: string[]): Promise<number> {
  const p = parse(ROSTER, argv);
  if (!p) return 0;
  const v = p.values;
  const authorityPath = need(v.authority, 'authority', 'the authority key that signs the new epoch');
  const orderId = need(v.order, 'order', 'the order id');
  const relay = need(v.relay, 'relay', 'the relay URL, e.g. --relay ws://127.0.0.1:8080/');
  const devicePath = need(v.device, 'device', "a member device's key, to read the roster chain from the relay");
  const certPath = need(v.cert, 'cert', 'that device\'s certificate');
  const adds = v.add ?? [];
  const removes = v.remove ?? [];
  const reassign = v['reassign-courier'];
  if (adds.length === 0 && removes.length === 0 && reassign === undefined) {
    throw new UsageError('say what changes: --add ROLE=CERT, --remove DEVICE_ID or --reassign-courier CERT');
  }
  const base = httpBaseOf(relay);
  await cryptoReady();
  const authority = await loadAuthority(authorityPath, v['authority-password-env']);
  const keys = await loadDeviceKeys(devicePath, v['password-env']);
  const { bytes: certificate } = await loadCertificate(certPath);
  const trusted = [authority.publicKey];
  for (const t of v.trust ?? []) trusted.push(await loadAuthorityPub(t));

  const http = new RelayHttp(base, { keys, certificate });
  const chainBytes = await http.rosters(orderId);
  const head = verifyChain(orderId, chainBytes, trusted);

  const members = new Map<string, RosterMemberInput>(head.members.map((m) => [m.deviceId, { deviceId: m.deviceId, userId: m.userId, role: m.role, certificate: m.certificate.bytes }]));
  const removed: RosterMemberInput[] = [];
  const added: RosterMemberInput[] = [];
  const drop = (id: string): void => {
    const m = members.get(id);
    if (!m) throw new CliFailure(`${id} is not a member of epoch ${head.epoch} of ${orderId}; nothing to remove`);
    members.delete(id);
    removed.push(m);
  };
  for (const r of removes) drop(/^d_[a-z2-7]{26}$/.test(r) ? r : (await loadCertificate(r)).cert.deviceId);
  if (reassign !== undefined) {
    const couriers = [...members.values()].filter((m) => m.role === 'courier');
    if (couriers.length === 0) throw new CliFailure(`epoch ${head.epoch} of ${orderId} has no courier to reassign; use --add courier=CERT`);
    for (const c of couriers) drop(c.deviceId);
    adds.push(`courier=${reassign}`);
  }
  for (const a of adds) {
    const m = await memberOf(a, 'add');
    if (members.has(m.deviceId)) throw new CliFailure(`${m.deviceId} is already a member of epoch ${head.epoch} (as ${members.get(m.deviceId)!.role}); remove it first to change its role`);
    members.set(m.deviceId, m);
    added.push(m);
  }
  const epoch = head.epoch + 1;
  const next = signRoster(authority, { orderId, epoch, prevHash: head.hash, members: [...members.values()], policyId: head.policyId, issuedAt: Date.now() });
  authority.wipe();
  const ok = await http.putRoster(orderId, next);
  if (v.out) await writeNew(v.out, next, { force: v.force === true, what: 'a roster' });
  say(`${paint.bold('order')} ${orderId}: epoch ${head.epoch} → ${paint.green(String(ok.epoch))} (verified ${chainBytes.length} epoch${chainBytes.length === 1 ? '' : 's'} before signing), roster hash ${ok.hash.slice(0, 16)}…`);
  if (removed.length > 0) say(`${paint.red('removed')} (receive nothing sealed from epoch ${epoch} on):\n${describeMembers(removed)}`);
  if (added.length > 0) say(`${paint.green('added')} (read from epoch ${epoch} on, nothing earlier):\n${describeMembers(added)}`);
  if (v.out) say(`wrote ${v.out}`);
  return 0;
}

function verifyChain(orderId: string, chain: readonly Uint8Array[], trusted: readonly Uint8Array[]): VerifiedRoster {
  if (chain.length === 0) throw new CliFailure(`the relay has no roster for ${orderId}; create the order first with "sealrelay order create"`);
  const c = new RosterChain(orderId, trusted);
  const now = Date.now();
  try {
    for (const b of chain) c.accept(b, now);
  } catch (e) {
    if (isCryptoError(e)) {
      throw new CliFailure(`the roster chain the relay serves for ${orderId} does not verify (${e.code}: ${e.message}); refusing to sign on top of it`);
    }
    throw e;
  }
  return c.head!;
}
