// Loopback TCP fixtures for the toxic tests: upstream servers with a known
// behaviour and a client that records what it receives and when.

import net from 'node:net';
import { once } from 'node:events';

export interface TestServer {
  port: number;
  addr: string;
  connections: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1:0 that runs `onConn` per connection; close() destroys everything. */
export async function tcpServer(onConn: (s: net.Socket) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer((s) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    addr: `127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export const echoServer = (): Promise<TestServer> => tcpServer((s) => s.pipe(s));

/** Writes `payload` once connected, then ends the connection when `end` is set. */
export const sourceServer = (payload: Buffer, end = true): Promise<TestServer> =>
  tcpServer((s) => {
    if (end) s.end(payload);
    else s.write(payload);
  });

export interface Received {
  chunks: Buffer[];
  /** ms timestamps of each data event. */
  times: number[];
  endedAt?: number;
  closedAt?: number;
  error?: NodeJS.ErrnoException;
  total(): Buffer;
}

export interface TestClient {
  socket: net.Socket;
  rx: Received;
  connectedAt: number;
  /** Resolves once `n` bytes have arrived (rejects after `ms`). */
  waitBytes(n: number, ms: number): Promise<number>;
  /** Resolves when the socket closed (rejects after `ms`). */
  waitClosed(ms: number): Promise<number>;
}

export async function connectClient(port: number): Promise<TestClient> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const rx: Received = {
    chunks: [],
    times: [],
    total: () => Buffer.concat(rx.chunks),
  };
  socket.on('data', (d: Buffer) => {
    rx.chunks.push(d);
    rx.times.push(performance.now());
  });
  socket.on('end', () => (rx.endedAt = performance.now()));
  socket.on('error', (e: NodeJS.ErrnoException) => (rx.error = e));
  socket.on('close', () => (rx.closedAt = performance.now()));
  await once(socket, 'connect');
  const connectedAt = performance.now();
  const poll = <T>(ms: number, what: string, check: () => T | undefined): Promise<T> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const tick = (): void => {
        const v = check();
        if (v !== undefined) return resolve(v);
        if (performance.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`));
        setTimeout(tick, 5);
      };
      tick();
    });
  return {
    socket,
    rx,
    connectedAt,
    waitBytes: (n, ms) =>
      poll(ms, `${n} bytes (have ${rx.total().length})`, () => {
        let sum = 0;
        for (let i = 0; i < rx.chunks.length; i++) {
          sum += (rx.chunks[i] as Buffer).length;
          if (sum >= n) return rx.times[i];
        }
        return undefined;
      }),
    waitClosed: (ms) => poll(ms, 'close', () => rx.closedAt),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
