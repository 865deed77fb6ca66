/**
 * `sealrelay send`: one typed message into an order, through the SDK: validated
 * against its kind's schema before anything is opened, sealed for the current
 * epoch, stored in the device's outbox (--state), then retried until the relay
 * acknowledges it; prints the order sequence number it got.
 */
import { basename, extname } from 'node:path';
import { MESSAGE_KINDS, MessageBodies, isMessageKind, type AttachmentRef, type MessageKind } from '../client/index.ts';
import { CliFailure, UsageError, intOption, need, numberOption, paint, parse, say, warnLine, type CommandDef } from './args.ts';
import { DEVICE_OPTIONS, DEVICE_OPTIONS_HELP, connectDevice, explainOpenError, loadDevice, within } from './device.ts';
import { readBytes } from './files.ts';
import { warningLine } from './format.ts';

const STATUSES = ['picked_up', 'in_transit', 'at_hub', 'out_for_delivery', 'delivered'] as const;
const EXCEPTIONS = ['damaged', 'lost', 'delayed', 'refused'] as const;
const MIME: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.pdf': 'application/pdf',
  '.m4a': 'audio/mp4',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.mp4': 'video/mp4',
  '.txt': 'text/plain',
};

const DEF = {
  name: 'send',
  usage: 'send --relay URL --device device.key --cert device.cert --order ID --kind KIND [body options] [--attach FILE ...]',
  help: `
Send one end-to-end encrypted message into an order and wait for the relay to store it.
Prints the order sequence number it was given. A message the relay has not yet
acknowledged stays in the device's outbox (--state) and goes out with the next send.

kinds and their body options (or give the whole body with --json '{...}'):
  text                --text "..."
  media               --attach FILE ... [--text caption]
  order               --json '{"action":"details","reference":"R1","pickup":{"line":"..."},"dropoff":{"line":"..."},"price":{"amount":"129.50","currency":"CNY"}}'
                      --json '{"action":"accept"}'   (details with price/declaredValue go to the commercial scope)
  location            --lat 31.23 --lon 121.47 [--accuracy METRES]
  status              --status ${STATUSES.join('|')} [--hub NAME] [--text note]
  exception           --type ${EXCEPTIONS.join('|')} --text "what happened" [--attach photo.jpg ...]
  proof_of_delivery   --received-by NAME [--attach photo.jpg] [--lat --lon]
  rating              --stars 1..5 [--text comment]

options:${DEVICE_OPTIONS_HELP}
  --order ID                 the order
  --kind KIND                one of ${MESSAGE_KINDS.filter((k) => k !== 'system').join(', ')}
  --scope SCOPE              override the scope (default: shared; commercial for priced order details)
  --timeout SECONDS          how long to wait for the relay's acknowledgement (default 30)
  --json-output              print the result as one JSON object
  -h, --help                 this text

example:
  sealrelay send --relay ws://127.0.0.1:8080/ --device courier.key --cert courier.cert --order SO-1042 --kind status --status picked_up
`,
  options: {
    ...DEVICE_OPTIONS,
    order: { type: 'string' },
    kind: { type: 'string' },
    text: { type: 'string' },
    json: { type: 'string' },
    lat: { type: 'string' },
    lon: { type: 'string' },
    accuracy: { type: 'string' },
    status: { type: 'string' },
    hub: { type: 'string' },
    type: { type: 'string' },
    'received-by': { type: 'string' },
    stars: { type: 'string' },
    attach: { type: 'string', multiple: true },
    scope: { type: 'string' },
    timeout: { type: 'string' },
    'json-output': { type: 'boolean' },
  },
} satisfies CommandDef<Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>;

type V = NonNullable<ReturnType<typeof parse<typeof DEF.options>>>['values'];

/** A schema-valid stand-in, so a body can be checked before the real files are uploaded. */
const PLACEHOLDER_REF: AttachmentRef = {
  blobId: 'placeholder',
  key: Buffer.alloc(32).toString('base64'),
  hash: Buffer.alloc(32).toString('base64'),
  sha256: '0'.repeat(64),
  size: 1,
  ciphertextSize: 1,
  chunkSize: 1,
  mimeType: 'application/octet-stream',
};

