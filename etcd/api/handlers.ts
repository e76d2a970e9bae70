// Transport-agnostic unary handlers: one per etcd RPC, keyed "Service/Method".
// Both the gRPC server and the HTTP+JSON gateway call these, so a request has
// the same meaning whichever door it came through.

import { EtcdError, Errors, GrpcCode } from '../errors.js';
import type { EtcdBackend, Member, RequestContext, ResponseHeader } from '../server/backend.js';
import type { PutRequest, RequestOp, TxnRequest } from '../types.js';
import {
  bigintOf,
  boolOf,
  deleteRangeFromWire,
  headerToWire,
  int64Of,
  kvToWire,
  putFromWire,
  rangeFromWire,
  responseOpToWire,
  txnFromWire,
} from './convert.js';
import type { WireObject } from './wire.js';

export type UnaryHandler = (req: WireObject, ctx: RequestContext) => Promise<WireObject>;

function memberToWire(m: Member): WireObject {
  return {
    ID: m.id.toString(),
    name: m.name,
    peerURLs: m.peerURLs,
    clientURLs: m.clientURLs,
    isLearner: m.isLearner,
  };
}

const withHeader = (h: ResponseHeader): WireObject => ({ header: headerToWire(h) });

/** etcd's cluster service fills cluster, member and term but never a revision. */
const clusterHeader = (h: ResponseHeader) => headerToWire({ ...h, revision: 0 });

/**
 * Approximates the size etcd measures (the encoded internal request) so that
 * oversized puts and txns get etcd's "request is too large" before any work.
 */
function putSize(p: PutRequest): number {
  return p.key.length + p.value.length + 16;
}
function opsSize(ops: RequestOp[]): number {
  let n = 0;
  for (const op of ops) {
    if (op.type === 'put') n += putSize(op.put);
    else if (op.type === 'txn') n += txnSize(op.txn);
    else if (op.type === 'range') n += op.range.key.length + op.range.rangeEnd.length + 16;
    else n += op.deleteRange.key.length + op.deleteRange.rangeEnd.length + 8;
  }
  return n;
}
function txnSize(t: TxnRequest): number {
  let n = opsSize(t.success) + opsSize(t.failure);
  for (const c of t.compare) n += c.key.length + c.rangeEnd.length + c.value.length + 24;
  return n;
}

const ALARM_ACTIONS = ['GET', 'ACTIVATE', 'DEACTIVATE'] as const;
const ALARM_TYPES = ['NONE', 'NOSPACE', 'CORRUPT'] as const;

function pick<T extends string>(v: unknown, names: readonly T[]): T {
  if (typeof v === 'number' && names[v] !== undefined) return names[v]!;
  if (typeof v === 'string' && (names as readonly string[]).includes(v)) return v as T;
  if (v === undefined || v === null) return names[0]!;
  throw new EtcdError(GrpcCode.INVALID_ARGUMENT, `invalid enum value: ${String(v)}`);
}

const AUTH_METHODS = [
  'AuthEnable',
  'AuthDisable',
  'Authenticate',
  'UserAdd',
  'UserGet',
  'UserList',
  'UserDelete',
  'UserChangePassword',
  'UserGrantRole',
  'UserRevokeRole',
  'RoleAdd',
  'RoleGet',
  'RoleList',
  'RoleDelete',
  'RoleGrantPermission',
  'RoleRevokePermission',
] as const;

