/** Blob stores for encrypted attachments; all implement BlobStore (server/store/types.ts). */
export { MemoryBlobStore, type MemoryBlobStoreOptions } from './memory.ts';
export { DiskBlobStore, type DiskBlobStoreOptions } from './disk.ts';
export { RedisBlobStore, type RedisBlobStoreOptions } from './redis.ts';
export { BlobHashMismatchError, BlobQuotaError, BlobTooLargeError, blobIdOf, isBlobId, verifyBlob, type BlobQuota } from './verify.ts';
