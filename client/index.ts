/**
 * sealrelay client SDK: end-to-end encrypted order conversations that survive
 * bad networks. The curated public API; everything else in client/ is internal.
 *
 * This entry point runs anywhere (browser, WeChat mini-program, Node); the
 * Node-only adapters (`nodeTransport` over `ws`, `FileStorage` over `node:fs`)
 * are added by client/node.ts, so a browser bundle never pulls them in.
 *
 * @example
 * import { SealRelayClient, nodeTransport, FileStorage } from 'sealrelay/client/node';
 *
 * const client = await SealRelayClient.create({
 *   url: 'wss://relay.example.com/',
 *   transport: nodeTransport(),
 *   storage: new FileStorage('./device-1'),
 *   device: { keys, certificate },            // from the keystore and the tenant authority
 *   trustedAuthorities: [authorityPublicKey],
 * });
 * client.on('state', ({ to, code }) => console.log(to, code));
 * client.connect();
 *
 * const order = await client.openOrder('SO-1042');
 * await order.send('status', { status: 'picked_up' });
 * for await (const m of order.messages()) {
 *   if (m.kind === 'location') map.move(m.body.lat, m.body.lng);
 * }
 *
 * Delivery contract: `send` resolves once the message is stored on the device;
 * it is retried with the same id until the relay acknowledges it, across
 * reconnects and (with FileStorage / IndexedDbStorage / WechatStorage) restarts.
 * Received messages are handed over once each, in sequence order; anything that
 * does not verify is a `warning`, never a `message`.
 */

// ---------------------------------------------------------------- values
export { SealRelayClient } from './client.ts';
export { OrderSession } from './order.ts';
export { SealRelayError, isSealRelayError, CLIENT_ERRORS } from './errors.ts';
export { CLIENT_CODES, reasonOf } from './codes.ts';
export { Connection } from './connection.ts';
export { backoff, DEFAULT_BACKOFF } from './backoff.ts';
export { MessageBodies, MESSAGE_KINDS, AttachmentRef, defaultScope, isMessageKind } from './messages.ts';
export { fetchHttpClient } from './attachments.ts';
export { browserTransport, watchBrowserNetwork } from './transport/browser.ts';
export { wechatTransport, watchWechatNetwork, wechatHttpClient } from './transport/wechat.ts';
export { MemoryStorage } from './storage/memory.ts';
export { IndexedDbStorage } from './storage/indexeddb.ts';
export { WechatStorage } from './storage/wechat.ts';
export { systemClock } from './clock.ts';

// ---------------------------------------------------------------- types
export type { ClientOptions, ClientEvents, ClientWarning, DeviceIdentity, OpenOrderOptions } from './client.ts';
export type { OrderEvents, OrderWarning, ReceivedMessage, SendOptions, SentMessage, Sender } from './order.ts';
export type { SealRelayErrorCode, ClientErrorCode } from './errors.ts';
export type { ClientCode, TransitionCode } from './codes.ts';
export type { ConnectionState, StateChange, ConnectionOptions, DeviceAuth } from './connection.ts';
export type { BackoffOptions } from './backoff.ts';
export type { MessageKind, MessageBody } from './messages.ts';
export type { AttachmentMeta, AttachmentPhase, AttachmentProgress, HttpClient } from './attachments.ts';
export type { OutboxOptions } from './outbox.ts';
export type { Transport, TransportSink, TransportSocket } from './transport/types.ts';
export type { WebSocketLike, WebSocketConstructor, NetworkEventsLike } from './transport/browser.ts';
export type { WxSocketApi, WxSocketTask, WxNetworkApi, WxRequestApi } from './transport/wechat.ts';
export type { WxStorageApi } from './storage/wechat.ts';
export type { ClientStorage } from './storage/types.ts';
export type { Clock } from './clock.ts';
