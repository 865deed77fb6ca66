/**
 * Attachments: photos of damaged goods, voice notes, proof-of-delivery images.
 * Encrypted on the device with a fresh key per file (crypto_secretstream in
 * chunks), uploaded as opaque ciphertext, and referenced from a `media`,
 * `exception` or `proof_of_delivery` message whose envelope carries the key.
 *
 * Small files (≤ MAX_BLOB_FRAME_BYTES of ciphertext) travel as `blob_put` /
 * `blob_get` frames on the open connection; larger ones over HTTP with a signed
 * request (protocol/http-auth.ts, transcript v2), because one WebSocket frame must
 * stay small. The signature names the relay: the configured `relayId`, else the one
 * the relay challenged this connection with, else (never connected yet) the one
 * `GET /healthz` serves.
 * Downloads are checked twice: SHA-256 against the relay's address (a wrong
 * blob), then BLAKE2b and every chunk tag while decrypting (an altered one).
 */
import { decryptAttachment, encryptAttachment, isCryptoError, randomBytes, sha256, signChallenge, type AttachmentDescriptor, type DeviceKeys } from '../crypto/index.ts';
import { HTTP_AUTH_HEADERS, HTTP_CONTENT_SHA256_HEADER, HTTP_SIGNED_HEADERS, httpRequestTranscript } from '../protocol/http-auth.ts';
import { MAX_BLOB_BYTES, MAX_BLOB_FRAME_BYTES } from '../protocol/index.ts';
import { wire } from './bytes.ts';
import type { Connection } from './connection.ts';
import { SealRelayError } from './errors.ts';
import type { AttachmentRef } from './messages.ts';
import { base64ToBytes, bytesToBase64 } from './storage/types.ts';

export type AttachmentPhase = 'encrypt' | 'upload' | 'download' | 'decrypt';
export type AttachmentProgress = (phase: AttachmentPhase, doneBytes: number, totalBytes: number) => void;

export interface AttachmentMeta {
  readonly mimeType: string;
  readonly name?: string;
  readonly width?: number;
  readonly height?: number;
  readonly durationMs?: number;
}

/** A minimal HTTP client, so WeChat (wx.request) or a proxy-aware agent can be plugged in. Default: global fetch. */
export type HttpClient = (req: { method: 'GET' | 'POST'; url: string; headers: Record<string, string>; body?: Uint8Array }) => Promise<{ status: number; body: Uint8Array }>;

export const fetchHttpClient: HttpClient = async (req) => {
  const res = await fetch(req.url, { method: req.method, headers: req.headers, ...(req.body ? { body: req.body as Uint8Array<ArrayBuffer> } : {}) });
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
};

