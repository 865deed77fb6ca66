/**
 * Attachments (photos, voice notes, proof-of-delivery images): a random key per
 * file, crypto_secretstream_xchacha20poly1305 in fixed-size chunks, the last one
 * tagged FINAL so truncation is detected. The ciphertext (24-byte stream header
 * then chunks of chunkSize + 17 bytes, the last one shorter or equal) goes to
 * the relay's blob store; the descriptor (key, BLAKE2b-256 of the ciphertext,
 * sizes) travels inside an envelope.
 *
 * Streaming: AttachmentSealer / AttachmentOpener take input in pieces of any
 * size. The opener's plaintext is only trustworthy once finish() returned:
 * only then are the FINAL tag and the ciphertext hash checked.
 */
import { CryptoError } from './errors.ts';
import { bytesEqual } from './encoding.ts';
import { be, TAG_FINAL, TAG_MESSAGE, type SecretstreamState, type SodiumBackend } from './backend.ts';
import { randomBytes, wipe } from './sodium.ts';

/** 64 KiB: large enough that per-chunk overhead (17 bytes) is 0.03 %, small enough for a phone's memory and for progress updates. */
export const ATTACHMENT_CHUNK_BYTES = 64 * 1024;
/** Upper bound on chunkSize accepted from a descriptor, so a hostile one cannot make the opener buffer gigabytes. */
export const MAX_ATTACHMENT_CHUNK_BYTES = 1024 * 1024;
const HEADER_BYTES = 24;
const ABYTES = 17;

export interface AttachmentDescriptor {
  /** 32-byte secretstream key. Secret: only inside an encrypted envelope. */
  readonly key: Uint8Array;
  /** BLAKE2b-256 of the whole ciphertext. */
  readonly hash: Uint8Array;
  /** Plaintext size in bytes. */
  readonly size: number;
  readonly ciphertextSize: number;
  readonly chunkSize: number;
}

export type Progress = (doneBytes: number, totalBytes: number | undefined) => void;

/** Incremental BLAKE2b-256. */
function hasher(s: SodiumBackend): { update(b: Uint8Array): void; digest(): Uint8Array } {
  const st = s.hashInit(32);
  return { update: (b) => s.hashUpdate(st, b), digest: () => s.hashFinal(st) };
}

/**
 * Encrypts a file given in pieces of any size. Sealer and opener keep the backend
 * they were created with: their stream state belongs to that library.
 */
export class AttachmentSealer {
  private readonly s: SodiumBackend = be();
  private readonly key: Uint8Array;
  private readonly state: SecretstreamState;
  private readonly hash = hasher(this.s);
  private pending: Uint8Array[] = [];
  private pendingLen = 0;
  private size = 0;
  private cipherSize = 0;
  private headerOut: Uint8Array | undefined;
  private done = false;

  constructor(private readonly opts: { chunkSize?: number; totalBytes?: number; onProgress?: Progress } = {}) {
    this.key = randomBytes(32);
    const { state, header } = this.s.secretstreamInitPush(this.key);
    this.state = state;
    this.headerOut = header;
    this.hash.update(header);
    this.cipherSize = header.length;
  }

  private get chunkSize(): number {
    return this.opts.chunkSize ?? ATTACHMENT_CHUNK_BYTES;
  }

  private emitHeader(out: Uint8Array[]): void {
    if (this.headerOut) {
      out.push(this.headerOut);
      this.headerOut = undefined;
    }
  }

