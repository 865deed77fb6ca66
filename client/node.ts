/**
 * The SDK for Node: everything in client/index.ts plus the adapters that need
 * Node itself (the `ws` transport and file storage). Kept apart so browser and
 * WeChat bundles of index.ts never reach for `ws` or `node:fs`.
 *
 * @example
 * import { SealRelayClient, nodeTransport, FileStorage } from '../client/node.ts';
 * const client = await SealRelayClient.create({ url, transport: nodeTransport(), storage: new FileStorage(dir), device, trustedAuthorities });
 */
export * from './index.ts';
export { nodeTransport } from './transport/node.ts';
export { FileStorage } from './storage/file.ts';

export type { NodeTransportOptions } from './transport/node.ts';
