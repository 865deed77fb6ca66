import { once } from 'node:events';
import net from 'node:net';

/** A TCP echo server on loopback; returns its port and a closer. */
export async function startEchoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export async function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ port, host, noDelay: true, allowHalfOpen: true });
  await once(s, 'connect');
  return s;
}

/** Median round trip of `n` one-byte ping-pongs over an echo connection, ms. */
export async function medianRttMs(port: number, n = 7): Promise<number> {
  const s = await connect(port);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    s.write('x');
    await once(s, 'data');
    samples.push(performance.now() - t0);
  }
  s.destroy();
  samples.sort((a, b) => a - b);
  return samples[Math.floor(n / 2)]!;
}

/** Collect everything a socket sends until it ends or closes. */
export function collect(s: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (b: Buffer) => parts.push(b));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

/** `count` chunks of `size` bytes; chunk i starts with i as uint32 BE, then a byte pattern from i. */
export function numberedChunks(count: number, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const b = Buffer.alloc(size);
    b.writeUInt32BE(i, 0);
    for (let j = 4; j < size; j++) b[j] = (i + j) & 0xff;
    out.push(b);
  }
  return out;
}

/** Index of the first chunk that is missing, out of place or corrupted; -1 if all are intact. */
export function firstBadChunk(received: Buffer, count: number, size: number): number {
  for (let i = 0; i < count; i++) {
    const off = i * size;
    if (off + size > received.length) return i;
    if (received.readUInt32BE(off) !== i) return i;
    for (let j = 4; j < size; j++) if (received[off + j] !== ((i + j) & 0xff)) return i;
  }
  return received.length === count * size ? -1 : count;
}
