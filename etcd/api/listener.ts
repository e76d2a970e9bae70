// One port, two protocols, as etcd serves them with cmux: a connection that
// opens with the HTTP/2 preface goes to gRPC, anything else to HTTP/1.1.
// TLS would terminate before this sniffing, routing on ALPN instead.

import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { EtcdBackend } from '../server/backend.js';
import { createGatewayHandler } from './gateway.js';
import { createGrpcServer, type Logger } from './grpc.js';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface ApiServerOptions {
  /** Client URLs to listen on, e.g. http://127.0.0.1:2379. */
  urls: string[];
  maxRequestBytes: number;
  log: Logger;
}

export interface ApiServer {
  /** The bound ports, in the order of `urls` (useful with port 0). */
  ports: number[];
  close(): Promise<void>;
}

function parseListenUrl(raw: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`invalid listen URL "${raw}"`);
  }
  if (u.protocol !== 'http:') throw new Error(`listen URL "${raw}": only http:// is supported (TLS is not configured)`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port === '' ? 2379 : Number(u.port);
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

export async function startApiServer(backend: EtcdBackend, opts: ApiServerOptions): Promise<ApiServer> {
  const grpcServer = createGrpcServer(backend, opts.log);
  const http = createHttpServer({ keepAliveTimeout: 30_000 }, createGatewayHandler(backend, opts.log));
  const sockets = new Set<Socket>();

  const route = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      // Decide once the prefix is conclusive either way.
      if (isH2 && seen.length < H2_PREFACE.length) return;
      socket.off('data', onData);
      socket.pause();
      socket.unshift(seen);
      if (isH2) {
        // The HTTP/2 connection attaches its 'data' listener and resumes
        // the socket itself; the bytes unshifted here come first.
        grpcServer.handleConnection(socket);
      } else {
        // The HTTP/1 parser takes buffered bytes through 'data' events.
        http.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  };

  const servers: Server[] = [];
  const ports: number[] = [];
  try {
    for (const raw of opts.urls) {
      const { host, port } = parseListenUrl(raw);
      const server = createNetServer({ noDelay: true }, route);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
      const addr = server.address();
      ports.push(typeof addr === 'object' && addr ? addr.port : port);
      opts.log('info', 'serving client traffic insecurely; this is strongly discouraged!', { address: `${host}:${ports.at(-1)}` });
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }

  return {
    ports,
    async close() {
      // Stop accepting first; a net server's close only completes once its
      // connections are gone, so drop those before waiting on it.
      const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      grpcServer.close();
      http.close();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