export interface AttachmentDeps {
  readonly connection: Connection;
  readonly keys: DeviceKeys;
  readonly certificate: Uint8Array;
  readonly httpUrl: string;
  readonly http?: HttpClient;
  readonly now: () => number;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/**
 * Encrypt and upload a file; returns the reference to put in a message.
 * @example const photo = await client.uploadAttachment(orderId, bytes, { mimeType: 'image/jpeg' });
 *          await order.send('exception', { type: 'damaged', description: 'crushed corner', evidence: [photo] });
 */
export async function uploadAttachment(deps: AttachmentDeps, order: string, data: Uint8Array, meta: AttachmentMeta, onProgress?: AttachmentProgress): Promise<AttachmentRef> {
  const { ciphertext, descriptor } = encryptAttachment(data, { onProgress: (done) => onProgress?.('encrypt', done, data.length) });
  if (ciphertext.length > MAX_BLOB_BYTES) throw new SealRelayError('ATTACHMENT_TOO_LARGE', `${ciphertext.length} bytes of ciphertext; the limit is ${MAX_BLOB_BYTES}`);
  // SHA-256: what the relay's blob store is addressed by (it verifies without libsodium).
  const sha = sha256(ciphertext);
  onProgress?.('upload', 0, ciphertext.length);
  let blobId: string;
  if (ciphertext.length <= MAX_BLOB_FRAME_BYTES) {
    const ok = await deps.connection.request({ t: 'blob_put', rid: 0, order, hash: wire(sha), data: wire(ciphertext) }, ['blob_ok']);
    blobId = ok.blobId;
  } else {
    const path = `/v1/orders/${encodeURIComponent(order)}/blobs`;
    const res = await signedHttp(deps, 'POST', path, ciphertext, { [HTTP_CONTENT_SHA256_HEADER]: hex(sha), 'content-type': 'application/octet-stream' });
    blobId = String((JSON.parse(new TextDecoder().decode(res)) as { blobId?: unknown }).blobId ?? '');
    if (!blobId) throw new SealRelayError('INTERNAL', 'the relay answered the upload without a blobId');
  }
  onProgress?.('upload', ciphertext.length, ciphertext.length);
  return {
    blobId,
    key: bytesToBase64(descriptor.key),
    hash: bytesToBase64(descriptor.hash),
    sha256: hex(sha),
    size: descriptor.size,
    ciphertextSize: descriptor.ciphertextSize,
    chunkSize: descriptor.chunkSize,
    ...meta,
  };
}

/**
 * Download, verify and decrypt an attachment from a received message.
 * Throws SealRelayError ATTACHMENT_HASH_MISMATCH (altered or wrong blob), BLOB_NOT_FOUND, or a crypto code (TRUNCATED, DECRYPT_FAILED).
 * @example const bytes = await client.downloadAttachment(m.body.evidence[0], (phase, done, total) => bar(done / total));
 */
export async function downloadAttachment(deps: AttachmentDeps, ref: AttachmentRef, onProgress?: AttachmentProgress): Promise<Uint8Array> {
  onProgress?.('download', 0, ref.ciphertextSize);
  let ciphertext: Uint8Array;
  if (ref.ciphertextSize <= MAX_BLOB_FRAME_BYTES) {
    ciphertext = (await deps.connection.request({ t: 'blob_get', rid: 0, blobId: ref.blobId }, ['blob'])).data;
  } else {
    ciphertext = await signedHttp(deps, 'GET', `/v1/blobs/${encodeURIComponent(ref.blobId)}`);
  }
  onProgress?.('download', ciphertext.length, ref.ciphertextSize);
  if (hex(sha256(ciphertext)) !== ref.sha256) {
    throw new SealRelayError('ATTACHMENT_HASH_MISMATCH', `blob ${ref.blobId} does not have the SHA-256 named in the message`);
  }
  const descriptor: AttachmentDescriptor = {
    key: base64ToBytes(ref.key),
    hash: base64ToBytes(ref.hash),
    size: ref.size,
    ciphertextSize: ref.ciphertextSize,
    chunkSize: ref.chunkSize,
  };
  try {
    return decryptAttachment(ciphertext, descriptor, { onProgress: (done) => onProgress?.('decrypt', done, ref.size) });
  } catch (e) {
    if (isCryptoError(e, 'HASH_MISMATCH')) throw new SealRelayError('ATTACHMENT_HASH_MISMATCH', e.message, { cause: e });
    if (isCryptoError(e)) throw new SealRelayError(e.code, e.message, { cause: e });
    throw e;
  }
}

async function signedHttp(deps: AttachmentDeps, method: 'GET' | 'POST', path: string, body?: Uint8Array, extra: Record<string, string> = {}): Promise<Uint8Array> {
  const http = deps.http ?? fetchHttpClient;
  const relayId = await relayIdOf(deps, http);
  const timestamp = deps.now();
  const nonce = bytesToBase64(randomBytes(18)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const signedHeaders = Object.fromEntries(HTTP_SIGNED_HEADERS.flatMap((h) => (extra[h] === undefined ? [] : [[h, extra[h]]])));
  const transcript = httpRequestTranscript({ method, pathAndQuery: path, timestamp, nonce, bodySha256: sha256(body ?? new Uint8Array(0)), relayId, headers: signedHeaders });
  const headers = {
    ...extra,
    [HTTP_AUTH_HEADERS.certificate]: bytesToBase64(deps.certificate),
    [HTTP_AUTH_HEADERS.timestamp]: String(timestamp),
    [HTTP_AUTH_HEADERS.nonce]: nonce,
    [HTTP_AUTH_HEADERS.signature]: bytesToBase64(signChallenge(deps.keys, transcript)),
  };
  const res = await http({ method, url: deps.httpUrl + path, headers, ...(body ? { body } : {}) });
  if (res.status >= 200 && res.status < 300) return res.body;
  let code = 'INTERNAL';
  let message = `HTTP ${res.status}`;
  try {
    // The relay answers {error: CODE, message, detail?} (server/http/reply.ts).
    const j = JSON.parse(new TextDecoder().decode(res.body)) as { code?: string; message?: string; detail?: string; error?: string | { code?: string; message?: string } };
    const inner = typeof j.error === 'object' ? j.error : undefined;
    code = j.code ?? (typeof j.error === 'string' ? j.error : inner?.code) ?? code;
    message = (j.message ?? inner?.message ?? message) + (j.detail ? ` (${j.detail})` : '');
  } catch {
    // Not JSON: keep the status line.
  }
  throw new SealRelayError(code, `${method} ${path}: ${message}`);
}

/** The relayId to sign for (see the file comment). */
async function relayIdOf(deps: AttachmentDeps, http: HttpClient): Promise<string> {
  const known = deps.connection.relayId;
  if (known !== undefined) return known;
  let relayId: unknown;
  try {
    const res = await http({ method: 'GET', url: `${deps.httpUrl}/healthz`, headers: {} });
    if (res.status === 200) relayId = (JSON.parse(new TextDecoder().decode(res.body)) as { relayId?: unknown }).relayId;
  } catch (e) {
    throw new SealRelayError('RELAY_ID_UNKNOWN', undefined, { cause: e });
  }
  if (typeof relayId !== 'string' || relayId === '') throw new SealRelayError('RELAY_ID_UNKNOWN');
  return relayId;
}
