// The HTTP/1.1 door: etcd's grpc-gateway JSON routes under /v3/ plus the plain
// endpoints /health, /livez, /readyz, /version and /metrics.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { EtcdError, Errors, GrpcCode } from '../errors.js';
import type { AlarmType, EtcdBackend, RequestContext } from '../server/backend.js';
import { bigintOf, headerToWire, watchCreateFromWire, int64Of } from './convert.js';
import { httpStatusFor, toStatus } from './errors.js';
import type { Logger } from './grpc.js';
import { watchResponseToWire } from './grpc.js';
import { makeUnaryHandlers, type UnaryHandler } from './handlers.js';
import { decodeJsonRequest, encodeJsonResponse } from './json.js';
import type { WireObject } from './wire.js';

interface Route {
  handler: string;
  req: string;
  res: string;
}

const pb = (n: string) => `etcdserverpb.${n}`;
const ROUTES: Record<string, Route> = {};
function route(path: string, handler: string, req: string, res: string): void {
  ROUTES[path] = { handler, req: pb(req), res: pb(res) };
}
route('/v3/kv/range', 'KV/Range', 'RangeRequest', 'RangeResponse');
route('/v3/kv/put', 'KV/Put', 'PutRequest', 'PutResponse');
route('/v3/kv/deleterange', 'KV/DeleteRange', 'DeleteRangeRequest', 'DeleteRangeResponse');
route('/v3/kv/txn', 'KV/Txn', 'TxnRequest', 'TxnResponse');
route('/v3/kv/compaction', 'KV/Compact', 'CompactionRequest', 'CompactionResponse');
for (const prefix of ['/v3/lease', '/v3/kv/lease']) {
  route(`${prefix}/revoke`, 'Lease/LeaseRevoke', 'LeaseRevokeRequest', 'LeaseRevokeResponse');
  route(`${prefix}/timetolive`, 'Lease/LeaseTimeToLive', 'LeaseTimeToLiveRequest', 'LeaseTimeToLiveResponse');
  route(`${prefix}/leases`, 'Lease/LeaseLeases', 'LeaseLeasesRequest', 'LeaseLeasesResponse');
}
route('/v3/lease/grant', 'Lease/LeaseGrant', 'LeaseGrantRequest', 'LeaseGrantResponse');
for (const [p, m] of [
  ['add', 'MemberAdd'],
  ['remove', 'MemberRemove'],
  ['update', 'MemberUpdate'],
  ['list', 'MemberList'],
  ['promote', 'MemberPromote'],
] as const) {
  route(`/v3/cluster/member/${p}`, `Cluster/${m}`, `${m}Request`, `${m}Response`);
}
for (const [p, m, reqName] of [
  ['alarm', 'Alarm', 'Alarm'],
  ['status', 'Status', 'Status'],
  ['defragment', 'Defragment', 'Defragment'],
  ['hash', 'Hash', 'Hash'],
  ['hashkv', 'HashKV', 'HashKV'],
  ['transfer-leadership', 'MoveLeader', 'MoveLeader'],
  ['downgrade', 'Downgrade', 'Downgrade'],
] as const) {
  route(`/v3/maintenance/${p}`, `Maintenance/${m}`, `${reqName}Request`, `${reqName}Response`);
}
for (const [p, m] of [
  ['enable', 'AuthEnable'],
  ['disable', 'AuthDisable'],
  ['status', 'AuthStatus'],
  ['authenticate', 'Authenticate'],
] as const) {
  route(`/v3/auth/${p}`, `Auth/${m}`, `${m}Request`, `${m}Response`);
}
for (const [p, m, msg] of [
  ['add', 'UserAdd', 'AuthUserAdd'],
  ['get', 'UserGet', 'AuthUserGet'],
  ['list', 'UserList', 'AuthUserList'],
  ['delete', 'UserDelete', 'AuthUserDelete'],
  ['changepw', 'UserChangePassword', 'AuthUserChangePassword'],
  ['grant', 'UserGrantRole', 'AuthUserGrantRole'],
  ['revoke', 'UserRevokeRole', 'AuthUserRevokeRole'],
] as const) {
  route(`/v3/auth/user/${p}`, `Auth/${m}`, `${msg}Request`, `${msg}Response`);
}
for (const [p, m, msg] of [
  ['add', 'RoleAdd', 'AuthRoleAdd'],
  ['get', 'RoleGet', 'AuthRoleGet'],
  ['list', 'RoleList', 'AuthRoleList'],
  ['delete', 'RoleDelete', 'AuthRoleDelete'],
  ['grant', 'RoleGrantPermission', 'AuthRoleGrantPermission'],
  ['revoke', 'RoleRevokePermission', 'AuthRoleRevokePermission'],
] as const) {
  route(`/v3/auth/role/${p}`, `Auth/${m}`, `${msg}Request`, `${msg}Response`);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, err: unknown): void {
  const s = toStatus(err);
  // grpc-gateway v1's error body, which etcd 3.4 and 3.5 send.
  sendJson(res, httpStatusFor(s.code), { error: s.details, code: s.code, message: s.details });
}

