/**
 * The bare uWS pub/sub relay: the upper bound of this stack. A socket opened at
 * /o/<order>/sub subscribes to the order's topic; bytes arriving on /o/<order>/pub
 * are app.publish()ed to it. Nothing else: no auth, no store, no acks.
 *
 * Usage: node --import tsx loadtest/peers/uws-relay-main.ts <port> [host]
 */
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { loadNativeUws } from './native-uws.ts';

interface Socket {
  topic: string;
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
      const order = req.getParameter(0) ?? '';
      const role = req.getParameter(1) ?? '';
      res.upgrade<Socket>(
        { topic: `o/${order}`, publisher: role === 'pub' },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open(ws) {
      const d = ws.getUserData();
      if (!d.publisher) ws.subscribe(d.topic);
    },
    message(ws, message, isBinary) {
      app.publish(ws.getUserData().topic, message, isBinary);
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
