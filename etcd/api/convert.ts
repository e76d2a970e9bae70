// Conversion between decoded wire messages (proto-loader objects for gRPC, the
// same shape after JSON normalisation for the gateway) and the domain types the
// server core speaks. Requests are validated here only for shape; semantic
// checks (empty keys, txn limits) stay in the core so both doors agree.

import { EtcdError, GrpcCode } from '../errors.js';
import type {
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeRequest,
  KeyValue,
  MvccEvent,
  PutRequest,
  RangeRequest,
  RequestOp,
  ResponseOp,
  SortOrder,
  SortTarget,
  TxnRequest,
} from '../types.js';
import type { ResponseHeader, WatchCreate } from '../server/backend.js';
import type { WireEvent, WireHeader, WireKeyValue, WireObject } from './wire.js';

const EMPTY = Buffer.alloc(0);

function invalid(msg: string): EtcdError {
  return new EtcdError(GrpcCode.INVALID_ARGUMENT, msg);
}

export function bytesOf(v: unknown): Buffer {
  if (v === undefined || v === null) return EMPTY;
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw invalid(`invalid bytes field`);
}

/** int64 fields arrive as decimal strings (gRPC) or numbers/strings (JSON). */
export function int64Of(v: unknown): number {
  if (v === undefined || v === null || v === '') return 0;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isFinite(n) || !Number.isInteger(n)) throw invalid(`invalid integer field: ${String(v)}`);
  return n;
}

/** Lease and member IDs are 64-bit: keep every bit. */
export function bigintOf(v: unknown): bigint {
  if (v === undefined || v === null || v === '') return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  throw invalid(`invalid integer field: ${String(v)}`);
}

export function boolOf(v: unknown): boolean {
  return v === true;
}

function enumOf<T extends string>(v: unknown, names: readonly T[], field: string): T {
  if (v === undefined || v === null) return names[0]!;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < names.length) return names[v]!;
  if (typeof v === 'string' && (names as readonly string[]).includes(v)) return v as T;
  throw invalid(`invalid value for enum ${field}: ${String(v)}`);
}

function objOf(v: unknown): WireObject {
  return v !== null && typeof v === 'object' ? (v as WireObject) : {};
}

const SORT_ORDERS = ['NONE', 'ASCEND', 'DESCEND'] as const satisfies readonly SortOrder[];
const SORT_TARGETS = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'] as const satisfies readonly SortTarget[];
const COMPARE_RESULTS = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'] as const satisfies readonly CompareResult[];
const COMPARE_TARGETS = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'] as const satisfies readonly CompareTarget[];
const FILTERS = ['NOPUT', 'NODELETE'] as const;

// ---- requests --------------------------------------------------------------

export function rangeFromWire(w: WireObject): RangeRequest {
  return {
    key: bytesOf(w['key']),
    rangeEnd: bytesOf(w['range_end']),
    limit: int64Of(w['limit']),
    revision: int64Of(w['revision']),
    sortOrder: enumOf(w['sort_order'], SORT_ORDERS, 'sort_order'),
    sortTarget: enumOf(w['sort_target'], SORT_TARGETS, 'sort_target'),
    serializable: boolOf(w['serializable']),
    keysOnly: boolOf(w['keys_only']),
    countOnly: boolOf(w['count_only']),
    minModRevision: int64Of(w['min_mod_revision']),
    maxModRevision: int64Of(w['max_mod_revision']),
    minCreateRevision: int64Of(w['min_create_revision']),
    maxCreateRevision: int64Of(w['max_create_revision']),
  };
}

export function putFromWire(w: WireObject): PutRequest {
  return {
    key: bytesOf(w['key']),
    value: bytesOf(w['value']),
    lease: bigintOf(w['lease']),
    prevKv: boolOf(w['prev_kv']),
    ignoreValue: boolOf(w['ignore_value']),
    ignoreLease: boolOf(w['ignore_lease']),
  };
}

export function deleteRangeFromWire(w: WireObject): DeleteRangeRequest {
  return { key: bytesOf(w['key']), rangeEnd: bytesOf(w['range_end']), prevKv: boolOf(w['prev_kv']) };
}

function compareFromWire(w: WireObject): Compare {
  return {
    result: enumOf(w['result'], COMPARE_RESULTS, 'compare.result'),
    target: enumOf(w['target'], COMPARE_TARGETS, 'compare.target'),
    key: bytesOf(w['key']),
    rangeEnd: bytesOf(w['range_end']),
    version: int64Of(w['version']),
    createRevision: int64Of(w['create_revision']),
    modRevision: int64Of(w['mod_revision']),
    value: bytesOf(w['value']),
    lease: bigintOf(w['lease']),
  };
}

