/**
 * Bytes carved from large slabs (256 KiB by default) instead of an ArrayBuffer each:
 * every ArrayBuffer is an allocation the GC tracks, and on the relay's hot paths one
 * per frame cost more than the work on the frame. A slab is never written twice, so
 * a carved piece stays valid for as long as anyone holds it, like any other
 * Uint8Array — and keeps its whole slab alive that long: callers that retain bytes
 * for long copy them out (the memory store does). Pieces over a quarter slab get a
 * buffer of their own. Used for outgoing deliver frames (codec.ts) and incoming
 * frames (server/uws/transport.ts).
 */
export class ByteSlab {
  private slab = new Uint8Array(0);
  private used = 0;

  constructor(private readonly slabBytes = 256 * 1024) {}

  /** Room for at most `n` bytes; hand back what is not used with keep(). */
  take(n: number): Uint8Array {
    if (n > this.slabBytes / 4) return new Uint8Array(n);
    if (this.used + n > this.slab.length) {
      this.slab = new Uint8Array(this.slabBytes);
      this.used = 0;
    }
    return this.slab.subarray(this.used, this.used + n);
  }

  /** The first `used` bytes of a take() result; the rest of the room goes back to the slab (8-byte aligned). */
  keep(room: Uint8Array, used: number): Uint8Array {
    if (room.buffer === this.slab.buffer) this.used = room.byteOffset + ((used + 7) & ~7);
    return used === room.length ? room : room.subarray(0, used);
  }

  /** A copy of `src` carved from the slab. */
  copy(src: Uint8Array): Uint8Array {
    const room = this.take(src.length);
    room.set(src);
    return this.keep(room, src.length);
  }
}
