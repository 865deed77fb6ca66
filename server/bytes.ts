/**
 * Frame schemas infer `Uint8Array<ArrayBuffer>` (zod's instanceof), while stores
 * and crypto hand out `Uint8Array<ArrayBufferLike>`. At runtime both are plain
 * Uint8Arrays over non-shared buffers (nothing here uses SharedArrayBuffer), so
 * this narrowing is a type-level statement, not a conversion.
 */
export function wire(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}