/** Build the body of `kind` from the options; attachments fill the kind's attachment slot. */
export function buildBody(kind: MessageKind, v: V, refs: AttachmentRef[], now: number): Record<string, unknown> {
  const latLng = (): { lat: number; lng: number } | undefined => {
    const lat = numberOption(v.lat, 'lat', -90, 90);
    const lng = numberOption(v.lon, 'lon', -180, 180);
    if ((lat === undefined) !== (lng === undefined)) throw new UsageError('give --lat and --lon together');
    return lat === undefined || lng === undefined ? undefined : { lat, lng };
  };
  let body: Record<string, unknown>;
  if (v.json !== undefined) {
    try {
      body = JSON.parse(v.json) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`--json is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new UsageError('--json must be a JSON object, the body of the message');
  } else {
    switch (kind) {
      case 'text':
        body = { text: need(v.text, 'text', 'the text of the message') };
        break;
      case 'media':
        body = { ...(v.text ? { caption: v.text } : {}) };
        break;
      case 'order':
        throw new UsageError('an order message needs --json, e.g. --json \'{"action":"accept"}\' (see --help for details)');
      case 'location': {
        const at = latLng();
        if (!at) throw new UsageError('a location needs --lat and --lon');
        body = { ...at, at: now, ...(v.accuracy ? { accuracyM: numberOption(v.accuracy, 'accuracy', 0, 1e6) } : {}) };
        break;
      }
      case 'status': {
        const status = need(v.status, 'status', `one of ${STATUSES.join(', ')}`);
        if (!(STATUSES as readonly string[]).includes(status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')} (got "${status}")`);
        body = { status, at: now, ...(v.hub ? { hub: v.hub } : {}), ...(v.text ? { note: v.text } : {}) };
        break;
      }
      case 'exception': {
        const type = need(v.type, 'type', `what went wrong: ${EXCEPTIONS.join(', ')}`);
        if (!(EXCEPTIONS as readonly string[]).includes(type)) throw new UsageError(`--type must be one of ${EXCEPTIONS.join(', ')} (got "${type}")`);
        body = { type, description: need(v.text, 'text', 'a description of the exception') };
        break;
      }
      case 'proof_of_delivery': {
        const at = latLng();
        body = { receivedBy: need(v['received-by'], 'received-by', 'who received the goods'), at: now, ...(at ? { location: at } : {}) };
        break;
      }
      case 'rating':
        body = { stars: intOption(need(v.stars, 'stars', 'a rating from 1 to 5'), 'stars', 1, 5), ...(v.text ? { comment: v.text } : {}) };
        break;
      case 'system':
        throw new UsageError('system messages are sent by dispatch and support tools, not from the command line');
    }
  }
  if (refs.length > 0) {
    if (kind === 'media') body['attachments'] = [...((body['attachments'] as unknown[]) ?? []), ...refs];
    else if (kind === 'exception') body['evidence'] = [...((body['evidence'] as unknown[]) ?? []), ...refs];
    else if (kind === 'proof_of_delivery') {
      if (refs.length > 1) throw new UsageError('a proof of delivery carries one photo; pass --attach once');
      body['photo'] = refs[0];
    } else throw new UsageError(`--attach works with media, exception and proof_of_delivery, not ${kind}`);
  }
  return body;
}

export async function send(argv: string[]): Promise<number> {
  const p = parse(DEF, argv);
  if (!p) return 0;
  const v = p.values;
  const orderId = need(v.order, 'order', 'the order to send into, e.g. --order SO-1042');
  const kindArg = need(v.kind, 'kind', `what to send: ${MESSAGE_KINDS.filter((k) => k !== 'system').join(', ')}`);
  if (!isMessageKind(kindArg)) throw new UsageError(`unknown --kind "${kindArg}"; one of ${MESSAGE_KINDS.join(', ')}`);
  const kind = kindArg;
  const timeoutMs = (intOption(v.timeout, 'timeout', 1, 3600) ?? 30) * 1000;
  const files = v.attach ?? [];
  if (kind === 'media' && files.length === 0 && v.json === undefined) throw new UsageError('a media message needs at least one --attach FILE');

  // Check the body before touching the network: a typo costs nothing.
  const now = Date.now();
  const check = MessageBodies[kind].safeParse(buildBody(kind, v, files.map(() => PLACEHOLDER_REF), now));
  if (!check.success) {
    const i = check.error.issues[0];
    throw new UsageError(`the ${kind} body is not valid: ${i ? `${i.path.join('.') || '(body)'}: ${i.message}` : 'invalid'}`);
  }
  const blobs = await Promise.all(files.map(async (f) => ({ path: f, data: await readBytes(f, 'attachment') })));

  const device = await loadDevice(v);
  const opened = await connectDevice(device, 'send');
  const { client } = opened;
  try {
    const session = await within(timeoutMs, `order ${orderId} to open`, opened, client.openOrder(orderId)).catch((e: unknown) => {
      throw explainOpenError(e, orderId, device.keys.deviceId);
    });
    session.on('warning', (w) => warnLine(warningLine(w)));
    const refs: AttachmentRef[] = [];
    for (const b of blobs) {
      const name = basename(b.path);
      refs.push(
        await within(timeoutMs, `the upload of ${name}`, opened, client.uploadAttachment(orderId, b.data, { mimeType: MIME[extname(name).toLowerCase()] ?? 'application/octet-stream', name })),
      );
    }
    const body = buildBody(kind, v, refs, now);
    let sent;
    try {
      sent = await session.send(kind, body as never, v.scope ? { scope: v.scope } : {});
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'POLICY_DENIED') throw new CliFailure(`${(e as Error).message}; nothing was sent (see the policy table in crypto/README.md)`);
      throw e;
    }
    let seq: number;
    try {
      seq = await within(timeoutMs, 'the relay to acknowledge the message', opened, sent.acked);
    } catch (e) {
      if (e instanceof CliFailure && e.message.startsWith('timed out')) {
        throw new CliFailure(`${e.message}. The message is kept in the outbox under ${device.stateDir} and will be retried by the next "sealrelay send" of this device`);
      }
      throw e;
    }
    if (v['json-output']) {
      say(JSON.stringify({ order: orderId, seq, kind, scope: sent.scope, epoch: sent.epoch, clientMsgId: sent.clientMsgId, attachments: refs.map((r) => r.blobId) }));
    } else {
      say(`${paint.green('sent')} ${kind} to ${orderId}: ${paint.bold(`seq ${seq}`)} (scope ${sent.scope}, epoch ${sent.epoch}${refs.length ? `, ${refs.length} attachment${refs.length === 1 ? '' : 's'}` : ''})`);
    }
    const left = client.pendingCount(orderId);
    if (left > 0) warnLine(`${left} earlier message(s) of this device for ${orderId} are still waiting in the outbox`);
    return 0;
  } finally {
    client.close();
  }
}