function contextFromHeaders(req: IncomingMessage): RequestContext {
  const ctx: RequestContext = {};
  const auth = req.headers['authorization'];
  if (typeof auth === 'string' && auth !== '') ctx.token = auth;
  return ctx;
}

/** Reads the whole body, refusing one larger than `limit` without buffering it. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(Errors.requestTooLarge());
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Splits a stream body into top-level JSON values (grpc-gateway reads them one after another). */
export function splitJsonValues(text: string): { values: unknown[]; rest: string } {
  const values: unknown[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}') {
      depth--;
      if (depth === 0 && start >= 0) {
        values.push(JSON.parse(text.slice(start, i + 1)));
        start = -1;
      }
    }
  }
  return { values, rest: depth > 0 && start >= 0 ? text.slice(start) : '' };
}

export function createGatewayHandler(b: EtcdBackend, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  const unary: Map<string, UnaryHandler> = makeUnaryHandlers(b);
  // Base64 inflates by 4/3; allow the gRPC door's limit in encoded form.
  const bodyLimit = Math.ceil(((b.limits.maxRequestBytes + 512 * 1024) * 4) / 3) + 4096;

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/^\/v3(alpha|beta)\//, '/v3/');
    const fail = (err: unknown) => {
      if (!res.headersSent) sendError(res, err);
      else res.destroy();
    };
    try {
      if (path === '/health') return void health(b, url, res).catch(fail);
      if (path === '/livez' || path === '/readyz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        return void res.end('ok');
      }
      if (path === '/version') return sendJson(res, 200, { etcdserver: b.version.server, etcdcluster: b.version.cluster });
      if (path === '/metrics') {
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
        return void res.end(b.metricsText());
      }
      if (path === '/v3/watch') return watchStream(b, req, res, log, bodyLimit);
      if (path === '/v3/lease/keepalive') return keepAliveStream(b, req, res, bodyLimit);
      if (path === '/v3/maintenance/snapshot') return void snapshotStream(b, req, res).catch(fail);
      const r = ROUTES[path];
      if (!r) return sendJson(res, 404, { error: 'Not Found', code: GrpcCode.UNIMPLEMENTED, message: 'Not Found' });
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        return sendJson(res, 405, { error: 'Method Not Allowed', code: GrpcCode.UNIMPLEMENTED, message: 'Method Not Allowed' });
      }
      const handler = unary.get(r.handler)!;
      readBody(req, bodyLimit)
        .then(async (body) => {
          const json: unknown = body.length === 0 ? {} : parseJson(body);
          const out = await handler(decodeJsonRequest(r.req, json), contextFromHeaders(req));
          sendJson(res, 200, encodeJsonResponse(r.res, out));
        })
        .catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new EtcdError(GrpcCode.INVALID_ARGUMENT, `invalid JSON request body: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function health(b: EtcdBackend, url: URL, res: ServerResponse): Promise<void> {
  const exclude = url.searchParams.getAll('exclude').filter((a): a is AlarmType => a === 'NOSPACE' || a === 'CORRUPT');
  const problem = await b.healthProblem({ excludeAlarms: exclude, serializable: url.searchParams.get('serializable') === 'true' });
  if (problem === undefined) sendJson(res, 200, { health: 'true', reason: '' });
  else sendJson(res, 503, { health: 'false', reason: problem });
}

/** Feeds each JSON value of a streaming request body to `onValue`. */
function streamJson(req: IncomingMessage, limit: number, onValue: (v: unknown) => void, onError: (e: unknown) => void): void {
  let pending = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    pending += chunk;
    if (pending.length > limit) return onError(Errors.requestTooLarge());
    try {
      const { values, rest } = splitJsonValues(pending);
      pending = rest;
      for (const v of values) onValue(v);
    } catch (e) {
      onError(new EtcdError(GrpcCode.INVALID_ARGUMENT, `invalid JSON in stream: ${e instanceof Error ? e.message : String(e)}`));
    }
  });
}

function startChunked(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
}

function streamError(res: ServerResponse, err: unknown): void {
  const s = toStatus(err);
  if (!res.headersSent) startChunked(res);
  const http = httpStatusFor(s.code);
  res.end(JSON.stringify({ error: { grpc_code: s.code, http_code: http, message: s.details, http_status: String(http) } }) + '\n');
}

function watchStream(b: EtcdBackend, req: IncomingMessage, res: ServerResponse, log: Logger, limit: number): void {
  startChunked(res);
  let closed = false;
  const stream = b.openWatchStream(contextFromHeaders(req), (r) => {
    if (closed) return;
    const line = JSON.stringify({ result: encodeJsonResponse('etcdserverpb.WatchResponse', watchResponseToWire(r)) }) + '\n';
    if (!res.write(line)) stream.setWritable(false);
  });
  res.on('drain', () => stream.setWritable(true));
  const close = () => {
    if (closed) return;
    closed = true;
    stream.close();
  };
  res.on('close', close);
  streamJson(
    req,
    limit,
    (v) => {
      const w = decodeJsonRequest('etcdserverpb.WatchRequest', v);
      if (w['create_request'] != null) stream.create(watchCreateFromWire(w['create_request'] as WireObject));
      else if (w['cancel_request'] != null) stream.cancel(int64Of((w['cancel_request'] as WireObject)['watch_id']));
      else if (w['progress_request'] != null) stream.requestProgress();
    },
    (err) => {
      log('debug', 'bad watch request on the gateway', { error: String(err) });
      close();
      streamError(res, err);
    },
  );
}

function keepAliveStream(b: EtcdBackend, req: IncomingMessage, res: ServerResponse, limit: number): void {
  startChunked(res);
  const ctx = contextFromHeaders(req);
  let closed = false;
  res.on('close', () => (closed = true));
  streamJson(
    req,
    limit,
    (v) => {
      const w = decodeJsonRequest('etcdserverpb.LeaseKeepAliveRequest', v);
      b.leaseKeepAlive(bigintOf(w['ID']), ctx).then(
        (r) => {
          if (closed) return;
          const out = { header: headerToWire(r.header), ID: r.id.toString(), TTL: String(r.ttl) };
          res.write(JSON.stringify({ result: encodeJsonResponse('etcdserverpb.LeaseKeepAliveResponse', out) }) + '\n');
        },
        (err: unknown) => {
          if (closed) return;
          closed = true;
          streamError(res, err);
        },
      );
    },
    (err) => {
      closed = true;
      streamError(res, err);
    },
  );
}

async function snapshotStream(b: EtcdBackend, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const snap = await b.snapshot(contextFromHeaders(req));
  startChunked(res);
  let remaining = snap.size;
  const header = headerToWire(snap.header);
  for await (const chunk of snap.chunks) {
    if (res.destroyed) return;
    remaining -= chunk.length;
    const out = { header, remaining_bytes: String(remaining), blob: chunk };
    const line = JSON.stringify({ result: encodeJsonResponse('etcdserverpb.SnapshotResponse', out) }) + '\n';
    if (!res.write(line)) await new Promise<void>((resolve) => res.once('drain', resolve));
  }
  res.end();
}
