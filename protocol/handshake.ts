/**
 * The challenge transcript a device signs to authenticate. Binding the relay id
 * and the device id into it means a signature captured on one relay (or for one
 * device) cannot be replayed to another; the fresh nonce stops replay in time.
 *
 * Layout (all lengths u16 big-endian):
 *   "sealrelay/auth/v1" 0x00 | len relayId | relayId | len nonce | nonce | len deviceId | deviceId
 */
export const CHALLENGE_DOMAIN = 'sealrelay/auth/v1';

const enc = new TextEncoder();

export function challengeTranscript(relayId: string, nonce: Uint8Array, deviceId: string): Uint8Array {
  const parts = [enc.encode(CHALLENGE_DOMAIN), new Uint8Array([0]), ...lp(enc.encode(relayId)), ...lp(nonce), ...lp(enc.encode(deviceId))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

function lp(b: Uint8Array): Uint8Array[] {
  if (b.byteLength > 0xffff) throw new RangeError('transcript field too long');
  return [new Uint8Array([b.byteLength >> 8, b.byteLength & 0xff]), b];
}
