/**
 * The same pub/sub relay written with the `ws` library: the common Node choice,
 * to show what uWS buys. /o/<topic>[,<topic>…]/sub subscribes, /o/<topic>/pub publishes.
 *
 * Usage: node --import tsx loadtest/peers/ws-relay-main.ts <port> [host]
 */
import { WebSocketServer, type WebSocket } from 'ws';

const port = Number(process.argv[2] ?? 0);
const topics = new Map<string, Set<WebSocket>>();
const wss = new WebSocketServer({ host: process.argv[3] ?? '127.0.0.1', port, perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws, req) => {
  const m = /^\/o\/([^/]+)\/(pub|sub)$/.exec(req.url ?? '');
  if (!m) return ws.close(1008, 'path must be /o/<topic>[,<topic>…]/(pub|sub)');
  const topic = m[1]!;
  if (m[2] === 'sub') {
    for (const t of topic.split(',')) {
      let set = topics.get(t);
      if (!set) topics.set(t, (set = new Set()));
      set.add(ws);
      ws.on('close', () => set.delete(ws));
    }
  } else {
    ws.on('message', (data: Buffer, isBinary) => {
      for (const s of topics.get(topic) ?? []) s.send(data, { binary: isBinary });
    });
  }
  ws.on('error', () => undefined);
});
wss.on('listening', () => console.log(`ws relay listening on ${port}`));
process.on('SIGTERM', () => process.exit(0));
