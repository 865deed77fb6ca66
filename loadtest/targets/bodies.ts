/**
 * Message bodies of the load mix, encoded with the client SDK's own codec
 * (client/messages.ts: the zod schema of each kind, UTF-8 JSON), so an envelope
 * of the load test is one a real client sends and opens. Every field has a fixed
 * width, so every message of a class seals to the same size: what the peers carry
 * as opaque bytes (mix.ts `bytes`).
 */
import { encodeBody, type AttachmentRef } from '../../client/messages.ts';
import type { MessageClass } from '../driver/mix.ts';
import { CHAT_TEXT_BYTES } from '../driver/mix.ts';

/** Seven digits: sequences of one stream stay below 10 million (MAX_SCHEDULED_SENDS is 20 M over all streams). */
const seqText = (seq: number) => `#${String(seq % 10_000_000).padStart(7, '0')}`;
const FILLER = 'on my way, the parcel is at the gate; call me when you are downstairs please. '.repeat(4);

/**
 * The body of message `seq` of class `cls`, sent at `atMs`. Attachment messages
 * need the reference of their uploaded blob.
 */
export function messageBody(cls: MessageClass, seq: number, atMs: number, attachment?: AttachmentRef): Uint8Array {
  switch (cls.kind) {
    case 'location': {
      // 4 decimals, odd last digit: always the same number of characters in JSON.
      const k = 2 * (seq % 4000);
      return encodeBody('location', { lat: (311_001 + k) / 10_000, lng: (1_214_001 + k) / 10_000, at: Math.round(atMs) });
    }
    case 'text': {
      const head = `${seqText(seq)} `;
      return encodeBody('text', { text: head + FILLER.slice(0, CHAT_TEXT_BYTES - head.length) });
    }
    case 'media':
      if (!attachment) throw new RangeError(`class ${cls.name}: a media message needs its attachment`);
      return encodeBody('media', { attachments: [attachment], caption: seqText(seq) });
    default:
      throw new RangeError(`class ${cls.name}: no load body for kind ${cls.kind}`);
  }
}
