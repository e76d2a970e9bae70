// The HTTP/2 gRPC server on its own: raw HTTP/2 requests for the wire details
// (trailers-only errors, framing, deadlines, compression), and the grpc-js
// client for unary and streaming round trips.

import * as grpc from '@grpc/grpc-js';
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect, createServer, type Server } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toStatus } from '../../../etcd/api/errors.js';
import { frameMessage } from '../../../etcd/api/h2grpc/framing.js';
import { H2GrpcServer, type MethodDefinition, type StreamingCall } from '../../../etcd/api/h2grpc/server.js';
import { decodeGrpcMessage } from '../../../etcd/api/h2grpc/status.js';
import type { WireObject } from '../../../etcd/api/wire.js';
import { EtcdError, GrpcCode } from '../../../etcd/errors.js';
import { loadEtcdProtos } from '../../../etcd/proto/grpc-object.js';

const MAX = 64 * 1024;
const root = loadEtcdProtos();

function ctor(name: string): grpc.ServiceClientConstructor {
  let node: unknown = root;
  for (const part of name.split('.')) node = (node as Record<string, unknown>)[part];
  return node as grpc.ServiceClientConstructor;
}
const method = (svc: string, m: string) => ctor(svc).service[m] as unknown as MethodDefinition;

const RANGE = method('etcdserverpb.KV', 'Range');
const PUT = method('etcdserverpb.KV', 'Put');
const WATCH = method('etcdserverpb.Watch', 'Watch');
const SNAPSHOT = method('etcdserverpb.Maintenance', 'Snapshot');
const KEEPALIVE = method('etcdserverpb.Lease', 'LeaseKeepAlive');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolvers for events the server-side methods report to the tests. */
const events = {
  watchCancelled: 0,
  snapshotDrains: 0,
  keepAliveCancelled: [] as (() => void)[],
};

function watchEcho(call: StreamingCall): void {
  let n = 0;
  call.onMessage = (req) => {
    const create = req['create_request'] as WireObject | null;
    if (create && Buffer.from(create['key'] as Buffer).toString() === 'boom') throw new EtcdError(GrpcCode.INVALID_ARGUMENT, 'bad watch');
    call.write({ watch_id: String(++n), created: true });
  };
  call.onHalfClose = () => call.end();
  call.onCancel = () => events.watchCancelled++;
}

/** Writes 64 KiB blobs until the transport pushes back, waits for drain, then once more and ends. */
function snapshotFlood(call: StreamingCall): void {
  const blob = Buffer.alloc(64 * 1024, 7);
  let sent = 0;
  while (call.write({ remaining_bytes: '1', blob }) && sent < 1000) sent++;
  call.onDrain = () => {
    events.snapshotDrains++;
    call.onDrain = null;
    call.write({ remaining_bytes: '0', blob: Buffer.from('last') });
    call.end();
  };
}

function startTestServer(): H2GrpcServer {
  const srv = new H2GrpcServer({ maxReceiveMessageLength: MAX, toStatus: (err) => toStatus(err) });
  srv.addUnary(RANGE, async (req, headers) => {
    const key = Buffer.from(req['key'] as Buffer).toString();
    if (key === 'fail') throw new EtcdError(GrpcCode.FAILED_PRECONDITION, 'etcdserver: naïve 100% failure\nsecond line');
    if (key === 'hang') return new Promise<WireObject>(() => undefined);
    if (key === 'crash') throw new TypeError('boom');
    if (key === 'large') return { kvs: [{ key: req['key'], value: Buffer.alloc(300_000, 9) }], count: '1' };
    const token = headers['token'];
    return { kvs: [{ key: req['key'], value: Buffer.from(typeof token === 'string' ? token : 'v') }], count: '1' };
  });
  srv.addUnary(PUT, async (req) => ({ prev_kv: { key: req['key'], value: req['value'] } }));
  srv.addStreaming(WATCH, watchEcho);
  srv.addStreaming(SNAPSHOT, snapshotFlood);
  srv.addStreaming(KEEPALIVE, (call) => {
    call.onCancel = () => events.keepAliveCancelled.shift()?.();
  });
  return srv;
}

interface RawResult {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | null;
  data: Buffer;
}

function grpcStatus(r: RawResult): { code: number; message: string } {
  const src = r.trailers ?? r.headers;
  return { code: Number(src['grpc-status']), message: decodeGrpcMessage(String(src['grpc-message'] ?? '')) };
}

