/**
 * One line per received message, for people (tail, the demo), and one JSON
 * object per line for machines (tail --json). Warnings are never formatted as
 * messages: they have their own line shape and, for people, their own stream.
 */
import type { OrderWarning, ReceivedMessage } from '../client/index.ts';
import { paint } from './args.ts';

type Body<K extends ReceivedMessage['kind']> = Extract<ReceivedMessage, { kind: K }>['body'];

const STATUS_WORDS: Record<string, string> = {
  picked_up: 'picked up',
  in_transit: 'in transit',
  at_hub: 'at hub',
  out_for_delivery: 'out for delivery',
  delivered: 'delivered',
};

function money(m: { amount: string; currency: string } | undefined): string | undefined {
  return m ? `${m.amount} ${m.currency}` : undefined;
}

function attachmentLabel(a: { name?: string | undefined; mimeType: string; size: number }): string {
  return `${a.name ?? 'file'} (${a.mimeType}, ${a.size.toLocaleString('en-US')} B)`;
}

function clip(s: string, n = 80): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
}

/** What a message says, in a few words. */
export function summarize(m: ReceivedMessage): string {
  switch (m.kind) {
    case 'text':
      return `"${clip((m.body as Body<'text'>).text)}"`;
    case 'media': {
      const b = m.body as Body<'media'>;
      return `${b.attachments.map(attachmentLabel).join(', ')}${b.caption ? ` "${clip(b.caption, 60)}"` : ''}`;
    }
    case 'order': {
      const b = m.body as Body<'order'>;
      if (b.action === 'details') {
        const parts = [`placed ${b.reference}: ${clip(b.pickup.line, 30)} → ${clip(b.dropoff.line, 30)}`];
        if (b.items) parts.push(`${b.items.length} item${b.items.length === 1 ? '' : 's'}`);
        const price = money(b.price);
        const value = money(b.declaredValue);
        if (price) parts.push(`price ${price}`);
        if (value) parts.push(`declared value ${value}`);
        return parts.join(', ');
      }
      if (b.action === 'accept') return `accepted${b.etaMs ? `, ETA ${new Date(b.etaMs).toISOString().slice(11, 16)}Z` : ''}${b.note ? ` "${clip(b.note, 60)}"` : ''}`;
      return `${b.action === 'decline' ? 'declined' : 'cancelled'}: "${clip(b.reason, 60)}"`;
    }
    case 'location': {
      const b = m.body as Body<'location'>;
      return `at ${b.lat.toFixed(5)}, ${b.lng.toFixed(5)}${b.accuracyM !== undefined ? ` ±${Math.round(b.accuracyM)} m` : ''}`;
    }
    case 'status': {
      const b = m.body as Body<'status'>;
      return `${STATUS_WORDS[b.status] ?? b.status}${b.hub ? ` (${b.hub})` : ''}${b.note ? ` "${clip(b.note, 60)}"` : ''}`;
    }
    case 'exception': {
      const b = m.body as Body<'exception'>;
      const ev = b.evidence?.length ? ` [${b.evidence.map(attachmentLabel).join(', ')}]` : '';
      return `${b.type.toUpperCase()}: "${clip(b.description, 60)}"${ev}`;
    }
    case 'proof_of_delivery': {
      const b = m.body as Body<'proof_of_delivery'>;
      const extras = [b.photo ? `photo ${attachmentLabel(b.photo)}` : '', b.signature ? 'signature' : '', b.location ? `at ${b.location.lat.toFixed(4)}, ${b.location.lng.toFixed(4)}` : ''].filter(Boolean);
      return `received by ${b.receivedBy} at ${new Date(b.at).toISOString().slice(11, 19)}Z${extras.length ? ` (${extras.join(', ')})` : ''}`;
    }
    case 'rating': {
      const b = m.body as Body<'rating'>;
      return `${'★'.repeat(b.stars)}${'☆'.repeat(5 - b.stars)}${b.comment ? ` "${clip(b.comment, 60)}"` : ''}`;
    }
    case 'system': {
      const b = m.body as Body<'system'>;
      return `${b.event}${b.detail ? `: ${clip(b.detail, 60)}` : ''}`;
    }
  }
}

function time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}

/** `2026-11-28 01:23:45Z  #3   courier    (u-courier)  status  picked up` */
export function messageLine(m: ReceivedMessage): string {
  const who = `${m.sender.role}${m.self ? ' (me)' : ''}`;
  const scope = m.scope === 'shared' ? '' : ` ${paint.magenta(`[${m.scope}]`)}`;
  return `${paint.dim(time(m.relayTime))}  ${paint.bold(`#${m.seq}`.padEnd(5))} ${paint.cyan(who.padEnd(15))} ${paint.dim(m.sender.userId.padEnd(16))} ${m.kind.padEnd(17)} ${summarize(m)}${scope}`;
}

export function messageJson(m: ReceivedMessage): string {
  return JSON.stringify({
    type: 'message',
    seq: m.seq,
    time: new Date(m.relayTime).toISOString(),
    epoch: m.epoch,
    scope: m.scope,
    kind: m.kind,
    sender: { role: m.sender.role, userId: m.sender.userId, deviceId: m.sender.deviceId },
    self: m.self,
    body: m.body,
  });
}

/** A warning for people: on stderr, flagged, never in the shape of a message. */
export function warningLine(w: OrderWarning): string {
  const where = [w.seq !== undefined ? `#${w.seq}` : '', w.sender ? `from ${w.sender}` : ''].filter(Boolean).join(' ');
  return `WARNING ${w.code}${where ? ` (${where})` : ''}: ${w.message}`;
}

export function warningJson(w: OrderWarning): string {
  return JSON.stringify({ type: 'warning', code: w.code, message: w.message, ...(w.seq !== undefined ? { seq: w.seq } : {}), ...(w.sender ? { sender: w.sender } : {}) });
}
