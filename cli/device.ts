/**
 * A device as `send` and `tail` use it: its keys, certificate, the authorities
 * it trusts, and an SDK client with the right storage.
 *
 * Storage (`--state DIR`, default $SEALRELAY_STATE or ~/.sealrelay) holds one
 * directory per device id. What lives there decides what survives the process:
 *   send: everything (the outbox above all: a message not yet acknowledged is
 *         retried by the next `send` of this device, with the same clientMsgId);
 *   tail: only the pinned roster head (rollback/fork protection across runs)
 *         and the device's own sender keys; its read cursor is kept in memory,
 *         so every `tail` starts where --from-seq says, not where the previous
 *         run stopped.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SealRelayClient, FileStorage, MemoryStorage, nodeTransport, type ClientStorage, type StateChange } from '../client/node.ts';
import { cryptoReady, type DeviceKeys } from '../crypto/index.ts';
import { CliFailure, need } from './args.ts';
import { loadAuthorityPub, loadCertificate, loadDeviceKeys, type LoadedCertificate } from './files.ts';
import { wsUrlOf } from './relay-http.ts';

export interface DeviceArgs {
  relay?: string;
  device?: string;
  cert?: string;
  'password-env'?: string;
  trust?: string[];
  state?: string;
}

/** Options every device command takes, for their --help. */
export const DEVICE_OPTIONS_HELP = `
  --relay URL                the relay, e.g. ws://127.0.0.1:8080/
  --device FILE              this device's key (from "keygen device")
  --cert FILE                its certificate (from "cert")
  --password-env VAR         password of --device, if encrypted
  --trust KEY                authority public key(s) whose rosters to trust (hex, base64 or .pub;
                             repeatable); default: the authority that signed --cert
  --state DIR                device state (outbox, roster pins); default $SEALRELAY_STATE or ~/.sealrelay`;

export const DEVICE_OPTIONS = {
  relay: { type: 'string' },
  device: { type: 'string' },
  cert: { type: 'string' },
  'password-env': { type: 'string' },
  trust: { type: 'string', multiple: true },
  state: { type: 'string' },
} as const;

export interface Device {
  readonly keys: DeviceKeys;
  readonly cert: LoadedCertificate;
  readonly trusted: Uint8Array[];
  readonly relay: string;
  readonly stateDir: string;
}

export async function loadDevice(v: DeviceArgs): Promise<Device> {
  const relay = wsUrlOf(need(v.relay, 'relay', 'the relay URL, e.g. --relay ws://127.0.0.1:8080/'));
  const keyPath = need(v.device, 'device', "this device's key file (from keygen device)");
  const certPath = need(v.cert, 'cert', "this device's certificate (from cert)");
  await cryptoReady();
  const keys = await loadDeviceKeys(keyPath, v['password-env']);
  const cert = await loadCertificate(certPath);
  if (cert.cert.deviceId !== keys.deviceId) {
    throw new CliFailure(`${certPath} certifies ${cert.cert.deviceId}, not this device (${keys.deviceId}); pass the certificate issued for ${keyPath}`);
  }
  const trusted = v.trust && v.trust.length > 0 ? await Promise.all(v.trust.map(loadAuthorityPub)) : [cert.cert.authorityPublicKey];
  const root = v.state ?? process.env['SEALRELAY_STATE'] ?? join(homedir(), '.sealrelay');
  return { keys, cert, trusted, relay, stateDir: join(root, keys.deviceId) };
}

/**
 * What `tail` reads from the device's state dir: the pinned roster head, and the
 * device's own sender keys if the SDK keeps them (so it can show its own earlier
 * messages). Everything else (read cursor, outbox) stays in memory.
 */
const DURABLE_FOR_TAIL = ['roster/', 'selfkeys/'];
const durable = (key: string): boolean => DURABLE_FOR_TAIL.some((p) => key.startsWith(p));

