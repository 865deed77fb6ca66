/**
 * sealrelay crypto: the curated public API. The relay imports './public.ts'
 * only; clients import this file. See crypto/README.md.
 */
export * from './public.ts';

export { sha256, randomBytes, blake2b, secretboxSeal, secretboxOpen } from './sodium.ts';

export { AuthorityKey, DeviceKeys, signChallenge } from './identity.ts';
export { issueCertificate } from './certificate.ts';
export { signRoster } from './roster.ts';
export { ReceiverState, MAX_SKIP, MAX_SKIPPED_KEYS, MAX_CHAINS, MAX_RETIRED_CHAINS, senderChainKey, ratchetStep, KDF_CONTEXT } from './ratchet.ts';
export {
  OutboundSenderKey, createKeyPackages, openKeyPackage, decodeKeyPackage, needsRotation, DEFAULT_ROTATION,
} from './senderkey.ts';
export { sealEnvelope, openEnvelope, decodeEnvelope, ChainTracker, paddingBlock, MAX_PAYLOAD_BYTES } from './envelope.ts';
export {
  AttachmentSealer, AttachmentOpener, encryptAttachment, decryptAttachment,
  encryptAttachmentStream, decryptAttachmentStream, wipeAttachmentKey, ATTACHMENT_CHUNK_BYTES,
} from './attachment.ts';
export {
  sealKeystore, openKeystore, sealDeviceKeystore, openDeviceKeystore, keystoreInteractive, keystoreStrong,
  sealState, openState, deviceStorageKey, KEYSTORE_MIN_OPS, KEYSTORE_MIN_MEM, KEYSTORE_MAX_OPS, KEYSTORE_MAX_MEM,
} from './keystore.ts';

export type { CertificateFields } from './certificate.ts';
export type { RosterFields, RosterMemberInput } from './roster.ts';
export type { ReceivedSenderKey, SenderKeyContext, MessageKeyLease } from './ratchet.ts';
export type { SenderKeyRotation, KeyPackageOut, DecodedKeyPackage } from './senderkey.ts';
export type { SealEnvelopeInput, OpenEnvelopeOptions, OpenedEnvelope, ChainWarning, DecodedEnvelope } from './envelope.ts';
export type { AttachmentDescriptor, Progress } from './attachment.ts';
export type { KeystoreCost, DeviceSecrets } from './keystore.ts';
