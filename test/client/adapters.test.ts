/**
 * The WeChat and browser adapters against stand-ins that follow the documented
 * APIs (wx.connectSocket / SocketTask, wx storage; WHATWG WebSocket), including
 * their quirks: WeChat's options-object close and '' for missing storage keys,
 * the browser's default binaryType 'blob'.
 */
import { describe, expect, it } from 'vitest';
import { decodeClientFrame, encodeFrame } from '../../protocol/index.ts';
import { Connection } from '../../client/connection.ts';
import { browserTransport, watchBrowserNetwork, type WebSocketLike } from '../../client/transport/browser.ts';
import { wechatHttpClient, wechatTransport, watchWechatNetwork, type WxRequestApi, type WxSocketApi, type WxSocketTask } from '../../client/transport/wechat.ts';
import { WechatStorage, type WxStorageApi } from '../../client/storage/wechat.ts';
import { flush, welcomeFrame } from './fakes.ts';

/** A SocketTask as documented: callbacks registered with on*, send/close take option objects. */
class FakeSocketTask implements WxSocketTask {
  readonly sent: ArrayBuffer[] = [];
  private cbs: { open?: (r: { header?: Record<string, string> }) => void; close?: (r: { code: number; reason: string }) => void; error?: (r: { errMsg: string }) => void; message?: (r: { data: string | ArrayBuffer }) => void } = {};
  readyState: 'connecting' | 'open' | 'closed' = 'connecting';
  constructor(readonly url: string) {}
  send(opts: { data: string | ArrayBuffer; fail?: (e: { errMsg: string }) => void }) {
    if (this.readyState !== 'open') return opts.fail?.({ errMsg: 'sendSocketMessage:fail WebSocket is not connected' });
    if (!(opts.data instanceof ArrayBuffer)) throw new Error('test expects binary only');
    this.sent.push(opts.data);
  }
  close(opts: { code?: number; reason?: string }) {
    if (opts.code !== undefined && opts.code !== 1000 && (opts.code < 3000 || opts.code > 4999)) throw new Error('wx: code must be 1000 or 3000-4999');
    this.readyState = 'closed';
    queueMicrotask(() => this.cbs.close?.({ code: opts.code ?? 1000, reason: opts.reason ?? '' }));
  }
  onOpen(cb: (r: { header?: Record<string, string> }) => void) { this.cbs.open = cb; }
  onClose(cb: (r: { code: number; reason: string }) => void) { this.cbs.close = cb; }
  onError(cb: (r: { errMsg: string }) => void) { this.cbs.error = cb; }
  onMessage(cb: (r: { data: string | ArrayBuffer }) => void) { this.cbs.message = cb; }
  // test controls (the "network")
  serverOpen() { this.readyState = 'open'; this.cbs.open?.({ header: {} }); }
  serverSend(data: Uint8Array) { this.cbs.message?.({ data: new Uint8Array(data).buffer }); }
  serverText(s: string) { this.cbs.message?.({ data: s }); }
  networkError() { this.cbs.error?.({ errMsg: 'network lost' }); this.readyState = 'closed'; this.cbs.close?.({ code: 1006, reason: 'abnormal closure' }); }
}

class FakeWx implements WxSocketApi, WxStorageApi {
  readonly tasks: FakeSocketTask[] = [];
  readonly store = new Map<string, unknown>();
  private netCb: ((r: { isConnected: boolean; networkType: string }) => void) | undefined;
  connectSocket(opts: { url: string }) {
    const t = new FakeSocketTask(opts.url);
    this.tasks.push(t);
    return t;
  }
  setStorageSync(key: string, data: string) {
    // wx serializes values; keep what a real round trip would give back.
    this.store.set(key, JSON.parse(JSON.stringify(data)));
  }
  getStorageSync(key: string) { return this.store.has(key) ? this.store.get(key) : ''; }
  removeStorageSync(key: string) { this.store.delete(key); }
  getStorageInfoSync() { return { keys: [...this.store.keys()], currentSize: 0, limitSize: 10240 }; }
  onNetworkStatusChange(cb: (r: { isConnected: boolean; networkType: string }) => void) { this.netCb = cb; }
  offNetworkStatusChange() { this.netCb = undefined; }
  setNetwork(isConnected: boolean) { this.netCb?.({ isConnected, networkType: isConnected ? '4g' : 'none' }); }
}

const auth = { deviceId: 'dev-1', certificate: new Uint8Array([1]), sign: () => new Uint8Array(64) };

