/**
 * The part of the uWebSockets.js API the adapter uses, declared here because the
 * binding is loaded by path (see loader.ts) and so has no module types. Keeping
 * the declaration narrow also documents exactly what we depend on.
 */

export type RecognizedString = string | ArrayBuffer | Uint8Array;

export interface UwsWebSocket<U> {
  send(message: RecognizedString, isBinary?: boolean, compress?: boolean): number;
  getBufferedAmount(): number;
  end(code?: number, shortMessage?: RecognizedString): void;
  close(): void;
  cork(cb: () => void): void;
  getRemoteAddressAsText(): ArrayBuffer;
  getUserData(): U;
}

export interface UwsHttpResponse {
  writeStatus(status: RecognizedString): UwsHttpResponse;
  writeHeader(key: RecognizedString, value: RecognizedString): UwsHttpResponse;
  end(body?: RecognizedString, closeConnection?: boolean): UwsHttpResponse;
  close(): UwsHttpResponse;
  cork(cb: () => void): UwsHttpResponse;
  onAborted(handler: () => void): UwsHttpResponse;
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): UwsHttpResponse;
  getRemoteAddressAsText(): ArrayBuffer;
  upgrade<U>(userData: U, key: RecognizedString, protocol: RecognizedString, extensions: RecognizedString, context: unknown): void;
}

export interface UwsHttpRequest {
  getHeader(lowerCaseKey: RecognizedString): string;
  getParameter(index: number): string | undefined;
  getUrl(): string;
  getMethod(): string;
  getQuery(): string | undefined;
  forEach(cb: (key: string, value: string) => void): void;
}

export interface UwsBehavior<U> {
  maxPayloadLength?: number;
  idleTimeout?: number;
  maxBackpressure?: number;
  closeOnBackpressureLimit?: boolean;
  sendPingsAutomatically?: boolean;
  compression?: number;
  upgrade?: (res: UwsHttpResponse, req: UwsHttpRequest, context: unknown) => void;
  open?: (ws: UwsWebSocket<U>) => void;
  message?: (ws: UwsWebSocket<U>, message: ArrayBuffer, isBinary: boolean) => void;
  drain?: (ws: UwsWebSocket<U>) => void;
  close?: (ws: UwsWebSocket<U>, code: number, message: ArrayBuffer) => void;
}

export type UwsRouteHandler = (res: UwsHttpResponse, req: UwsHttpRequest) => void;

export interface UwsApp {
  ws<U>(pattern: string, behavior: UwsBehavior<U>): UwsApp;
  get(pattern: string, handler: UwsRouteHandler): UwsApp;
  post(pattern: string, handler: UwsRouteHandler): UwsApp;
  put(pattern: string, handler: UwsRouteHandler): UwsApp;
  del(pattern: string, handler: UwsRouteHandler): UwsApp;
  any(pattern: string, handler: UwsRouteHandler): UwsApp;
  listen(host: string, port: number, cb: (listenSocket: unknown) => void): UwsApp;
}

/** The module object of a native uWebSockets.js binding. */
export interface UwsModule {
  App(options?: Record<string, unknown>): UwsApp;
  us_listen_socket_close(listenSocket: unknown): void;
  us_socket_local_port(socket: unknown): number;
  DISABLED: number;
}
