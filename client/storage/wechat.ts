/**
 * WeChat mini-program storage over `wx.setStorageSync` / `getStorageSync`
 * (developers.weixin.qq.com/miniprogram/dev/api/storage/wx.setStorageSync.html).
 * Bytes are stored as base64 strings, since wx storage serializes values as JSON
 * and would turn a Uint8Array into an object of indices. Limits: 1 MB per key and
 * 10 MB per mini-program, so keep attachments out of it.
 */
import { base64ToBytes, bytesToBase64, type ClientStorage } from './types.ts';

/** The part of `wx` this storage uses. */
export interface WxStorageApi {
  setStorageSync(key: string, data: string): void;
  /** Returns '' when the key is missing (documented behaviour). */
  getStorageSync(key: string): unknown;
  removeStorageSync(key: string): void;
  getStorageInfoSync(): { keys: string[] };
}

export class WechatStorage implements ClientStorage {
  /** @param namespace prefixes every key, so the SDK never collides with the app's own storage. */
  constructor(
    private readonly wxApi: WxStorageApi,
    private readonly namespace = 'sealrelay:',
  ) {}

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = this.wxApi.getStorageSync(this.namespace + key);
    return typeof v === 'string' && v !== '' ? base64ToBytes(v) : undefined;
  }
  async set(key: string, value: Uint8Array): Promise<void> {
    this.wxApi.setStorageSync(this.namespace + key, bytesToBase64(value));
  }
  async delete(key: string): Promise<void> {
    this.wxApi.removeStorageSync(this.namespace + key);
  }
  async list(prefix: string): Promise<string[]> {
    const full = this.namespace + prefix;
    return this.wxApi
      .getStorageInfoSync()
      .keys.filter((k) => k.startsWith(full))
      .map((k) => k.slice(this.namespace.length))
      .sort();
  }
}
