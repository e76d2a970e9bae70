// The one-port listener in front of a real single-member server: gRPC and the
// HTTP/1 gateway share the port, and the bytes read while sniffing the HTTP/2
// preface reach the HTTP/2 session however the client's writes were cut.

import * as grpc from '@grpc/grpc-js';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../etcd/api/server.js';
import type { WireObject } from '../../../etcd/api/wire.js';
import { loadEtcdProtos } from '../../../etcd/proto/grpc-object.js';
import type { EtcdServer } from '../../../etcd/server/server.js';
import { openServer, rangeReq, tempDir, until } from '../server/helpers.js';

type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function client(svc: string, target: string): AnyClient {
  let node: unknown = loadEtcdProtos();
  for (const part of svc.split('.')) node = (node as Record<string, unknown>)[part];
  return new (node as grpc.ServiceClientConstructor)(target, grpc.credentials.createInsecure()) as AnyClient;
}

function unary(c: AnyClient, name: string, req: WireObject): Promise<WireObject> {
  return new Promise((resolve, reject) => c[name]!(req, (err: grpc.ServiceError | null, res: WireObject) => (err ? reject(err) : resolve(res))));
}

/**
 * A relay that forwards client bytes a few at a time, yielding between
 * pieces: the listener sees the preface cut up, and the bytes after it
 * (SETTINGS, HEADERS) arrive in the same reads as its tail.
 */
function choppyRelay(targetPort: number, piece: number): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((c) => {
    const up = netConnect(targetPort, '127.0.0.1');
    sockets.add(c).add(up);
    let queue = Promise.resolve();
    c.on('data', (d: Buffer) => {
      queue = queue.then(async () => {
        for (let i = 0; i < d.length; i += piece) {
          up.write(d.subarray(i, i + piece));
          await new Promise((r) => setTimeout(r, 1));
        }
      });
    });
    up.on('data', (d) => c.write(d));
    const end = () => {
      c.destroy();
      up.destroy();
    };
    c.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, sockets })));
}

describe('one-port API listener', () => {
  let tmp: ReturnType<typeof tempDir>;
  let backend: EtcdServer;
  let api: ApiServer;
  let port: number;

  beforeAll(async () => {
    tmp = tempDir();
    backend = await openServer(tmp.dir);
    await until(async () => {
      try {
        await backend.range(rangeReq('x'), {});
        return true;
      } catch {
        return false;
      }
    }, 10_000);
    api = await startApiServer(backend, { urls: ['http://127.0.0.1:0'], maxRequestBytes: 1.5 * 1024 * 1024, log: () => undefined });
    port = api.ports[0]!;
  });
  afterAll(async () => {
    await api?.close();
    await backend?.close();
    tmp?.cleanup();
  });

  it('serves gRPC and the HTTP/1 gateway on one port', async () => {
    const kv = client('etcdserverpb.KV', `127.0.0.1:${port}`);
    try {
      await unary(kv, 'Put', { key: Buffer.from('both'), value: Buffer.from('doors') });
      const r = await unary(kv, 'Range', { key: Buffer.from('both') });
      expect(((r['kvs'] as WireObject[])[0]!['value'] as Buffer).toString()).toBe('doors');
    } finally {
      kv.close();
    }
    const res = await fetch(`http://127.0.0.1:${port}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('both').toString('base64') }) });
    const body = (await res.json()) as { kvs: { value: string }[] };
    expect(Buffer.from(body.kvs[0]!.value, 'base64').toString()).toBe('doors');
  });

  for (const piece of [1, 7, 30]) {
    it(`keeps the sniffed bytes when the client's writes arrive ${piece} byte(s) at a time`, async () => {
      const relay = await choppyRelay(port, piece);
      const kv = client('etcdserverpb.KV', `127.0.0.1:${relay.port}`);
      try {
        await unary(kv, 'Put', { key: Buffer.from(`chop${piece}`), value: Buffer.from('ok') });
        const r = await unary(kv, 'Range', { key: Buffer.from(`chop${piece}`) });
        expect(r['count']).toBe('1');
      } finally {
        kv.close();
        for (const s of relay.sockets) s.destroy();
        await new Promise((r) => relay.server.close(r));
      }
    });
  }

  it('rejects a request over the receive limit with grpc-go\'s message', async () => {
    const kv = client('etcdserverpb.KV', `127.0.0.1:${port}`);
    try {
      await expect(unary(kv, 'Put', { key: Buffer.from('big'), value: Buffer.alloc(3 * 1024 * 1024) })).rejects.toMatchObject({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: expect.stringMatching(/^grpc: received message larger than max \(\d+ vs\. 2097152\)$/),
      });
      await expect(unary(kv, 'Put', { key: Buffer.from('big'), value: Buffer.alloc(2_000_000) })).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: 'etcdserver: request is too large',
      });
    } finally {
      kv.close();
    }
  });

  it('answers the health service', async () => {
    const h = client('grpc.health.v1.Health', `127.0.0.1:${port}`);
    try {
      expect(await unary(h, 'Check', {})).toMatchObject({ status: 'SERVING' });
    } finally {
      h.close();
    }
  });

  it('closes promptly with a watch stream open', async () => {
    const other = await startApiServer(backend, { urls: ['http://127.0.0.1:0'], maxRequestBytes: 1024 * 1024, log: () => undefined });
    const w = client('etcdserverpb.Watch', `127.0.0.1:${other.ports[0]}`);
    try {
      const call = w['Watch']!() as grpc.ClientDuplexStream<WireObject, WireObject>;
      const created = new Promise<void>((r) => call.once('data', () => r()));
      const status = new Promise<grpc.StatusObject>((r) => call.on('status', r));
      call.on('error', () => undefined);
      call.write({ create_request: { key: Buffer.from('w') } });
      await created;
      const start = Date.now();
      await other.close();
      expect((await status).code).not.toBe(grpc.status.OK);
      expect(Date.now() - start).toBeLessThan(2000);
    } finally {
      w.close();
    }
  });
});