/** One raw HTTP/2 request: chunks written as separate DATA frames, then END_STREAM. */
async function rawCall(session: ClientHttp2Session, path: string, chunks: Buffer[], extra: Record<string, string> = {}): Promise<RawResult> {
  const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra });
  const result: RawResult = { headers: {}, trailers: null, data: Buffer.alloc(0) };
  const parts: Buffer[] = [];
  req.on('response', (h) => (result.headers = h));
  req.on('trailers', (t) => (result.trailers = t));
  req.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise<void>((resolve) => req.on('close', resolve));
  req.on('error', () => undefined);
  for (const c of chunks) {
    req.write(c);
    await new Promise((r) => setImmediate(r));
  }
  req.end();
  await done;
  result.data = Buffer.concat(parts);
  return result;
}

const rangeBytes = (key: string) => Buffer.from(ctor('etcdserverpb.KV').service['Range']!.requestSerialize({ key: Buffer.from(key) }));

describe('HTTP/2 gRPC server', () => {
  let srv: H2GrpcServer;
  let net: Server;
  let port: number;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    srv = startTestServer();
    net = createServer((s) => srv.handleConnection(s));
    await new Promise<void>((r) => net.listen(0, '127.0.0.1', r));
    port = (net.address() as { port: number }).port;
    session = connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
  });
  afterAll(async () => {
    session?.close();
    srv?.close();
    await new Promise((r) => net?.close(r));
  });

  describe('over raw HTTP/2', () => {
    it('answers a unary call with headers, one message and grpc-status 0 trailers', async () => {
      const r = await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(rangeBytes('k'))]);
      expect(r.headers[':status']).toBe(200);
      expect(r.headers['content-type']).toBe('application/grpc');
      expect(r.trailers?.['grpc-status']).toBe('0');
      expect(r.data.readUInt32BE(1)).toBe(r.data.length - 5);
      const decoded = ctor('etcdserverpb.KV').service['Range']!.responseDeserialize(r.data.subarray(5)) as WireObject;
      expect((decoded['kvs'] as WireObject[])[0]!['value']).toEqual(Buffer.from('v'));
    });

    it('passes request metadata through to the method', async () => {
      const r = await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(rangeBytes('k'))], { token: 'tok123' });
      const decoded = ctor('etcdserverpb.KV').service['Range']!.responseDeserialize(r.data.subarray(5)) as WireObject;
      expect((decoded['kvs'] as WireObject[])[0]!['value']).toEqual(Buffer.from('tok123'));
    });

    it('reassembles a request sent one byte per DATA frame', async () => {
      const framed = frameMessage(rangeBytes('split'));
      const r = await rawCall(session, '/etcdserverpb.KV/Range', [...framed].map((b) => Buffer.from([b])));
      expect(grpcStatus(r).code).toBe(0);
      expect(r.data.length).toBeGreaterThan(5);
    });

    it('answers unknown methods and services with a trailers-only UNIMPLEMENTED', async () => {
      const m = await rawCall(session, '/etcdserverpb.KV/Nope', [frameMessage(Buffer.alloc(0))]);
      expect(m.trailers).toBeNull();
      expect(m.data.length).toBe(0);
      expect(m.headers[':status']).toBe(200);
      expect(grpcStatus(m)).toEqual({ code: GrpcCode.UNIMPLEMENTED, message: 'unknown method Nope for service etcdserverpb.KV' });
      const s = await rawCall(session, '/x.Y/Z', []);
      expect(grpcStatus(s)).toEqual({ code: GrpcCode.UNIMPLEMENTED, message: 'unknown service x.Y' });
    });

    it('refuses a request that is not gRPC with HTTP 415', async () => {
      const r = await rawCall(session, '/etcdserverpb.KV/Range', [], { 'content-type': 'application/json' });
      expect(r.headers[':status']).toBe(415);
    });

    it('sends method errors trailers-only with a percent-encoded grpc-message', async () => {
      const r = await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(rangeBytes('fail'))]);
      expect(r.trailers).toBeNull();
      expect(r.headers['grpc-status']).toBe(String(GrpcCode.FAILED_PRECONDITION));
      expect(r.headers['grpc-message']).toBe('etcdserver: na%C3%AFve 100%25 failure%0Asecond line');
      expect(grpcStatus(r).message).toBe('etcdserver: naïve 100% failure\nsecond line');
    });

    it('reports an unexpected error as UNKNOWN', async () => {
      const r = await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(rangeBytes('crash'))]);
      expect(grpcStatus(r)).toEqual({ code: GrpcCode.UNKNOWN, message: 'boom' });
    });

    it('ends a call still running at its grpc-timeout with DEADLINE_EXCEEDED', async () => {
      const start = Date.now();
      const r = await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(rangeBytes('hang'))], { 'grpc-timeout': '100000u' });
      expect(grpcStatus(r).code).toBe(GrpcCode.DEADLINE_EXCEEDED);
      expect(Date.now() - start).toBeGreaterThanOrEqual(90);
      expect(Date.now() - start).toBeLessThan(5000);
    });

    it('answers a call that finishes in time normally despite a grpc-timeout', async () => {
      const r = await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(rangeBytes('k'))], { 'grpc-timeout': '50m' });
      expect(grpcStatus(r).code).toBe(0);
      await sleep(80); // the cleared timer must not fire a second status
    });

    it('treats a grpc-timeout beyond a timer\'s range (grpc-go sends 720H for 30 days) as no deadline', async () => {
      const req = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', 'grpc-timeout': '720H' });
      req.on('error', () => undefined);
      let answered = false;
      req.on('response', () => (answered = true));
      const closed = new Promise<void>((r) => req.on('close', r));
      req.end(frameMessage(rangeBytes('hang')));
      await sleep(200);
      expect(answered).toBe(false);
      req.close(constants.NGHTTP2_CANCEL);
      await closed;
    });

    it('refuses a malformed grpc-timeout', async () => {
      const r = await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(rangeBytes('k'))], { 'grpc-timeout': 'soon' });
      expect(grpcStatus(r).code).toBe(GrpcCode.INTERNAL);
    });

    it('rejects an oversized message with RESOURCE_EXHAUSTED in grpc-go wording', async () => {
      const big = frameMessage(Buffer.alloc(MAX + 1, 0));
      const r = await rawCall(session, '/etcdserverpb.KV/Put', [big.subarray(0, 1000), big.subarray(1000)]);
      expect(grpcStatus(r)).toEqual({ code: GrpcCode.RESOURCE_EXHAUSTED, message: `grpc: received message larger than max (${MAX + 1} vs. ${MAX})` });
      // The connection is still usable afterwards.
      expect(grpcStatus(await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(rangeBytes('k'))])).code).toBe(0);
    });

    it('accepts gzip-compressed requests and refuses unknown encodings', async () => {
      const z = gzipSync(rangeBytes('zipped'));
      const framed = Buffer.concat([Buffer.from([1, 0, 0, 0, 0]), z]);
      framed.writeUInt32BE(z.length, 1);
      const ok = await rawCall(session, '/etcdserverpb.KV/Range', [framed], { 'grpc-encoding': 'gzip' });
      expect(grpcStatus(ok).code).toBe(0);
      const bad = await rawCall(session, '/etcdserverpb.KV/Range', [framed], { 'grpc-encoding': 'snappy' });
      expect(grpcStatus(bad).code).toBe(GrpcCode.UNIMPLEMENTED);
    });

    it('refuses a unary call with no message, two messages or a truncated one', async () => {
      const one = frameMessage(rangeBytes('k'));
      expect(grpcStatus(await rawCall(session, '/etcdserverpb.KV/Range', [])).code).toBe(GrpcCode.INTERNAL);
      expect(grpcStatus(await rawCall(session, '/etcdserverpb.KV/Range', [Buffer.concat([one, one])])).code).toBe(GrpcCode.INTERNAL);
      expect(grpcStatus(await rawCall(session, '/etcdserverpb.KV/Range', [one.subarray(0, 7)])).code).toBe(GrpcCode.INTERNAL);
    });

    it('refuses a message that is not valid protobuf', async () => {
      const r = await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(Buffer.from([0xff, 0xff, 0xff]))]);
      expect(grpcStatus(r).code).toBe(GrpcCode.INTERNAL);
      expect(grpcStatus(r).message).toMatch(/^grpc: error unmarshalling request/);
    });

    it('delivers several messages that arrive in one DATA frame to a bidi method', async () => {
      const watchReq = (key: string) => frameMessage(ctor('etcdserverpb.Watch').service['Watch']!.requestSerialize({ create_request: { key: Buffer.from(key) } }));
      const r = await rawCall(session, '/etcdserverpb.Watch/Watch', [Buffer.concat([watchReq('a'), watchReq('b'), watchReq('c')])]);
      expect(grpcStatus(r).code).toBe(0);
      const ids: string[] = [];
      for (let p = 0; p < r.data.length; ) {
        const len = r.data.readUInt32BE(p + 1);
        ids.push((ctor('etcdserverpb.Watch').service['Watch']!.responseDeserialize(r.data.subarray(p + 5, p + 5 + len)) as WireObject)['watch_id'] as string);
        p += 5 + len;
      }
      expect(ids).toEqual(['1', '2', '3']);
    });

    it('survives a client resetting a stream with an error code', async () => {
      const before = events.keepAliveCancelled.length;
      const cancelled = new Promise<void>((r) => events.keepAliveCancelled.push(r));
      const req = session.request({ ':method': 'POST', ':path': '/etcdserverpb.Lease/LeaseKeepAlive', 'content-type': 'application/grpc' });
      req.on('error', () => undefined);
      req.write(frameMessage(Buffer.alloc(0)));
      await sleep(20);
      req.close(constants.NGHTTP2_INTERNAL_ERROR);
      await cancelled;
      expect(events.keepAliveCancelled.length).toBe(before);
      expect(grpcStatus(await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(rangeBytes('k'))])).code).toBe(0);
    });
  });

  it('survives clients that send garbage or vanish mid-message', async () => {
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    for (const tail of [Buffer.alloc(0), Buffer.from('not a frame at all, just noise'.repeat(20)), Buffer.from([0, 0, 4, 8, 0, 0, 0, 0, 0])]) {
      const sock = netConnect(port, '127.0.0.1');
      sock.on('error', () => undefined);
      sock.resume();
      await new Promise((r) => sock.once('connect', r));
      sock.write(Buffer.concat([preface, tail]));
      await sleep(20);
      sock.destroy();
    }
    const s2 = connect(`http://127.0.0.1:${port}`);
    s2.on('error', () => undefined);
    const req = s2.request({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc' });
    req.on('error', () => undefined);
    req.write(frameMessage(Buffer.alloc(100)).subarray(0, 50));
    await sleep(20);
    s2.destroy();
    expect(grpcStatus(await rawCall(session, '/etcdserverpb.KV/Range', [frameMessage(rangeBytes('k'))])).code).toBe(0);
  });

  describe('with the grpc-js client', () => {
    let kv: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
    let watchClient: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
    let maint: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

    beforeAll(() => {
      const make = (svc: string) => new (ctor(svc))(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof kv;
      kv = make('etcdserverpb.KV');
      watchClient = make('etcdserverpb.Watch');
      maint = make('etcdserverpb.Maintenance');
    });
    afterAll(() => {
      kv?.close();
      watchClient?.close();
      maint?.close();
    });

    const unary = (name: string, req: WireObject, md = new grpc.Metadata(), opts: grpc.CallOptions = {}) =>
      new Promise<WireObject>((resolve, reject) => {
        kv[name]!(req, md, opts, (err: grpc.ServiceError | null, res: WireObject) => (err ? reject(err) : resolve(res)));
      });

    it('round-trips unary calls', async () => {
      const md = new grpc.Metadata();
      md.set('token', 'secret');
      const r = await unary('Range', { key: Buffer.from('x') }, md);
      expect((r['kvs'] as WireObject[])[0]!['value']).toEqual(Buffer.from('secret'));
      expect(r['count']).toBe('1');
      const p = await unary('Put', { key: Buffer.from('k'), value: Buffer.alloc(50_000, 3) });
      expect(((p['prev_kv'] as WireObject)['value'] as Buffer).length).toBe(50_000);
    });

    it('round-trips a response larger than the copy limit', async () => {
      const r = await unary('Range', { key: Buffer.from('large') });
      // Buffer.equals: a deep toEqual over 300k elements is slow.
      expect(((r['kvs'] as WireObject[])[0]!['value'] as Buffer).equals(Buffer.alloc(300_000, 9))).toBe(true);
    });

    it('sees method errors with their code and message', async () => {
      await expect(unary('Range', { key: Buffer.from('fail') })).rejects.toMatchObject({
        code: GrpcCode.FAILED_PRECONDITION,
        details: 'etcdserver: naïve 100% failure\nsecond line',
      });
    });

    it('sees the size limit error', async () => {
      await expect(unary('Put', { key: Buffer.from('k'), value: Buffer.alloc(MAX + 10) })).rejects.toMatchObject({
        code: GrpcCode.RESOURCE_EXHAUSTED,
        details: expect.stringMatching(/^grpc: received message larger than max \(\d+ vs\. 65536\)$/),
      });
    });

    it('sees DEADLINE_EXCEEDED for a call past its deadline', async () => {
      await expect(unary('Range', { key: Buffer.from('hang') }, new grpc.Metadata(), { deadline: Date.now() + 100 })).rejects.toMatchObject({
        code: GrpcCode.DEADLINE_EXCEEDED,
      });
    });

    it('round-trips a bidi stream and ends it on half-close', async () => {
      const call = watchClient['Watch']!() as grpc.ClientDuplexStream<WireObject, WireObject>;
      const got: WireObject[] = [];
      const status = new Promise<grpc.StatusObject>((r) => call.on('status', r));
      call.on('data', (m: WireObject) => got.push(m));
      for (const k of ['a', 'b', 'c']) call.write({ create_request: { key: Buffer.from(k) } });
      while (got.length < 3) await sleep(5);
      call.end();
      expect((await status).code).toBe(GrpcCode.OK);
      expect(got.map((m) => m['watch_id'])).toEqual(['1', '2', '3']);
    });

    it('ends a bidi stream with the error a method throws', async () => {
      const call = watchClient['Watch']!() as grpc.ClientDuplexStream<WireObject, WireObject>;
      const err = new Promise<grpc.ServiceError>((r) => call.on('error', r));
      call.on('data', () => undefined);
      call.write({ create_request: { key: Buffer.from('boom') } });
      expect(await err).toMatchObject({ code: GrpcCode.INVALID_ARGUMENT, details: 'bad watch' });
    });

    it('tells the method when the client cancels', async () => {
      const before = events.watchCancelled;
      const call = watchClient['Watch']!() as grpc.ClientDuplexStream<WireObject, WireObject>;
      call.on('error', () => undefined);
      call.on('data', () => undefined);
      call.write({ create_request: { key: Buffer.from('a') } });
      await sleep(50);
      call.cancel();
      const start = Date.now();
      while (events.watchCancelled === before && Date.now() - start < 5000) await sleep(5);
      expect(events.watchCancelled).toBe(before + 1);
    });

    it('applies backpressure to a server stream and resumes on drain', async () => {
      const call = maint['Snapshot']!({}) as grpc.ClientReadableStream<WireObject>;
      call.pause();
      const status = new Promise<grpc.StatusObject>((r) => call.on('status', r));
      await sleep(200);
      let n = 0;
      let last: WireObject | undefined;
      call.on('data', (m: WireObject) => {
        n++;
        last = m;
      });
      call.resume();
      expect((await status).code).toBe(GrpcCode.OK);
      expect(events.snapshotDrains).toBe(1);
      expect(n).toBeLessThan(1000);
      expect((last!['blob'] as Buffer).toString()).toBe('last');
    });
  });

  it('drops every session promptly on close, cancelling open streams', async () => {
    const other = startTestServer();
    const net2 = createServer((s) => other.handleConnection(s));
    await new Promise<void>((r) => net2.listen(0, '127.0.0.1', r));
    const p = (net2.address() as { port: number }).port;
    const client = new (ctor('etcdserverpb.Watch'))(`127.0.0.1:${p}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, () => grpc.ClientDuplexStream<WireObject, WireObject>>;
    try {
      const call = client['Watch']!();
      const got = new Promise<void>((r) => call.once('data', () => r()));
      const ended = new Promise<grpc.StatusObject>((r) => call.on('status', r));
      call.on('error', () => undefined);
      call.write({ create_request: { key: Buffer.from('a') } });
      await got;
      const before = events.watchCancelled;
      const start = Date.now();
      other.close();
      expect((await ended).code).not.toBe(GrpcCode.OK);
      expect(Date.now() - start).toBeLessThan(1000);
      while (events.watchCancelled === before && Date.now() - start < 2000) await sleep(5);
      expect(events.watchCancelled).toBe(before + 1);
    } finally {
      client.close();
      await new Promise((r) => net2.close(r));
    }
  });
});
