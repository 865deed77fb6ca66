/**
 * A minimal sealrelay protocol connection for the load driver: the handshake
 * (connect → challenge → auth → welcome, or a resumption ticket), then typed
 * frames in and out. Deliberately thin (no outbox, no inbox): the load target
 * keeps just the delivery state it measures, so the driver's core is spent on
 * sockets, not on SDK features under test elsewhere.
 */
import WebSocket from 'ws';
import { signChallenge } from '../../crypto/index.ts';
import { decodeServerFrame, encodeFrame } from '../../protocol/codec.ts';
import { challengeTranscript } from '../../protocol/handshake.ts';
import { PROTOCOL_VERSION } from '../../protocol/limits.ts';
import type { ClientFrame, ServerFrame } from '../../protocol/frames.ts';
import type { LoadDevice } from './fixtures.ts';

export const HANDSHAKE_TIMEOUT_MS = 15_000;

/**
 * Frame schemas infer Uint8Array<ArrayBuffer>; crypto hands out ArrayBufferLike.
 * Nothing here uses SharedArrayBuffer, so this is a type-level narrowing only
 * (as server/bytes.ts and client/bytes.ts do).
 */
export function wire(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b as Uint8Array<ArrayBuffer>;
}

export interface RelayConnection {
  readonly ws: WebSocket;
  send(frame: ClientFrame): void;
  /** Resumption ticket from the last welcome, for the next connect. */
  readonly ticket: Uint8Array;
  readonly resumed: boolean;
}

/**
 * Open and authenticate. `onFrame` receives every frame after `welcome`;
 * `onClose` fires once when the socket closes for any reason.
 */
export function connectDevice(
  url: string,
  device: LoadDevice,
  handlers: { onFrame(f: ServerFrame): void; onClose(code: number): void },
  ticket?: Uint8Array,
): Promise<RelayConnection> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    const send = (f: ClientFrame) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(encodeFrame(f));
    };
    // `settled`: the promise is decided; `ready`: the handshake succeeded. Only a socket
    // that was ready reports its close: a failed handshake is the caller's rejection, and
    // reporting both made the caller start two reconnect loops for one device.
    let settled = false;
    let ready = false;
    const timer = setTimeout(() => fail(new Error(`handshake of ${device.deviceId} timed out`)), HANDSHAKE_TIMEOUT_MS);
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        ws.terminate();
        reject(err);
      }
    };
    ws.on('open', () => send({ t: 'connect', v: PROTOCOL_VERSION, deviceId: device.deviceId, ...(ticket ? { ticket: wire(ticket) } : {}) }));
    ws.on('error', (err) => fail(err));
    ws.on('close', (code) => {
      if (ready) handlers.onClose(code);
      else fail(new Error(`closed with ${code} during the handshake`));
    });
    ws.on('message', (data: Buffer) => {
      let frame: ServerFrame;
      try {
        frame = decodeServerFrame(data);
      } catch (err) {
        return fail(err as Error);
      }
      if (ready) return handlers.onFrame(frame);
      if (settled) return;
      if (frame.t === 'challenge') {
        const transcript = challengeTranscript(frame.relayId, frame.nonce, device.deviceId);
        send({ t: 'auth', certificate: wire(device.certificate), signature: wire(signChallenge(device.keys, transcript)) });
      } else if (frame.t === 'welcome') {
        ready = true;
        settled = true;
        clearTimeout(timer);
        resolve({ ws, send, ticket: frame.ticket, resumed: frame.resumed });
      } else if (frame.t === 'error') {
        // TICKET_INVALID comes with a fresh challenge right after: keep waiting.
        if (frame.code !== 'TICKET_INVALID') fail(new Error(`${frame.code}: ${frame.message}`));
      }
    });
  });
}
