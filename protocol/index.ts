/**
 * sealrelay wire protocol: frames, codec, error codes and limits.
 * The specification a compatible client is written from is protocol/README.md.
 */
export {
  ClientFrame,
  ServerFrame,
  CLIENT_FRAME_TYPES,
  SERVER_FRAME_TYPES,
  ConnectFrame,
  AuthFrame,
  SubFrame,
  UnsubFrame,
  PubFrame,
  AckFrame,
  KeyPackagePutFrame,
  KeyPackageGetFrame,
  RosterPutFrame,
  RosterGetFrame,
  BlobPutFrame,
  BlobGetFrame,
  PingFrame,
  PongFrame,
  ChallengeFrame,
  WelcomeFrame,
  SubscribedFrame,
  UnsubscribedFrame,
  PubAckFrame,
  DeliverFrame,
  DeliveredMessage,
  KeyPackagePutOkFrame,
  KeyPackagesFrame,
  RosterOkFrame,
  RostersFrame,
  RosterPushFrame,
  BlobOkFrame,
  BlobFrame,
  ErrorFrame,
  utf8Length,
} from './frames.ts';
export { encodeFrame, encodeDeliverOne, decodeClientFrame, decodeServerFrame, peekFrameType } from './codec.ts';
export {
  ERRORS,
  ERROR_CODES,
  ProtocolError,
  closeCodeOf,
  errorOfCloseCode,
  shouldReconnect,
  isErrorCode,
  CLOSE_NORMAL,
} from './errors.ts';
export * from './limits.ts';
export { challengeTranscript, CHALLENGE_DOMAIN } from './handshake.ts';

export type {
  ClientFrameType,
  ServerFrameType,
  ClientFrameOf,
  ServerFrameOf,
} from './frames.ts';
export type { ErrorCode, ErrorSpec } from './errors.ts';
