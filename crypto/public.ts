/**
 * The secret-free verification subset of crypto/: what the relay may import.
 * Nothing here holds or accepts a private key or a content key.
 */
export { cryptoReady } from './sodium.ts';
export { cryptoBackend } from './backend.ts';
export { CryptoError, CRYPTO_ERROR_CODES, isCryptoError } from './errors.ts';
export { deviceIdFromSigningKey, verifyChallenge, deviceFingerprint, safetyNumber } from './identity.ts';
export { decodeCertificate, verifyCertificate } from './certificate.ts';
export { decodeRoster, verifyRoster, rosterHash, RosterChain, VerifiedRoster } from './roster.ts';
export {
  ROLES, KINDS, SCOPES, DEFAULT_POLICY, loadPolicy, registerPolicy, policyById,
  mayPublish, mayPublishAny, mayRead, readersOf, scopesOf, isRole, isKind, policyHash, policyEncoding,
} from './policy.ts';
export { decodeEnvelopeHeader, envelopeHash, envelopeRoute } from './envelope.ts';
export { decodeKeyPackageHeader } from './senderkey.ts';
export { auditOrder } from './audit.ts';

export type { CryptoErrorCode } from './errors.ts';
export type { CryptoBackendName } from './backend.ts';
export type { Certificate, VerifiedCertificate } from './certificate.ts';
export type { Roster, RosterLink, VerifiedMember, VerifyRosterOptions } from './roster.ts';
export type { Policy, PolicyData, Role, Kind, Scope } from './policy.ts';
export type { EnvelopeHeader, EnvelopeRoute } from './envelope.ts';
export type { KeyPackageHeader } from './senderkey.ts';
export type { OrderLog, AuditReport, AuditAnomaly, AuditOptions } from './audit.ts';