function requestOpFromWire(w: WireObject, depth: number): RequestOp {
  // proto-loader names the set member of a oneof; JSON callers just set one field.
  const which =
    (typeof w['request'] === 'string' ? (w['request'] as string) : undefined) ??
    ['request_range', 'request_put', 'request_delete_range', 'request_txn'].find((f) => w[f] != null);
  switch (which) {
    case 'request_range':
      return { type: 'range', range: rangeFromWire(objOf(w['request_range'])) };
    case 'request_put':
      return { type: 'put', put: putFromWire(objOf(w['request_put'])) };
    case 'request_delete_range':
      return { type: 'deleteRange', deleteRange: deleteRangeFromWire(objOf(w['request_delete_range'])) };
    case 'request_txn':
      return { type: 'txn', txn: txnFromWire(objOf(w['request_txn']), depth + 1) };
    default:
      // etcd rejects an empty RequestOp the same way when it reaches apply.
      throw invalid('etcdserver: request op is empty');
  }
}

const MAX_TXN_DEPTH = 64;

export function txnFromWire(w: WireObject, depth = 0): TxnRequest {
  if (depth > MAX_TXN_DEPTH) throw invalid('etcdserver: txn nesting is too deep');
  const list = (v: unknown): WireObject[] => (Array.isArray(v) ? v.map(objOf) : []);
  return {
    compare: list(w['compare']).map(compareFromWire),
    success: list(w['success']).map((op) => requestOpFromWire(op, depth)),
    failure: list(w['failure']).map((op) => requestOpFromWire(op, depth)),
  };
}

export function watchCreateFromWire(w: WireObject): WatchCreate {
  const filters = Array.isArray(w['filters']) ? w['filters'].map((f) => enumOf(f, FILTERS, 'filters')) : [];
  return {
    key: bytesOf(w['key']),
    rangeEnd: bytesOf(w['range_end']),
    startRevision: int64Of(w['start_revision']),
    progressNotify: boolOf(w['progress_notify']),
    filters,
    prevKv: boolOf(w['prev_kv']),
    watchId: int64Of(w['watch_id']),
    fragment: boolOf(w['fragment']),
  };
}

// ---- responses -------------------------------------------------------------

export function headerToWire(h: ResponseHeader): WireHeader {
  return {
    cluster_id: h.clusterId.toString(),
    member_id: h.memberId.toString(),
    revision: String(h.revision),
    raft_term: String(h.raftTerm),
  };
}

export function kvToWire(kv: KeyValue): WireKeyValue {
  return {
    key: kv.key,
    create_revision: String(kv.createRevision),
    mod_revision: String(kv.modRevision),
    version: String(kv.version),
    value: kv.value,
    lease: kv.lease.toString(),
  };
}

export function eventToWire(ev: MvccEvent): WireEvent {
  const out: WireEvent = { type: ev.type, kv: kvToWire(ev.kv) };
  if (ev.prevKv) out.prev_kv = kvToWire(ev.prevKv);
  return out;
}

/**
 * Nested responses carry a header too (kube-apiserver reads its revision), but
 * etcd fills only the revision there: cluster, member and term stay zero.
 */
export function responseOpToWire(op: ResponseOp): WireObject {
  const header = (revision: number) => headerToWire({ clusterId: 0n, memberId: 0n, raftTerm: 0, revision });
  switch (op.type) {
    case 'range':
      return {
        response_range: {
          header: header(op.range.revision),
          kvs: op.range.kvs.map(kvToWire),
          more: op.range.more,
          count: String(op.range.count),
        },
      };
    case 'put':
      return {
        response_put: { header: header(op.put.revision), prev_kv: op.put.prevKv ? kvToWire(op.put.prevKv) : null },
      };
    case 'deleteRange':
      return {
        response_delete_range: {
          header: header(op.deleteRange.revision),
          deleted: String(op.deleteRange.deleted),
          prev_kvs: op.deleteRange.prevKvs.map(kvToWire),
        },
      };
    case 'txn':
      return {
        response_txn: {
          header: header(op.txn.revision),
          succeeded: op.txn.succeeded,
          responses: op.txn.responses.map(responseOpToWire),
        },
      };
  }
}
