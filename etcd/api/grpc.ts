// The gRPC door: etcd's services on the lean HTTP/2 gRPC server (h2grpc/),
// which never binds a port itself; connections come from the one-port
// listener (listener.ts). Messages are (de)serialized by the proto-loader
// method definitions, so handlers see the same wire objects as ever.

import type { PackageDefinition } from '@grpc/proto-loader';
import type { IncomingHttpHeaders } from 'node:http2';
import { GrpcCode } from '../errors.js';
import { loadEtcdDefinitions } from '../proto/load.js';
import type { EtcdBackend, RequestContext, WatchResponseOut } from '../server/backend.js';
import { bigintOf, eventToWire, headerToWire, watchCreateFromWire, int64Of } from './convert.js';
import { toStatus } from './errors.js';
import { makeUnaryHandlers } from './handlers.js';
import { decodePutRequest, decodeRangeRequest, encodePutResponse, encodeRangeResponse } from './kv-codec.js';
import { H2GrpcServer, type MethodDefinition, type StreamingCall } from './h2grpc/server.js';
import type { WireObject } from './wire.js';

export type Logger = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** What handlers need from request metadata: the auth token and Go clients' require-leader flag. */
export function contextFromHeaders(headers: IncomingHttpHeaders): RequestContext {
  const token = headers['token'];
  const ctx: RequestContext = {};
  if (typeof token === 'string') ctx.token = token;
  if (headers['hasleader'] === 'true') ctx.requireLeader = true;
  return ctx;
}

export function watchResponseToWire(r: WatchResponseOut): WireObject {
  return {
    header: headerToWire(r.header),
    watch_id: String(r.watchId),
    created: r.created,
    canceled: r.canceled,
    compact_revision: String(r.compactRevision),
    cancel_reason: r.cancelReason,
    fragment: r.fragment,
    events: r.events.map(eventToWire),
  };
}

/** The busiest methods' own codecs (kv-codec.ts); a response they cannot encode falls back to proto-loader. */
const OWN_CODECS: Record<string, { decode(bytes: Buffer): WireObject; encode(res: WireObject): Buffer | undefined }> = {
  'KV/Put': { decode: decodePutRequest, encode: encodePutResponse },
  'KV/Range': { decode: decodeRangeRequest, encode: encodeRangeResponse },
};

function withOwnCodec(key: string, m: MethodDefinition): MethodDefinition {
  const codec = OWN_CODECS[key];
  if (codec === undefined) return m;
  return { ...m, requestDeserialize: codec.decode, responseSerialize: (res) => codec.encode(res) ?? m.responseSerialize(res) };
}

function service(defs: PackageDefinition, path: string): Record<string, MethodDefinition> {
  const svc = defs[path];
  // A service maps method names to definitions; a message type has a `format` field instead.
  if (svc === undefined || 'format' in svc) throw new Error(`proto service ${path} is missing`);
  return svc as unknown as Record<string, MethodDefinition>;
}

export function createGrpcServer(b: EtcdBackend, log: Logger): H2GrpcServer {
  const server = new H2GrpcServer({
    // etcd caps receive at max-request-bytes + 512 KiB and leaves send unlimited.
    maxReceiveMessageLength: b.limits.maxRequestBytes + 512 * 1024,
    toStatus(err, path) {
      const s = toStatus(err);
      if (s.code === GrpcCode.UNKNOWN) log('warn', 'request failed with an unexpected error', { method: path, error: s.details });
      return s;
    },
  });
  const root = loadEtcdDefinitions();
  const unary = makeUnaryHandlers(b);

  const servicesByName: Record<string, string> = {
    KV: 'etcdserverpb.KV',
    Lease: 'etcdserverpb.Lease',
    Cluster: 'etcdserverpb.Cluster',
    Maintenance: 'etcdserverpb.Maintenance',
    Auth: 'etcdserverpb.Auth',
  };

  for (const [short, full] of Object.entries(servicesByName)) {
    const def = service(root, full);
    for (const [method, m] of Object.entries(def)) {
      const key = `${short}/${method}`;
      if (key === 'Lease/LeaseKeepAlive') server.addStreaming(m, (call) => keepAlive(b, call));
      else if (key === 'Maintenance/Snapshot') server.addStreaming(m, (call) => void snapshot(b, call, log));
      else {
        const handler = unary.get(key);
        if (handler) server.addUnary(withOwnCodec(key, m), (req, headers) => handler(req, contextFromHeaders(headers)));
      }
    }
  }

  server.addStreaming(service(root, 'etcdserverpb.Watch')['Watch']!, (call) => watch(b, call, log));
  server.addUnary(service(root, 'grpc.health.v1.Health')['Check']!, async () => ({ status: 'SERVING' }));
  return server;
}

function watch(b: EtcdBackend, call: StreamingCall, log: Logger): void {
  let closed = false;
  const stream = b.openWatchStream(contextFromHeaders(call.headers), (res) => {
    if (closed) return;
    // A full transport buffer means a slow client: tell the core to stop
    // pushing (its watchers catch up from history later) instead of queueing.
    if (!call.write(watchResponseToWire(res))) stream.setWritable(false);
  });
  const close = () => {
    if (closed) return;
    closed = true;
    stream.close();
  };
  call.onDrain = () => stream.setWritable(true);
  call.onMessage = (req) => {
    try {
      if (req['create_request'] != null) stream.create(watchCreateFromWire(req['create_request'] as WireObject));
      else if (req['cancel_request'] != null) stream.cancel(int64Of((req['cancel_request'] as WireObject)['watch_id']));
      else if (req['progress_request'] != null) stream.requestProgress();
    } catch (err) {
      log('debug', 'bad watch request', { error: String(err) });
      close();
      call.fail(err);
    }
  };
  call.onHalfClose = () => {
    close();
    call.end();
  };
  call.onCancel = close;
}

function keepAlive(b: EtcdBackend, call: StreamingCall): void {
  const ctx = contextFromHeaders(call.headers);
  let ended = false;
  call.onMessage = (req) => {
    let id: bigint;
    try {
      id = bigintOf(req['ID']);
    } catch (err) {
      ended = true;
      call.fail(err);
      return;
    }
    b.leaseKeepAlive(id, ctx).then(
      (r) => {
        if (!ended) call.write({ header: headerToWire(r.header), ID: r.id.toString(), TTL: String(r.ttl) });
      },
      (err: unknown) => {
        if (ended) return;
        ended = true;
        call.fail(err);
      },
    );
  };
  const stop = () => {
    ended = true;
  };
  call.onHalfClose = () => {
    stop();
    call.end();
  };
  call.onCancel = stop;
}

async function snapshot(b: EtcdBackend, call: StreamingCall, log: Logger): Promise<void> {
  let cancelled = false;
  let drained: (() => void) | null = null;
  call.onCancel = () => {
    cancelled = true;
    drained?.();
  };
  call.onDrain = () => drained?.();
  try {
    const snap = await b.snapshot(contextFromHeaders(call.headers));
    let remaining = snap.size;
    const header = headerToWire(snap.header);
    for await (const chunk of snap.chunks) {
      if (cancelled) return;
      remaining -= chunk.length;
      if (!call.write({ header, remaining_bytes: String(remaining), blob: chunk })) {
        await new Promise<void>((resolve) => (drained = resolve));
        drained = null;
      }
    }
    call.end();
  } catch (err) {
    log('warn', 'snapshot stream failed', { error: String(err) });
    call.fail(err);
  }
}
