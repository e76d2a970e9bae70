// The log entry format: every state-machine mutation is one InternalRequest,
// encoded deterministically with a format version and the proposer's request
// id (the applier hands the result back to whoever waits on that id).
//
// Layout: u8 FORMAT_VERSION, u64 requestId, u8 opcode, body.

import type {
  Compare,
  CompactionRequest,
  DeleteRangeRequest,
  LeaseId,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../types.js';
import type { AlarmType, Member } from './backend.js';
import { BinaryReader, BinaryWriter, DecodeError, choiceIndex } from './binary.js';

export const FORMAT_VERSION = 1;

export interface AuthOp {
  method:
    | 'authEnable'
    | 'authDisable'
    | 'userAdd'
    | 'userDelete'
    | 'userChangePassword'
    | 'userGrantRole'
    | 'userRevokeRole'
    | 'roleAdd'
    | 'roleDelete'
    | 'roleGrantPermission'
    | 'roleRevokePermission';
  name: string;
  /** Already hashed by the proposer (hashing is salted, so it cannot happen at apply time). */
  passwordHash: string;
  noPassword: boolean;
  role: string;
  permType: 'READ' | 'WRITE' | 'READWRITE';
  key: Buffer;
  rangeEnd: Buffer;
}

export type InternalRequest =
  | { op: 'noop' }
  | { op: 'put'; put: PutRequest }
  | { op: 'deleteRange'; deleteRange: DeleteRangeRequest }
  | { op: 'txn'; txn: TxnRequest }
  | { op: 'compact'; compact: CompactionRequest }
  | { op: 'leaseGrant'; id: LeaseId; ttl: number }
  | { op: 'leaseRevoke'; id: LeaseId }
  | { op: 'alarm'; action: 'ACTIVATE' | 'DEACTIVATE'; memberId: bigint; alarm: AlarmType }
  | { op: 'memberAdd'; member: Member }
  | { op: 'memberRemove'; id: bigint }
  | { op: 'memberUpdate'; id: bigint; peerURLs: string[] }
  | { op: 'memberPromote'; id: bigint }
  /** A member publishes its name and client URLs (etcd does this once it starts serving). */
  | { op: 'memberAttributes'; id: bigint; name: string; clientURLs: string[] }
  | { op: 'auth'; auth: AuthOp };

export interface LogRecord {
  requestId: bigint;
  request: InternalRequest;
}

const OPS = [
  'noop',
  'put',
  'deleteRange',
  'txn',
  'compact',
  'leaseGrant',
  'leaseRevoke',
  'alarm',
  'memberAdd',
  'memberRemove',
  'memberUpdate',
  'memberPromote',
  'memberAttributes',
  'auth',
] as const;

const SORT_ORDERS = ['NONE', 'ASCEND', 'DESCEND'] as const;
const SORT_TARGETS = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'] as const;
const COMPARE_RESULTS = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'] as const;
const COMPARE_TARGETS = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'] as const;
const REQUEST_OPS = ['range', 'put', 'deleteRange', 'txn'] as const;
const ALARMS = ['NONE', 'NOSPACE', 'CORRUPT'] as const;
const ALARM_ACTIONS = ['ACTIVATE', 'DEACTIVATE'] as const;
const PERM_TYPES = ['READ', 'WRITE', 'READWRITE'] as const;
const AUTH_METHODS: readonly AuthOp['method'][] = [
  'authEnable',
  'authDisable',
  'userAdd',
  'userDelete',
  'userChangePassword',
  'userGrantRole',
  'userRevokeRole',
  'roleAdd',
  'roleDelete',
  'roleGrantPermission',
  'roleRevokePermission',
];

function writeRange(w: BinaryWriter, r: RangeRequest): void {
  w.bytes(r.key).bytes(r.rangeEnd).varint(r.limit).varint(r.revision);
  w.u8(choiceIndex(SORT_ORDERS, r.sortOrder)).u8(choiceIndex(SORT_TARGETS, r.sortTarget));
  w.bool(r.serializable).bool(r.keysOnly).bool(r.countOnly);
  w.varint(r.minModRevision).varint(r.maxModRevision).varint(r.minCreateRevision).varint(r.maxCreateRevision);
}

function readRange(r: BinaryReader): RangeRequest {
  return {
    key: r.bytes(),
    rangeEnd: r.bytes(),
    limit: r.varint(),
    revision: r.varint(),
    sortOrder: r.choice(SORT_ORDERS, 'sort order'),
    sortTarget: r.choice(SORT_TARGETS, 'sort target'),
    serializable: r.bool(),
    keysOnly: r.bool(),
    countOnly: r.bool(),
    minModRevision: r.varint(),
    maxModRevision: r.varint(),
    minCreateRevision: r.varint(),
    maxCreateRevision: r.varint(),
  };
}

function writePut(w: BinaryWriter, p: PutRequest): void {
  w.bytes(p.key).bytes(p.value).int64(p.lease).bool(p.prevKv).bool(p.ignoreValue).bool(p.ignoreLease);
}

// Applying a put copies its key and value into memory of the store's own
// (slab.ts), so decoding them as views spares a second copy per write.
function readPut(r: BinaryReader): PutRequest {
  return { key: r.view(), value: r.view(), lease: r.int64(), prevKv: r.bool(), ignoreValue: r.bool(), ignoreLease: r.bool() };
}

function writeDelete(w: BinaryWriter, d: DeleteRangeRequest): void {
  w.bytes(d.key).bytes(d.rangeEnd).bool(d.prevKv);
}

function readDelete(r: BinaryReader): DeleteRangeRequest {
  return { key: r.bytes(), rangeEnd: r.bytes(), prevKv: r.bool() };
}

function writeCompare(w: BinaryWriter, c: Compare): void {
  w.u8(choiceIndex(COMPARE_RESULTS, c.result)).u8(choiceIndex(COMPARE_TARGETS, c.target));
  w.bytes(c.key).bytes(c.rangeEnd);
  w.varint(c.version).varint(c.createRevision).varint(c.modRevision).bytes(c.value).int64(c.lease);
}

function readCompare(r: BinaryReader): Compare {
  return {
    result: r.choice(COMPARE_RESULTS, 'compare result'),
    target: r.choice(COMPARE_TARGETS, 'compare target'),
    key: r.bytes(),
    rangeEnd: r.bytes(),
    version: r.varint(),
    createRevision: r.varint(),
    modRevision: r.varint(),
    value: r.bytes(),
    lease: r.int64(),
  };
}

function writeOps(w: BinaryWriter, ops: RequestOp[]): void {
  w.uvarint(ops.length);
  for (const op of ops) {
    w.u8(choiceIndex(REQUEST_OPS, op.type));
    switch (op.type) {
      case 'range':
        writeRange(w, op.range);
        break;
      case 'put':
        writePut(w, op.put);
        break;
      case 'deleteRange':
        writeDelete(w, op.deleteRange);
        break;
      case 'txn':
        writeTxn(w, op.txn);
        break;
    }
  }
}

function readOps(r: BinaryReader, depth: number): RequestOp[] {
  const n = r.uvarint();
  const ops: RequestOp[] = [];
  for (let i = 0; i < n; i++) {
    const type = r.choice(REQUEST_OPS, 'request op');
    switch (type) {
      case 'range':
        ops.push({ type, range: readRange(r) });
        break;
      case 'put':
        ops.push({ type, put: readPut(r) });
        break;
      case 'deleteRange':
        ops.push({ type, deleteRange: readDelete(r) });
        break;
      case 'txn':
        ops.push({ type, txn: readTxn(r, depth + 1) });
        break;
    }
  }
  return ops;
}

function writeTxn(w: BinaryWriter, t: TxnRequest): void {
  w.uvarint(t.compare.length);
  for (const c of t.compare) writeCompare(w, c);
  writeOps(w, t.success);
  writeOps(w, t.failure);
}

function readTxn(r: BinaryReader, depth: number): TxnRequest {
  // Nesting is bounded by the request size limit; this guards against hostile bytes only.
  if (depth > 64) throw new DecodeError('txn nested too deeply');
  const n = r.uvarint();
  const compare: Compare[] = [];
  for (let i = 0; i < n; i++) compare.push(readCompare(r));
  return { compare, success: readOps(r, depth), failure: readOps(r, depth) };
}

function writeMember(w: BinaryWriter, m: Member): void {
  w.int64(m.id).string(m.name).strings(m.peerURLs).strings(m.clientURLs).bool(m.isLearner);
}

export function readMember(r: BinaryReader): Member {
  return { id: r.uint64(), name: r.string(), peerURLs: r.strings(), clientURLs: r.strings(), isLearner: r.bool() };
}

export { writeMember };

/** Bytes a record's body needs beyond its keys and values, with room to spare. */
const RECORD_OVERHEAD_HINT = 48;

export function encodeRecord(rec: LogRecord): Buffer {
  const req = rec.request;
  // A put, the common record, is sized exactly enough that the writer never grows.
  const w = new BinaryWriter(req.op === 'put' ? req.put.key.length + req.put.value.length + RECORD_OVERHEAD_HINT : 256);
  w.u8(FORMAT_VERSION).int64(rec.requestId);
  w.u8(choiceIndex(OPS, req.op));
  switch (req.op) {
    case 'noop':
      break;
    case 'put':
      writePut(w, req.put);
      break;
    case 'deleteRange':
      writeDelete(w, req.deleteRange);
      break;
    case 'txn':
      writeTxn(w, req.txn);
      break;
    case 'compact':
      w.varint(req.compact.revision).bool(req.compact.physical);
      break;
    case 'leaseGrant':
      w.int64(req.id).varint(req.ttl);
      break;
    case 'leaseRevoke':
      w.int64(req.id);
      break;
    case 'alarm':
      w.u8(choiceIndex(ALARM_ACTIONS, req.action)).int64(req.memberId).u8(choiceIndex(ALARMS, req.alarm));
      break;
    case 'memberAdd':
      writeMember(w, req.member);
      break;
    case 'memberRemove':
    case 'memberPromote':
      w.int64(req.id);
      break;
    case 'memberUpdate':
      w.int64(req.id).strings(req.peerURLs);
      break;
    case 'memberAttributes':
      w.int64(req.id).string(req.name).strings(req.clientURLs);
      break;
    case 'auth': {
      const a = req.auth;
      w.u8(choiceIndex(AUTH_METHODS, a.method)).string(a.name).string(a.passwordHash).bool(a.noPassword).string(a.role);
      w.u8(choiceIndex(PERM_TYPES, a.permType)).bytes(a.key).bytes(a.rangeEnd);
      break;
    }
  }
  return w.finish();
}

export function decodeRecord(data: Buffer): LogRecord {
  const r = new BinaryReader(data);
  const version = r.u8();
  if (version !== FORMAT_VERSION) throw new DecodeError(`unsupported log record format ${version}`);
  const requestId = r.uint64();
  const op = r.choice(OPS, 'opcode');
  let request: InternalRequest;
  switch (op) {
    case 'noop':
      request = { op };
      break;
    case 'put':
      request = { op, put: readPut(r) };
      break;
    case 'deleteRange':
      request = { op, deleteRange: readDelete(r) };
      break;
    case 'txn':
      request = { op, txn: readTxn(r, 0) };
      break;
    case 'compact':
      request = { op, compact: { revision: r.varint(), physical: r.bool() } };
      break;
    case 'leaseGrant':
      request = { op, id: r.int64(), ttl: r.varint() };
      break;
    case 'leaseRevoke':
      request = { op, id: r.int64() };
      break;
    case 'alarm':
      request = { op, action: r.choice(ALARM_ACTIONS, 'alarm action'), memberId: r.uint64(), alarm: r.choice(ALARMS, 'alarm') };
      break;
    case 'memberAdd':
      request = { op, member: readMember(r) };
      break;
    case 'memberRemove':
    case 'memberPromote':
      request = { op, id: r.uint64() };
      break;
    case 'memberUpdate':
      request = { op, id: r.uint64(), peerURLs: r.strings() };
      break;
    case 'memberAttributes':
      request = { op, id: r.uint64(), name: r.string(), clientURLs: r.strings() };
      break;
    case 'auth':
      request = {
        op,
        auth: {
          method: r.choice(AUTH_METHODS, 'auth method'),
          name: r.string(),
          passwordHash: r.string(),
          noPassword: r.bool(),
          role: r.string(),
          permType: r.choice(PERM_TYPES, 'permission type'),
          key: r.bytes(),
          rangeEnd: r.bytes(),
        },
      };
      break;
  }
  if (!r.done) throw new DecodeError('trailing bytes after log record');
  return { requestId, request };
}
