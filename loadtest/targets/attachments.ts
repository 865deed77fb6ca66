/**
 * Attachments of the load mix, as the client SDK makes them (client/attachments.ts):
 * the file encrypted on the device with a fresh key (crypto_secretstream in
 * chunks), uploaded as opaque ciphertext over signed HTTP to the relay's blob
 * endpoint, and referenced by an AttachmentRef inside the `media` message that
 * follows. A device uploads one file at a time; a failed upload (relay down,
 * 5xx, rate limit) is retried with backoff until it succeeds or the run ends.
 *
 * @example
 *   const a = prepareAttachment(order.orderId, ATTACHMENT_BYTES);   // before the clock, or at send time
 *   await uploads.upload(courier, order.orderId, a, intendedMs);     // then seal a media message with a.ref
 */
import type { AttachmentRef } from '../../client/messages.ts';
import { encryptAttachment, randomBytes, sha256 } from '../../crypto/index.ts';
import { HTTP_CONTENT_SHA256_HEADER } from '../../protocol/http-auth.ts';
import { blobIdOf } from '../../server/blob/verify.ts';
import { LatencyRecorder } from '../driver/latency.ts';
import { epochNowMs } from '../driver/payload.ts';
import type { AttachmentStats } from '../driver/target.ts';
import { signedHeaders } from '../http/signing.ts';
import type { LoadDevice } from './fixtures.ts';
import { backoffMs } from './reconnecting.ts';

export interface PreparedAttachment {
  /** Dropped once uploaded, so a long run does not hold every file. */
  ciphertext: Uint8Array | undefined;
  readonly sha256Hex: string;
  readonly ref: AttachmentRef;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/**
 * A random file of `bytes`, encrypted, with the reference a media message carries.
 * The blob id is content-addressed (server/blob/verify.ts), so it is known before
 * the upload and a pre-sealed message can name it; the upload checks the relay agrees.
 */
export function prepareAttachment(orderId: string, bytes: number): PreparedAttachment {
  const { ciphertext, descriptor } = encryptAttachment(randomBytes(bytes));
  const sha = sha256(ciphertext);
  return {
    ciphertext,
    sha256Hex: hex(sha),
    ref: {
      blobId: blobIdOf(orderId, sha),
      key: b64(descriptor.key),
      hash: b64(descriptor.hash),
      sha256: hex(sha),
      size: descriptor.size,
      ciphertextSize: descriptor.ciphertextSize,
      chunkSize: descriptor.chunkSize,
      mimeType: 'image/jpeg',
      width: 640,
      height: 480,
    },
  };
}

/** How long one upload attempt may take before it is abandoned and retried. */
const UPLOAD_TIMEOUT_MS = 30_000;

export class BlobUploads {
  private uploads = 0;
  private retries = 0;
  private failed = 0;
  /** Asked for and not finished (queued behind the device's previous upload, or under way). */
  private pending = 0;
  private bytes = 0;
  /** Per device: the previous upload, which the next waits for (one file at a time, as a phone does). */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly timing = new LatencyRecorder();
  private closed = false;

  /** `baseUrl(attempt)`: where attempt n of an upload goes (with several relay nodes, the next node on each retry). */
  constructor(private readonly baseUrl: (attempt: number) => string) {}

  /**
   * Upload `a` for `device` of `orderId` after the device's previous upload;
   * resolves once the relay stored it (201), retrying meanwhile. Rejects only when
   * the uploads are closed, or when the relay refuses for good or names another blob
   * id than the content address (a relay bug, not a network one).
   */
  upload(device: LoadDevice, orderId: string, a: PreparedAttachment, intendedMs: number): Promise<void> {
    this.pending++;
    const previous = this.queues.get(device.deviceId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.uploadNow(device, orderId, a, intendedMs));
    this.queues.set(device.deviceId, next);
    void next.finally(() => this.queues.get(device.deviceId) === next && this.queues.delete(device.deviceId)).catch(() => undefined);
    return next;
  }

  private async uploadNow(device: LoadDevice, orderId: string, a: PreparedAttachment, intendedMs: number): Promise<void> {
    const body = a.ciphertext;
    const path = `/v1/orders/${encodeURIComponent(orderId)}/blobs`;
    try {
      if (!body) return; // uploaded already
      for (let attempt = 0; ; attempt++) {
        if (this.closed) throw new Error('uploads closed');
        try {
          const res = await fetch(this.baseUrl(attempt) + path, {
            method: 'POST',
            body: body as Uint8Array<ArrayBuffer>,
            // v2 signs the relay's id and the content hash the relay checks the blob against.
            headers: { 'content-type': 'application/octet-stream', ...signedHeaders(device, 'POST', path, body, { headers: { [HTTP_CONTENT_SHA256_HEADER]: a.sha256Hex } }) },
            signal: AbortSignal.timeout(UPLOAD_TIMEOUT_MS),
          });
          const text = await res.text();
          if (res.status === 201) {
            const blobId = (JSON.parse(text) as { blobId?: string }).blobId;
            if (blobId !== a.ref.blobId) throw new BlobIdMismatch(`the relay stored ${orderId}'s attachment as ${blobId}, not its content address ${a.ref.blobId}`);
            break;
          }
          // 4xx other than a rate limit will not get better by retrying: count it and stop.
          if (res.status >= 400 && res.status < 500 && res.status !== 429) throw new BlobIdMismatch(`upload refused: ${res.status} ${text.slice(0, 200)}`);
        } catch (err) {
          if (err instanceof BlobIdMismatch) throw err;
          // Network error or timeout: retried below.
        }
        this.retries++;
        await new Promise((r) => setTimeout(r, Math.max(100, backoffMs(attempt))));
      }
      this.uploads++;
      this.bytes += body.byteLength;
      this.timing.recordMs(epochNowMs() - intendedMs);
      a.ciphertext = undefined;
    } catch (err) {
      this.failed++;
      throw err;
    } finally {
      this.pending--;
    }
  }

  stats(): AttachmentStats {
    const p = this.timing.percentiles();
    return { uploads: this.uploads, retries: this.retries, failed: this.failed, pending: this.pending, bytes: this.bytes, uploadMs: { p50: p.p50, p99: p.p99, max: p.max } };
  }

  close(): void {
    this.closed = true;
  }
}

/** The relay refused an upload for good, or named another blob than the content address. */
export class BlobIdMismatch extends Error {}