describe('WeChat mini-program adapter', () => {
  it('opens a SocketTask, sends ArrayBuffers, and reaches connected through the real state machine', async () => {
    const wx = new FakeWx();
    const conn = new Connection({ url: 'wss://relay/ws', transport: wechatTransport(wx), auth });
    conn.connect();
    const task = wx.tasks[0]!;
    expect(task.url).toBe('wss://relay/ws');
    task.serverOpen();
    expect(task.sent).toHaveLength(1);
    expect(task.sent[0]).toBeInstanceOf(ArrayBuffer);
    // Exactly the frame's bytes, not the encoder's whole shared pool.
    expect(decodeClientFrame(new Uint8Array(task.sent[0]!))).toMatchObject({ t: 'connect', deviceId: 'dev-1' });
    task.serverSend(encodeFrame(welcomeFrame()));
    expect(conn.state).toBe('connected');
    conn.close();
    await flush();
    expect(task.readyState).toBe('closed');
  });

  it('reports a network error as the end of the socket and schedules a reconnect', () => {
    const wx = new FakeWx();
    const conn = new Connection({ url: 'wss://r', transport: wechatTransport(wx), auth, random: () => 0 });
    const codes: string[] = [];
    conn.on('reconnecting', (r) => codes.push(r.code));
    conn.connect();
    wx.tasks[0]!.serverOpen();
    wx.tasks[0]!.networkError();
    expect(codes).toEqual(['TRANSPORT_ERROR']);
    conn.close();
  });

  it('rejects text frames, since the protocol is binary only', () => {
    const wx = new FakeWx();
    const errors: string[] = [];
    const sock = wechatTransport(wx).open('wss://r', { open() {}, message() {}, close() {}, error: (e) => errors.push(e.message) });
    wx.tasks[0]!.serverOpen();
    wx.tasks[0]!.serverText('hello');
    expect(errors[0]).toMatch(/binary only/);
    sock.close();
  });

  it('forwards wx network status changes as online/offline hints', () => {
    const wx = new FakeWx();
    const seen: string[] = [];
    const stop = watchWechatNetwork(wx, { online: () => seen.push('online'), offline: () => seen.push('offline') });
    wx.setNetwork(false);
    wx.setNetwork(true);
    stop();
    wx.setNetwork(false);
    expect(seen).toEqual(['offline', 'online']);
  });

  it('sends attachment HTTP through wx.request with ArrayBuffer bodies and reads the status and body back', async () => {
    const calls: Parameters<WxRequestApi['request']>[0][] = [];
    const wxReq: WxRequestApi = {
      request(opts) {
        calls.push(opts);
        if (opts.url.endsWith('/fail')) opts.fail({ errMsg: 'request:fail timeout' });
        else opts.success({ statusCode: 201, data: new TextEncoder().encode('{"blobId":"b1"}').buffer });
      },
    };
    const http = wechatHttpClient(wxReq);
    const res = await http({ method: 'POST', url: 'https://r/v1/orders/o/blobs', headers: { 'x-a': '1' }, body: new Uint8Array([1, 2, 3]) });
    expect(res.status).toBe(201);
    expect(new TextDecoder().decode(res.body)).toBe('{"blobId":"b1"}');
    expect(calls[0]).toMatchObject({ method: 'POST', header: { 'x-a': '1' }, responseType: 'arraybuffer' });
    expect(new Uint8Array(calls[0]!.data!)).toEqual(new Uint8Array([1, 2, 3]));
    await expect(http({ method: 'GET', url: 'https://r/fail', headers: {} })).rejects.toThrow(/timeout/);
  });

  it('keeps bytes in wx storage as base64 strings under a namespace, and reads missing keys as absent', async () => {
    const wx = new FakeWx();
    const storage = new WechatStorage(wx);
    const bytes = new Uint8Array(300).map((_, i) => (i * 37) & 0xff);
    await storage.set('outbox/o/1', bytes);
    await storage.set('inbox/o', new Uint8Array([1]));
    expect(typeof wx.store.get('sealrelay:outbox/o/1')).toBe('string');
    expect(await storage.get('outbox/o/1')).toEqual(bytes);
    expect(await storage.get('missing')).toBeUndefined();
    expect(await storage.list('outbox/')).toEqual(['outbox/o/1']);
    await storage.delete('outbox/o/1');
    expect(await storage.list('outbox/')).toEqual([]);
  });
});

/** A WHATWG-shaped WebSocket: binaryType starts as 'blob', events are on* properties. */
class FakeBrowserSocket implements WebSocketLike {
  static instances: FakeBrowserSocket[] = [];
  binaryType = 'blob';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: ArrayBuffer[] = [];
  constructor(readonly url: string) {
    FakeBrowserSocket.instances.push(this);
  }
  send(data: ArrayBuffer) {
    if (this.readyState !== 1) throw new Error('InvalidStateError');
    this.sent.push(data);
  }
  close(code?: number, reason?: string) {
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code: code ?? 1005, reason: reason ?? '' }));
  }
  serverOpen() { this.readyState = 1; this.onopen?.({}); }
  serverSend(data: Uint8Array) {
    // What a browser does with binaryType 'blob' vs 'arraybuffer'.
    this.onmessage?.({ data: this.binaryType === 'arraybuffer' ? new Uint8Array(data).buffer : { size: data.length } });
  }
}

describe('browser adapter', () => {
  it('switches binaryType to arraybuffer so frames arrive synchronously as bytes', () => {
    FakeBrowserSocket.instances = [];
    const conn = new Connection({ url: 'wss://r', transport: browserTransport(FakeBrowserSocket), auth });
    conn.connect();
    const ws = FakeBrowserSocket.instances[0]!;
    expect(ws.binaryType).toBe('arraybuffer');
    ws.serverOpen();
    expect(ws.sent).toHaveLength(1);
    ws.serverSend(encodeFrame(welcomeFrame()));
    expect(conn.state).toBe('connected');
    conn.close();
  });

  it('does not send on a socket that is not open (no InvalidStateError escapes)', () => {
    FakeBrowserSocket.instances = [];
    const sock = browserTransport(FakeBrowserSocket).open('wss://r', { open() {}, message() {}, close() {}, error() {} });
    expect(() => sock.send(new Uint8Array([1]))).not.toThrow();
    expect(FakeBrowserSocket.instances[0]!.sent).toHaveLength(0);
  });

  it('forwards window online/offline events and stops when asked', () => {
    const target = new EventTarget();
    const seen: string[] = [];
    const stop = watchBrowserNetwork(target, { online: () => seen.push('on'), offline: () => seen.push('off') });
    target.dispatchEvent(new Event('offline'));
    target.dispatchEvent(new Event('online'));
    stop();
    target.dispatchEvent(new Event('online'));
    expect(seen).toEqual(['off', 'on']);
  });
});