  private pushChunk(chunk: Uint8Array, final: boolean, out: Uint8Array[]): void {
    const c = this.s.secretstreamPush(this.state, chunk, final ? TAG_FINAL : TAG_MESSAGE);
    this.hash.update(c);
    this.cipherSize += c.length;
    this.size += chunk.length;
    out.push(c);
    this.opts.onProgress?.(this.size, this.opts.totalBytes);
  }

  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const head = this.pending[0] as Uint8Array;
      const k = Math.min(head.length, n - off);
      out.set(head.subarray(0, k), off);
      off += k;
      if (k === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(k);
    }
    this.pendingLen -= n;
    return out;
  }

  /** Add plaintext; returns the ciphertext pieces ready so far (possibly none). */
  update(plain: Uint8Array): Uint8Array[] {
    if (this.done) throw new CryptoError('INVALID_ARGUMENT', 'sealer already finished');
    const out: Uint8Array[] = [];
    this.emitHeader(out);
    this.pending.push(plain);
    this.pendingLen += plain.length;
    // Keep at least one byte back: the last chunk must carry TAG_FINAL.
    while (this.pendingLen > this.chunkSize) this.pushChunk(this.take(this.chunkSize), false, out);
    return out;
  }

  /** Seal the last chunk; returns the remaining ciphertext and the descriptor. */
  finish(): { pieces: Uint8Array[]; descriptor: AttachmentDescriptor } {
    if (this.done) throw new CryptoError('INVALID_ARGUMENT', 'sealer already finished');
    const out: Uint8Array[] = [];
    this.emitHeader(out);
    this.pushChunk(this.take(this.pendingLen), true, out);
    this.s.secretstreamWipe(this.state);
    this.done = true;
    return {
      pieces: out,
      descriptor: { key: this.key, hash: this.hash.digest(), size: this.size, ciphertextSize: this.cipherSize, chunkSize: this.chunkSize },
    };
  }
}

/** Decrypts ciphertext given in pieces of any size; finish() proves it was complete and unaltered. */
export class AttachmentOpener {
  private readonly s: SodiumBackend = be();
  private state: SecretstreamState | undefined;
  private readonly hash = hasher(this.s);
  private buf = new Uint8Array(0);
  private size = 0;
  private final = false;

  constructor(private readonly descriptor: AttachmentDescriptor, private readonly onProgress?: Progress) {
    if (descriptor.key.length !== 32 || descriptor.hash.length !== 32) throw new CryptoError('MALFORMED', 'attachment descriptor key/hash');
    if (!Number.isInteger(descriptor.chunkSize) || descriptor.chunkSize < 1 || descriptor.chunkSize > MAX_ATTACHMENT_CHUNK_BYTES) {
      throw new CryptoError('MALFORMED', `attachment chunk size ${descriptor.chunkSize}`);
    }
  }

  private append(b: Uint8Array): void {
    const next = new Uint8Array(this.buf.length + b.length);
    next.set(this.buf);
    next.set(b, this.buf.length);
    this.buf = next;
  }

  private pullChunk(c: Uint8Array, out: Uint8Array[]): void {
    if (this.final) throw new CryptoError('DECRYPT_FAILED', 'data after the final chunk');
    const r = this.s.secretstreamPull(this.state as SecretstreamState, c);
    if (!r) throw new CryptoError('DECRYPT_FAILED', 'attachment chunk does not authenticate');
    if (r.tag === TAG_FINAL) {
      this.final = true;
      this.s.secretstreamWipe(this.state as SecretstreamState);
    }
    this.size += r.message.length;
    out.push(r.message);
    this.onProgress?.(this.size, this.descriptor.size);
  }

  /** Add ciphertext; returns plaintext pieces (not yet proven complete). */
  update(cipher: Uint8Array): Uint8Array[] {
    this.hash.update(cipher);
    this.append(cipher);
    const out: Uint8Array[] = [];
    if (!this.state) {
      if (this.buf.length < HEADER_BYTES) return out;
      const st = this.s.secretstreamInitPull(this.buf.slice(0, HEADER_BYTES), this.descriptor.key);
      if (!st) throw new CryptoError('DECRYPT_FAILED', 'bad attachment header');
      this.state = st;
      this.buf = this.buf.slice(HEADER_BYTES);
    }
    const full = this.descriptor.chunkSize + ABYTES;
    let off = 0;
    while (this.buf.length - off > full || (this.buf.length - off === full && !this.final)) {
      this.pullChunk(this.buf.subarray(off, off + full), out);
      off += full;
    }
    if (off > 0) this.buf = this.buf.slice(off);
    return out;
  }

