/**
 * The bare uWS pub/sub relay: the upper bound of this stack. A socket opened at
 * /o/<topic>[,<topic>…]/sub subscribes to those topics; bytes arriving on
 * /o/<topic>/pub are app.publish()ed to it. Nothing else: no auth, no store, no acks.
 *
 * Usage: node --import tsx loadtest/peers/uws-relay-main.ts <port> [host]
 */
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { loadNativeUws } from './native-uws.ts';

interface Socket {
  /** Publishers: the one topic they publish to; subscribers: the topics they follow. */
  topics: string[];
  publisher: boolean;
}

function main(): void {
  const port = Number(process.argv[2] ?? 0);
  const uws = loadNativeUws();
  const app = uws.App();
  app.ws<Socket>('/o/:order/:role', {
    maxPayloadLength: 64 * 1024,
    idleTimeout: 0,
    upgrade(res, req, context) {
      const topics = (req.getParameter(0) ?? '').split(',').map((t) => `o/${t}`);
      const role = req.getParameter(1) ?? '';
      res.upgrade<Socket>(
        { topics: role === 'pub' ? topics.slice(0, 1) : topics, publisher: role === 'pub' },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open(ws) {
      const d = ws.getUserData();
      if (!d.publisher) for (const t of d.topics) ws.subscribe(t);
    },
    message(ws, message, isBinary) {
      app.publish(ws.getUserData().topics[0]!, message, isBinary);
    },
  });
  app.listen(process.argv[3] ?? '127.0.0.1', port, (sock) => {
    if (!sock) {
      console.error(`bare-uws: cannot listen on ${port}`);
      process.exit(1);
    }
    console.log(`bare-uws listening on ${uws.us_socket_local_port(sock as unknown as Uws.us_socket)}`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

main();
