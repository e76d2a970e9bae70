// The gRPC door: etcd's services on a grpc-js Server that never binds a port
// itself; connections are injected by the one-port listener (listener.ts).

import * as grpc from '@grpc/grpc-js';
import { loadEtcdProtos } from '../proto/load.js';
import type { EtcdBackend, RequestContext, WatchResponseOut } from '../server/backend.js';
import { bigintOf, eventToWire, headerToWire, watchCreateFromWire, int64Of } from './convert.js';
import { toServiceError } from './errors.js';
import { makeUnaryHandlers } from './handlers.js';
import type { WireObject } from './wire.js';

export type Logger = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export function contextFromMetadata(md: grpc.Metadata): RequestContext {
  const token = md.get('token')[0];
  const hasLeader = md.get('hasleader')[0];
  const ctx: RequestContext = {};
  if (typeof token === 'string') ctx.token = token;
  if (hasLeader === 'true') ctx.requireLeader = true;
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

function service(root: grpc.GrpcObject, path: string): grpc.ServiceDefinition {
  let node: unknown = root;
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  const ctor = node as grpc.ServiceClientConstructor | undefined;
  if (!ctor?.service) throw new Error(`proto service ${path} is missing`);
  return ctor.service;
}

export function createGrpcServer(b: EtcdBackend, log: Logger): grpc.Server {
  const server = new grpc.Server({
    // etcd caps receive at max-request-bytes + 512 KiB and leaves send unlimited.
    'grpc.max_receive_message_length': b.limits.maxRequestBytes + 512 * 1024,
    'grpc.max_send_message_length': -1,
    'grpc.keepalive_permit_without_calls': 1,
  });
  const root = loadEtcdProtos();
  const unary = makeUnaryHandlers(b);

  const servicesByName: Record<string, string> = {
    KV: 'etcdserverpb.KV',
    Lease: 'etcdserverpb.Lease',
    Cluster: 'etcdserverpb.Cluster',
    Maintenance: 'etcdserverpb.Maintenance',
    Auth: 'etcdserverpb.Auth',
  };
  const streaming = new Set(['Lease/LeaseKeepAlive', 'Maintenance/Snapshot']);

  for (const [short, full] of Object.entries(servicesByName)) {
    const def = service(root, full);
    const impl: grpc.UntypedServiceImplementation = {};
    for (const method of Object.keys(def)) {
      const key = `${short}/${method}`;
      if (streaming.has(key)) continue;
      const handler = unary.get(key);
      if (!handler) continue;
      impl[method] = (call: grpc.ServerUnaryCall<WireObject, WireObject>, cb: grpc.sendUnaryData<WireObject>) => {
        handler(call.request ?? {}, contextFromMetadata(call.metadata)).then(
          (res) => cb(null, res),
          (err: unknown) => {
            const se = toServiceError(err);
            if (se.code === grpc.status.UNKNOWN) log('warn', 'request failed with an unexpected error', { method: key, error: se.details });
            cb(se, null);
          },
        );
      };
    }
    if (short === 'Lease') impl['LeaseKeepAlive'] = (call: grpc.ServerDuplexStream<WireObject, WireObject>) => keepAlive(b, call);
    if (short === 'Maintenance') impl['Snapshot'] = (call: grpc.ServerWritableStream<WireObject, WireObject>) => void snapshot(b, call, log);
    server.addService(def, impl);
  }

  server.addService(service(root, 'etcdserverpb.Watch'), {
    Watch: (call: grpc.ServerDuplexStream<WireObject, WireObject>) => watch(b, call, log),
  });
  server.addService(service(root, 'grpc.health.v1.Health'), {
    Check: (_call: grpc.ServerUnaryCall<WireObject, WireObject>, cb: grpc.sendUnaryData<WireObject>) => cb(null, { status: 'SERVING' }),
  });
  return server;
}

function watch(b: EtcdBackend, call: grpc.ServerDuplexStream<WireObject, WireObject>, log: Logger): void {
  let closed = false;
  const stream = b.openWatchStream(contextFromMetadata(call.metadata), (res) => {
    if (closed) return;
    // A full transport buffer means a slow client: tell the core to stop
    // pushing (its watchers catch up from history later) instead of queueing.
    if (!call.write(watchResponseToWire(res))) stream.setWritable(false);
  });
  call.on('drain', () => stream.setWritable(true));
  const close = () => {
    if (closed) return;
    closed = true;
    stream.close();
  };
  call.on('data', (req: WireObject) => {
    try {
      if (req['create_request'] != null) stream.create(watchCreateFromWire(req['create_request'] as WireObject));
      else if (req['cancel_request'] != null) stream.cancel(int64Of((req['cancel_request'] as WireObject)['watch_id']));
      else if (req['progress_request'] != null) stream.requestProgress();
    } catch (err) {
      log('debug', 'bad watch request', { error: String(err) });
      close();
      call.emit('error', toServiceError(err));
    }
  });
  call.on('end', () => {
    close();
    call.end();
  });
  call.on('cancelled', close);
  call.on('error', close);
  call.on('close', close);
}

function keepAlive(b: EtcdBackend, call: grpc.ServerDuplexStream<WireObject, WireObject>): void {
  const ctx = contextFromMetadata(call.metadata);
  let ended = false;
  call.on('data', (req: WireObject) => {
    let id: bigint;
    try {
      id = bigintOf(req['ID']);
    } catch (err) {
      ended = true;
      call.emit('error', toServiceError(err));
      return;
    }
    b.leaseKeepAlive(id, ctx).then(
      (r) => {
        if (!ended) call.write({ header: headerToWire(r.header), ID: r.id.toString(), TTL: String(r.ttl) });
      },
      (err: unknown) => {
        if (ended) return;
        ended = true;
        call.emit('error', toServiceError(err));
      },
    );
  });
  const stop = () => {
    ended = true;
  };
  call.on('end', () => {
    stop();
    call.end();
  });
  call.on('cancelled', stop);
  call.on('error', stop);
}

async function snapshot(b: EtcdBackend, call: grpc.ServerWritableStream<WireObject, WireObject>, log: Logger): Promise<void> {
  let cancelled = false;
  call.on('cancelled', () => (cancelled = true));
  try {
    const snap = await b.snapshot(contextFromMetadata(call.metadata));
    let remaining = snap.size;
    const header = headerToWire(snap.header);
    for await (const chunk of snap.chunks) {
      if (cancelled) return;
      remaining -= chunk.length;
      if (!call.write({ header, remaining_bytes: String(remaining), blob: chunk })) {
        await new Promise<void>((resolve) => call.once('drain', resolve));
      }
    }
    call.end();
  } catch (err) {
    log('warn', 'snapshot stream failed', { error: String(err) });
    call.emit('error', toServiceError(err));
  }
}