  /** Check the end: last chunk present (else TRUNCATED), hash matches (else HASH_MISMATCH). */
  finish(): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (!this.state) throw new CryptoError('TRUNCATED', 'no stream header');
    if (this.buf.length > 0) {
      if (this.buf.length < ABYTES) throw new CryptoError('TRUNCATED', 'partial chunk');
      this.pullChunk(this.buf, out);
      this.buf = new Uint8Array(0);
    }
    if (!this.final) throw new CryptoError('TRUNCATED', 'the final chunk is missing');
    if (!bytesEqual(this.hash.digest(), this.descriptor.hash)) throw new CryptoError('HASH_MISMATCH');
    if (this.size !== this.descriptor.size) throw new CryptoError('HASH_MISMATCH', 'plaintext size differs from the descriptor');
    return out;
  }
}

function concat(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of pieces) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Encrypt a whole file held in memory.
 * @example const { ciphertext, descriptor } = encryptAttachment(photo); await upload(ciphertext);
 */
export function encryptAttachment(plain: Uint8Array, opts: { chunkSize?: number; onProgress?: Progress } = {}): { ciphertext: Uint8Array; descriptor: AttachmentDescriptor } {
  const sealer = new AttachmentSealer({ ...opts, totalBytes: plain.length });
  const chunk = opts.chunkSize ?? ATTACHMENT_CHUNK_BYTES;
  const pieces: Uint8Array[] = [];
  for (let off = 0; off < plain.length; off += chunk) pieces.push(...sealer.update(plain.subarray(off, off + chunk)));
  const end = sealer.finish();
  pieces.push(...end.pieces);
  return { ciphertext: concat(pieces), descriptor: end.descriptor };
}

/** Decrypt a whole file held in memory; checks the hash first, then every chunk and the FINAL tag. */
export function decryptAttachment(ciphertext: Uint8Array, descriptor: AttachmentDescriptor, opts: { onProgress?: Progress } = {}): Uint8Array {
  if (!bytesEqual(be().generichash(32, ciphertext), descriptor.hash)) {
    // Distinguish a short download from an altered one for the user.
    throw new CryptoError(ciphertext.length < descriptor.ciphertextSize ? 'TRUNCATED' : 'HASH_MISMATCH');
  }
  const opener = new AttachmentOpener(descriptor, opts.onProgress);
  const pieces = [...opener.update(ciphertext), ...opener.finish()];
  return concat(pieces);
}

/** Encrypt an async stream of plaintext pieces; yields ciphertext pieces and returns the descriptor. */
export async function* encryptAttachmentStream(
  source: AsyncIterable<Uint8Array>,
  opts: { chunkSize?: number; totalBytes?: number; onProgress?: Progress } = {},
): AsyncGenerator<Uint8Array, AttachmentDescriptor> {
  const sealer = new AttachmentSealer(opts);
  for await (const piece of source) yield* sealer.update(piece);
  const end = sealer.finish();
  yield* end.pieces;
  return end.descriptor;
}

/** Decrypt an async stream of ciphertext pieces. Throws (TRUNCATED, HASH_MISMATCH, DECRYPT_FAILED) at the end if it was not complete and intact. */
export async function* decryptAttachmentStream(
  source: AsyncIterable<Uint8Array>,
  descriptor: AttachmentDescriptor,
  opts: { onProgress?: Progress } = {},
): AsyncGenerator<Uint8Array, void> {
  const opener = new AttachmentOpener(descriptor, opts.onProgress);
  for await (const piece of source) yield* opener.update(piece);
  yield* opener.finish();
}

/** Wipe a descriptor's key once it is no longer needed. */
export function wipeAttachmentKey(descriptor: AttachmentDescriptor): void {
  wipe(descriptor.key);
}
