import { code } from './fixtures.ts';
import { describe, expect, it } from 'vitest';
import {
  cryptoReady, encryptAttachment, decryptAttachment, encryptAttachmentStream, decryptAttachmentStream, AttachmentOpener, CryptoError,
} from '../../crypto/index.ts';

await cryptoReady();

function photo(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

describe('attachments', () => {
  it('round-trip for empty, one-chunk, exact-multiple and multi-chunk files, reporting progress', () => {
    for (const n of [0, 1, 1000, 4096, 4096 * 3, 4096 * 3 + 5]) {
      const data = photo(n);
      const progress: number[] = [];
      const { ciphertext, descriptor } = encryptAttachment(data, { chunkSize: 4096, onProgress: (d) => progress.push(d) });
      expect(descriptor.size).toBe(n);
      expect(descriptor.ciphertextSize).toBe(ciphertext.length);
      expect(progress.at(-1)).toBe(n);
      expect(decryptAttachment(ciphertext, descriptor)).toEqual(data);
    }
  });

  it('use a fresh key per file', () => {
    const a = encryptAttachment(photo(10)).descriptor.key;
    const b = encryptAttachment(photo(10)).descriptor.key;
    expect(a).not.toEqual(b);
  });

  it('detect truncation: a missing final chunk is TRUNCATED even when the hash is not checked first', () => {
    const { ciphertext, descriptor } = encryptAttachment(photo(4096 * 3), { chunkSize: 4096 });
    const cut = ciphertext.subarray(0, 24 + 2 * (4096 + 17));
    expect(code(() => decryptAttachment(cut, descriptor))).toBe('TRUNCATED');
    const opener = new AttachmentOpener(descriptor);
    opener.update(cut);
    expect(code(() => opener.finish())).toBe('TRUNCATED');
  });

  it('detect a tampered chunk (DECRYPT_FAILED) and a ciphertext not matching the descriptor hash (HASH_MISMATCH)', () => {
    const { ciphertext, descriptor } = encryptAttachment(photo(10_000), { chunkSize: 4096 });
    const t = ciphertext.slice();
    t[5000]! ^= 1;
    expect(code(() => decryptAttachment(t, descriptor))).toBe('HASH_MISMATCH');
    const opener = new AttachmentOpener({ ...descriptor, hash: new Uint8Array(32) });
    expect(code(() => opener.update(t))).toBe('DECRYPT_FAILED');
    const other = encryptAttachment(photo(10_000), { chunkSize: 4096 });
    expect(code(() => decryptAttachment(other.ciphertext, descriptor))).toBe('HASH_MISMATCH');
  });

  it('refuse data appended after the final chunk', () => {
    const { ciphertext, descriptor } = encryptAttachment(photo(100), { chunkSize: 64 });
    const longer = new Uint8Array(ciphertext.length + 17 + 64);
    longer.set(ciphertext);
    const opener = new AttachmentOpener({ ...descriptor });
    expect(() => {
      opener.update(longer);
      opener.finish();
    }).toThrow(CryptoError);
  });

  it('stream: ciphertext pieces of any size decrypt to the original', async () => {
    const data = photo(200_000);
    async function* src() {
      for (let off = 0; off < data.length; off += 7777) yield data.subarray(off, off + 7777);
    }
    const gen = encryptAttachmentStream(src(), { chunkSize: 16384 });
    const pieces: Uint8Array[] = [];
    let r = await gen.next();
    while (!r.done) {
      pieces.push(r.value);
      r = await gen.next();
    }
    const descriptor = r.value;
    const all = Buffer.concat(pieces);
    async function* csrc() {
      for (let off = 0; off < all.length; off += 5000) yield new Uint8Array(all.subarray(off, off + 5000));
    }
    const out: Uint8Array[] = [];
    for await (const p of decryptAttachmentStream(csrc(), descriptor)) out.push(p);
    expect(new Uint8Array(Buffer.concat(out))).toEqual(data);
  });
});