export function makeUnaryHandlers(b: EtcdBackend): Map<string, UnaryHandler> {
  const max = b.limits.maxRequestBytes;
  const h = new Map<string, UnaryHandler>();

  h.set('KV/Range', async (req, ctx) => {
    const { header, response } = await b.range(rangeFromWire(req), ctx);
    return { header: headerToWire(header), kvs: response.kvs.map(kvToWire), more: response.more, count: String(response.count) };
  });
  h.set('KV/Put', async (req, ctx) => {
    const put = putFromWire(req);
    if (putSize(put) > max) throw Errors.requestTooLarge();
    const { header, response } = await b.put(put, ctx);
    return { header: headerToWire(header), prev_kv: response.prevKv ? kvToWire(response.prevKv) : null };
  });
  h.set('KV/DeleteRange', async (req, ctx) => {
    const { header, response } = await b.deleteRange(deleteRangeFromWire(req), ctx);
    return { header: headerToWire(header), deleted: String(response.deleted), prev_kvs: response.prevKvs.map(kvToWire) };
  });
  h.set('KV/Txn', async (req, ctx) => {
    const txn = txnFromWire(req);
    if (txnSize(txn) > max) throw Errors.requestTooLarge();
    const { header, response } = await b.txn(txn, ctx);
    return {
      header: headerToWire(header),
      succeeded: response.succeeded,
      responses: response.responses.map(responseOpToWire),
    };
  });
  h.set('KV/Compact', async (req, ctx) =>
    withHeader((await b.compact({ revision: int64Of(req['revision']), physical: boolOf(req['physical']) }, ctx)).header),
  );

  h.set('Lease/LeaseGrant', async (req, ctx) => {
    const r = await b.leaseGrant(int64Of(req['TTL']), bigintOf(req['ID']), ctx);
    return { header: headerToWire(r.header), ID: r.id.toString(), TTL: String(r.ttl), error: '' };
  });
  h.set('Lease/LeaseRevoke', async (req, ctx) => withHeader((await b.leaseRevoke(bigintOf(req['ID']), ctx)).header));
  h.set('Lease/LeaseTimeToLive', async (req, ctx) => {
    const r = await b.leaseTimeToLive(bigintOf(req['ID']), boolOf(req['keys']), ctx);
    return { header: headerToWire(r.header), ID: r.id.toString(), TTL: String(r.ttl), grantedTTL: String(r.grantedTtl), keys: r.keys };
  });
  h.set('Lease/LeaseLeases', async (_req, ctx) => {
    const r = await b.leaseLeases(ctx);
    return { header: headerToWire(r.header), leases: r.ids.map((id) => ({ ID: id.toString() })) };
  });

  h.set('Cluster/MemberList', async (req, ctx) => {
    const r = await b.memberList(boolOf(req['linearizable']), ctx);
    return { header: clusterHeader(r.header), members: r.members.map(memberToWire) };
  });
  h.set('Cluster/MemberAdd', async (req, ctx) => {
    const urls = Array.isArray(req['peerURLs']) ? req['peerURLs'].map(String) : [];
    const r = await b.memberAdd(urls, boolOf(req['isLearner']), ctx);
    return { header: clusterHeader(r.header), member: memberToWire(r.member), members: r.members.map(memberToWire) };
  });
  h.set('Cluster/MemberRemove', async (req, ctx) => {
    const r = await b.memberRemove(bigintOf(req['ID']), ctx);
    return { header: clusterHeader(r.header), members: r.members.map(memberToWire) };
  });
  h.set('Cluster/MemberUpdate', async (req, ctx) => {
    const urls = Array.isArray(req['peerURLs']) ? req['peerURLs'].map(String) : [];
    const r = await b.memberUpdate(bigintOf(req['ID']), urls, ctx);
    return { header: clusterHeader(r.header), members: r.members.map(memberToWire) };
  });
  h.set('Cluster/MemberPromote', async (req, ctx) => {
    const r = await b.memberPromote(bigintOf(req['ID']), ctx);
    return { header: clusterHeader(r.header), members: r.members.map(memberToWire) };
  });

  h.set('Maintenance/Status', async (_req, ctx) => {
    const s = await b.status(ctx);
    return {
      header: headerToWire(s.header),
      version: s.version,
      dbSize: String(s.dbSize),
      leader: s.leader.toString(),
      raftIndex: String(s.raftIndex),
      raftTerm: String(s.raftTerm),
      raftAppliedIndex: String(s.raftAppliedIndex),
      errors: s.errors,
      dbSizeInUse: String(s.dbSizeInUse),
      isLearner: s.isLearner,
    };
  });
  h.set('Maintenance/Hash', async (_req, ctx) => {
    const r = await b.hash(ctx);
    return { header: headerToWire(r.header), hash: r.hash };
  });
  h.set('Maintenance/HashKV', async (req, ctx) => {
    const r = await b.hashKV(int64Of(req['revision']), ctx);
    return { header: headerToWire(r.header), hash: r.hash, compact_revision: String(r.compactRevision) };
  });
  h.set('Maintenance/Defragment', async (_req, ctx) => withHeader((await b.defragment(ctx)).header));
  h.set('Maintenance/Alarm', async (req, ctx) => {
    const r = await b.alarm(pick(req['action'], ALARM_ACTIONS), bigintOf(req['memberID']), pick(req['alarm'], ALARM_TYPES), ctx);
    return { header: headerToWire(r.header), alarms: r.alarms.map((a) => ({ memberID: a.memberId.toString(), alarm: a.alarm })) };
  });
  h.set('Maintenance/MoveLeader', async (req, ctx) => withHeader((await b.moveLeader(bigintOf(req['targetID']), ctx)).header));
  h.set('Maintenance/Downgrade', async () => {
    throw new EtcdError(GrpcCode.UNIMPLEMENTED, 'etcdserver: downgrade is not supported');
  });

  h.set('Auth/AuthStatus', async (_req, ctx) => {
    const r = await b.authStatus(ctx);
    return { header: headerToWire(r.header), enabled: r.enabled, authRevision: String(r.authRevision) };
  });
  for (const m of AUTH_METHODS) {
    h.set(`Auth/${m}`, async (req, ctx) => {
      const { header, ...rest } = await b.authCall(m, req, ctx);
      return { header: headerToWire(header), ...rest };
    });
  }
  return h;
}
