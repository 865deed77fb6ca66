/**
 * WeChat mini-program transport over `wx.connectSocket` and its SocketTask
 * (developers.weixin.qq.com/miniprogram/dev/api/network/websocket/wx.connectSocket.html).
 * Declares only the part of `wx` it uses.
 *
 * WeChat specifics handled here: data is `string | ArrayBuffer` (we send and
 * accept only ArrayBuffer); `close` takes an options object; a failed
 * `connectSocket` reports through `fail` and `onError` and may never call
 * `onClose`, which the connection's generation ids make harmless.
 */
import type { HttpClient } from '../attachments.ts';
import { CLOSE_ABNORMAL, toArrayBuffer, type Transport, type TransportSink, type TransportSocket } from './types.ts';

export interface WxCallbackOptions {
  success?: (res: unknown) => void;
  fail?: (err: { errMsg: string }) => void;
}

/** The documented SocketTask methods we call. */
export interface WxSocketTask {
  send(opts: { data: string | ArrayBuffer } & WxCallbackOptions): void;
  close(opts: { code?: number; reason?: string } & WxCallbackOptions): void;
  onOpen(cb: (res: { header?: Record<string, string> }) => void): void;
  onClose(cb: (res: { code: number; reason: string }) => void): void;
  onError(cb: (res: { errMsg: string }) => void): void;
  onMessage(cb: (res: { data: string | ArrayBuffer }) => void): void;
}

/** The part of `wx` the socket adapter uses. */
export interface WxSocketApi {
  connectSocket(opts: { url: string; header?: Record<string, string>; timeout?: number; tcpNoDelay?: boolean } & WxCallbackOptions): WxSocketTask;
}

/** The part of `wx` the network hints use. */
export interface WxNetworkApi {
  onNetworkStatusChange(cb: (res: { isConnected: boolean; networkType: string }) => void): void;
  offNetworkStatusChange?(cb: (res: { isConnected: boolean; networkType: string }) => void): void;
}

/**
 * @example const transport = wechatTransport(wx);
 */
export function wechatTransport(wxApi: WxSocketApi, opts: { timeoutMs?: number } = {}): Transport {
  return {
    name: 'wechat',
    open(url: string, sink: TransportSink): TransportSocket {
      let open = false;
      let closed = false;
      const task = wxApi.connectSocket({
        url,
        // Small frames (pings, acks) must not wait for Nagle.
        tcpNoDelay: true,
        timeout: opts.timeoutMs ?? 10_000,
        fail: (err) => sink.error(new Error(`wx.connectSocket failed: ${err.errMsg}`)),
      });
      task.onOpen(() => {
        open = true;
        sink.open();
      });
      task.onMessage((res) => {
        if (res.data instanceof ArrayBuffer) sink.message(new Uint8Array(res.data));
        else sink.error(new Error('the relay sent a text frame; the protocol is binary only'));
      });
      task.onClose((res) => {
        closed = true;
        sink.close(res.code || CLOSE_ABNORMAL, res.reason ?? '');
      });
      task.onError((res) => sink.error(new Error(`SocketTask error: ${res.errMsg}`)));
      return {
        send(data) {
          if (!open || closed) return;
          task.send({ data: toArrayBuffer(data), fail: (err) => sink.error(new Error(`SocketTask.send failed: ${err.errMsg}`)) });
        },
        close(code, reason) {
          if (closed) return;
          closed = true;
          // WeChat accepts 1000 or 3000–4999 only.
          task.close({ code: code ?? 1000, reason: reason ?? '' });
        },
      };
    },
  };
}

/**
 * Forward `wx.onNetworkStatusChange` to a client's online()/offline() hints.
 * @example watchWechatNetwork(wx, client);
 */
export function watchWechatNetwork(wxApi: WxNetworkApi, hints: { online(): void; offline(): void }): () => void {
  const cb = (res: { isConnected: boolean }) => (res.isConnected ? hints.online() : hints.offline());
  wxApi.onNetworkStatusChange(cb);
  return () => wxApi.offNetworkStatusChange?.(cb);
}

/** The part of `wx` the HTTP client uses (developers.weixin.qq.com/miniprogram/dev/api/network/request/wx.request.html). */
export interface WxRequestApi {
  request(opts: {
    url: string;
    method: 'GET' | 'POST';
    header: Record<string, string>;
    data?: ArrayBuffer;
    responseType: 'arraybuffer';
    success: (res: { statusCode: number; data: ArrayBuffer | string }) => void;
    fail: (err: { errMsg: string }) => void;
  }): void;
}

/**
 * Large attachments over `wx.request` (mini-programs have no fetch).
 * @example SealRelayClient.create({ ..., http: wechatHttpClient(wx) });
 */
export function wechatHttpClient(wxApi: WxRequestApi): HttpClient {
  return (req) =>
    new Promise((resolve, reject) => {
      wxApi.request({
        url: req.url,
        method: req.method,
        header: req.headers,
        ...(req.body ? { data: toArrayBuffer(req.body) } : {}),
        responseType: 'arraybuffer',
        success: (res) => resolve({ status: res.statusCode, body: typeof res.data === 'string' ? new TextEncoder().encode(res.data) : new Uint8Array(res.data) }),
        fail: (err) => reject(new Error(`wx.request failed: ${err.errMsg}`)),
      });
    });
}
