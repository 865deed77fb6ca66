/**
 * The same pub/sub relay written with the `ws` library: the common Node choice,
 * to show what uWS buys. /o/<order>/sub subscribes, /o/<order>/pub publishes.
 *
 * Usage: node --import tsx loadtest/peers/ws-relay-main.ts <port> [host]
 */
import { WebSocketServer, type WebSocket } from 'ws';

const port = Number(process.argv[2] ?? 0);
const topics = new Map<string, Set<WebSocket>>();
const wss = new WebSocketServer({ host: process.argv[3] ?? '127.0.0.1', port, perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws, req) => {
  const m = /^\/o\/([^/]+)\/(pub|sub)$/.exec(req.url ?? '');
  if (!m) return ws.close(1008, 'path must be /o/<order>/(pub|sub)');
  const topic = m[1]!;
  if (m[2] === 'sub') {
    let set = topics.get(topic);
    if (!set) topics.set(topic, (set = new Set()));
    set.add(ws);
    ws.on('close', () => set.delete(ws));
  } else {
    ws.on('message', (data: Buffer, isBinary) => {
      for (const s of topics.get(topic) ?? []) s.send(data, { binary: isBinary });
    });
  }
  ws.on('error', () => undefined);
});
wss.on('listening', () => console.log(`ws relay listening on ${port}`));
process.on('SIGTERM', () => process.exit(0));