/** Keys `durable()` names go to `durable`, the rest to `volatile`. */
class SplitStorage implements ClientStorage {
  constructor(
    private readonly durable: ClientStorage,
    private readonly volatile: ClientStorage,
  ) {}
  private pick(key: string): ClientStorage {
    return durable(key) ? this.durable : this.volatile;
  }
  get(key: string): Promise<Uint8Array | undefined> {
    return this.pick(key).get(key);
  }
  set(key: string, value: Uint8Array): Promise<void> {
    return this.pick(key).set(key, value);
  }
  delete(key: string): Promise<void> {
    return this.pick(key).delete(key);
  }
  async list(prefix: string): Promise<string[]> {
    return [...(await this.durable.list(prefix)).filter(durable), ...(await this.volatile.list(prefix)).filter((k) => !durable(k))].sort();
  }
}

export interface OpenedClient {
  readonly client: SealRelayClient;
  /** Rejects when the relay refuses this device for good (untrusted or expired certificate…). */
  readonly refused: Promise<never>;
  /** The last connection problem seen, for a timeout message. */
  lastProblem(): string | undefined;
}

/** Create and connect the SDK client. `mode` decides the storage (see the file comment). */
export async function connectDevice(d: Device, mode: 'send' | 'tail'): Promise<OpenedClient> {
  const files = new FileStorage(d.stateDir);
  const storage: ClientStorage = mode === 'tail' ? new SplitStorage(files, new MemoryStorage()) : files;
  let client: SealRelayClient;
  try {
    client = await SealRelayClient.create({
      url: d.relay,
      transport: nodeTransport(),
      storage,
      device: { keys: d.keys, certificate: d.cert.bytes },
      trustedAuthorities: d.trusted,
    });
  } catch (e) {
    throw new CliFailure(`cannot open the device state in ${d.stateDir}: ${(e as Error).message}`);
  }
  let problem: string | undefined;
  let refuse: (e: Error) => void = () => undefined;
  const refused = new Promise<never>((_, reject) => {
    refuse = reject;
  });
  refused.catch(() => undefined);
  client.on('state', (s: StateChange) => {
    if (s.to === 'connected') problem = undefined;
    else if (s.code !== 'CONNECT_CALLED' && s.code !== 'CLIENT_CLOSED') problem = `${s.code}: ${s.reason}`;
    // The connection gives up only when the relay said not to retry (its close code decides).
    if (s.to === 'disconnected' && s.code !== 'CLIENT_CLOSED') {
      refuse(new CliFailure(`the relay at ${d.relay} refused this device: ${s.code}: ${s.reason}`));
    }
  });
  // A relay that cannot be reached never leaves 'connecting'; each retry says why.
  client.connection.on('reconnecting', (r) => {
    problem = `${r.code}: ${r.reason}`;
  });
  client.connect();
  return { client, refused, lastProblem: () => problem };
}

/** Race `work` against the relay refusing us and a deadline that names what was being waited for. */
export async function within<T>(ms: number, what: string, opened: OpenedClient, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const p = opened.lastProblem();
      reject(new CliFailure(`timed out after ${Math.round(ms / 1000)} s waiting for ${what}${p ? ` (last problem: ${p})` : ''}; check that the relay is reachable, or raise --timeout`));
    }, ms);
  });
  try {
    return await Promise.race([work, opened.refused, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** SDK errors keep their code; a sentence says what it means for this command. */
export function explainOpenError(e: unknown, orderId: string, deviceId: string): Error {
  const code = (e as { code?: unknown }).code;
  if (code === 'NOT_A_MEMBER') {
    return new CliFailure(
      `this device (${deviceId}) is not a member of the current roster of ${orderId}: it was never added, or it was removed (a reassigned courier is); it can read and send nothing further`,
    );
  }
  if (code === 'ORDER_UNKNOWN' || code === 'ROSTER_MISSING') return new CliFailure(`the relay has no order ${orderId}; create it with "sealrelay order create"`);
  if (typeof code === 'string' && code.startsWith('ROSTER_')) return new CliFailure(`the relay's roster chain for ${orderId} was rejected (${code}): ${(e as Error).message}`);
  return e instanceof Error ? e : new Error(String(e));
}
