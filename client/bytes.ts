/**
 * Frame schemas infer `Uint8Array<ArrayBuffer>` (zod's instanceof), while crypto
 * and runtimes hand out `Uint8Array<ArrayBufferLike>`. Both are plain byte views
 * to msgpackr; this narrows the type without copying.
 */
export function wire(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b as Uint8Array<ArrayBuffer>;
}
