// Request-level KV operations with etcd's validation and semantics (v3rpc
// key.go checks + etcdserver apply.go): Put, DeleteRange, Range and Txn
// against an MvccStore. Every function either applies its request completely
// or throws an EtcdError and leaves the store unchanged.
//
// Revisions in responses follow etcd's header.revision: a write's response
// carries the revision it committed at; a request that changed nothing
// carries the current revision; ops inside a txn carry what etcd's apply
// loop assigns them (Range: the txn's read revision at that point; Put:
// the txn's revision; DeleteRange: the txn's revision once something in the
// txn changed, else the revision before it). A nested txn's response
// revision is 0: etcd leaves nested headers empty.
//
// Leases: the store records each key's lease; attaching and detaching keys
// in the lessor is up to the caller, from the events (PUT kv.lease vs
// prevKv.lease, DELETE prevKv.lease).

import { Errors } from '../errors.js';
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  MvccEvent,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../types.js';
import { EMPTY } from '../types.js';
import type { ReadView } from './range.js';
import { executeRange, indexEnd } from './range.js';
import type { MvccStore, WriteTxn } from './store.js';
import { checkDeleteRequest, checkIntervals, checkPutRequest, checkRangeRequest, checkTxnRequest, isTxnReadonly } from './txn-checks.js';

export { DEFAULT_MAX_TXN_OPS } from './txn-checks.js';

export interface LeaseChecker {
  exists(id: bigint): boolean;
}

export interface ApplyResult<R> {
  response: R;
  /** The events the request produced (empty for reads and no-op writes), prevKv always filled in. */
  events: MvccEvent[];
  /** The store revision after the request. */
  revision: number;
}

export interface TxnOptions {
  /** etcd's --max-txn-ops (default 128). */
  maxTxnOps: number;
}

/** Put inside an open write txn (etcd's applierV3backend.Put with a txn): lease already checked. */
function putInTxn(txn: WriteTxn, p: PutRequest): PutResponse {
  let value = p.value;
  let lease = p.lease;
  let prev: KeyValue | undefined;
  if (p.ignoreValue || p.ignoreLease || p.prevKv) {
    prev = txn.rangeKeys(p.key, null, { rev: 0, limit: 0, countOnly: false }).kvs[0];
  }
  if (p.ignoreValue || p.ignoreLease) {
    if (!prev) throw Errors.keyNotFound();
    if (p.ignoreValue) value = prev.value;
    if (p.ignoreLease) lease = prev.lease;
  }
  const revision = txn.put(p.key, value, lease);
  return p.prevKv && prev ? { revision, prevKv: prev } : { revision };
}

function deleteInTxn(txn: WriteTxn, d: DeleteRangeRequest): DeleteRangeResponse {
  let prevKvs: KeyValue[] = [];
  if (d.prevKv) prevKvs = txn.rangeKeys(d.key, indexEnd(d.rangeEnd), { rev: 0, limit: 0, countOnly: false }).kvs;
  const { deleted, revision } = txn.deleteRange(d.key, d.rangeEnd);
  return { revision, deleted, prevKvs };
}

export function applyRange(store: MvccStore, req: RangeRequest): ApplyResult<RangeResponse> {
  checkRangeRequest(req);
  const response = store.range(req);
  return { response, events: [], revision: store.currentRevision };
}

export function applyPut(store: MvccStore, req: PutRequest, leases: LeaseChecker): ApplyResult<PutResponse> {
  checkPutRequest(req);
  if (req.lease !== 0n && !leases.exists(req.lease)) throw Errors.leaseNotFound();
  const { result, events, revision } = store.write((txn) => putInTxn(txn, req));
  return { response: result, events, revision };
}

export function applyDeleteRange(store: MvccStore, req: DeleteRangeRequest): ApplyResult<DeleteRangeResponse> {
  checkDeleteRequest(req);
  const { result, events, revision } = store.write((txn) => deleteInTxn(txn, req));
  return { response: result, events, revision };
}

// ---- Txn -------------------------------------------------------------------

function compareKV(c: Compare, kv: KeyValue | undefined): boolean {
  let result: number;
  switch (c.target) {
    case 'VALUE':
      result = Buffer.compare(kv ? kv.value : EMPTY, c.value);
      break;
    case 'CREATE':
      result = Math.sign((kv ? kv.createRevision : 0) - c.createRevision);
      break;
    case 'MOD':
      result = Math.sign((kv ? kv.modRevision : 0) - c.modRevision);
      break;
    case 'VERSION':
      result = Math.sign((kv ? kv.version : 0) - c.version);
      break;
    case 'LEASE': {
      const l = kv ? kv.lease : 0n;
      result = l === c.lease ? 0 : l < c.lease ? -1 : 1;
      break;
    }
  }
  switch (c.result) {
    case 'EQUAL':
      return result === 0;
    case 'NOT_EQUAL':
      return result !== 0;
    case 'GREATER':
      return result > 0;
    case 'LESS':
      return result < 0;
  }
}

/**
 * etcd's applyCompare: every key in the range must satisfy the compare. With
 * no key at all, VALUE compares fail and the others compare a zero KeyValue.
 */
function applyCompare(view: ReadView, c: Compare): boolean {
  let kvs: KeyValue[];
  try {
    kvs = view.rangeKeys(c.key, indexEnd(c.rangeEnd), { rev: 0, limit: 0, countOnly: false }).kvs;
  } catch {
    return false;
  }
  if (kvs.length === 0) return c.target === 'VALUE' ? false : compareKV(c, undefined);
  for (const kv of kvs) if (!compareKV(c, kv)) return false;
  return true;
}

/** The branch taken at each txn level; children follow the nested txns of the chosen branch, in order. */
interface TxnPath {
  succeeded: boolean;
  children: TxnPath[];
}

/** etcd's compareToPath: every compare, nested ones included, sees the store as it was before the txn. */
function compareToPath(view: ReadView, r: TxnRequest): TxnPath {
  const succeeded = r.compare.every((c) => applyCompare(view, c));
  const children: TxnPath[] = [];
  for (const op of succeeded ? r.success : r.failure) {
    if (op.type === 'txn') children.push(compareToPath(view, op.txn));
  }
  return { succeeded, children };
}

function chosenOps(r: TxnRequest, path: TxnPath): RequestOp[] {
  return path.succeeded ? r.success : r.failure;
}

/** etcd's checkRequests: visits the ops on the chosen path, depth first, in order. */
function walkChosen(r: TxnRequest, path: TxnPath, check: (op: RequestOp) => void): void {
  let child = 0;
  for (const op of chosenOps(r, path)) {
    if (op.type === 'txn') walkChosen(op.txn, path.children[child++]!, check);
    else check(op);
  }
}

function checkPutOp(store: MvccStore, leases: LeaseChecker, op: RequestOp): void {
  if (op.type !== 'put') return;
  const p = op.put;
  if (p.ignoreValue || p.ignoreLease) {
    if (store.rangeKeys(p.key, null, { rev: 0, limit: 0, countOnly: false }).kvs.length === 0) throw Errors.keyNotFound();
  }
  if (p.lease !== 0n && !leases.exists(p.lease)) throw Errors.leaseNotFound();
}

function checkRangeOp(store: MvccStore, op: RequestOp): void {
  if (op.type !== 'range') return;
  const rev = op.range.revision;
  if (rev === 0) return;
  if (rev > store.currentRevision) throw Errors.futureRev();
  if (rev < store.compactMainRevision) throw Errors.compacted();
}

/**
 * Runs the chosen branch. `writer` is the open write txn, or null for a
 * read-only txn served straight from the store.
 */
function execTxn(view: ReadView, writer: WriteTxn | null, r: TxnRequest, path: TxnPath): TxnResponse {
  const responses: ResponseOp[] = [];
  let child = 0;
  for (const op of chosenOps(r, path)) {
    switch (op.type) {
      case 'range':
        responses.push({ type: 'range', range: executeRange(view, op.range) });
        break;
      case 'put':
        responses.push({ type: 'put', put: putInTxn(writer!, op.put) });
        break;
      case 'deleteRange':
        responses.push({ type: 'deleteRange', deleteRange: deleteInTxn(writer!, op.deleteRange) });
        break;
      case 'txn':
        responses.push({ type: 'txn', txn: execTxn(view, writer, op.txn, path.children[child++]!) });
        break;
    }
  }
  return { revision: 0, succeeded: path.succeeded, responses };
}

/**
 * etcd's Txn, start to finish: gRPC-layer validation (size, empty keys,
 * ignore_* misuse, duplicate keys), then compares, then the pre-checks on the
 * chosen path (puts: ignore_* keys exist, leases exist; ranges: revision not
 * future or compacted), all before anything is written.
 */
export function applyTxn(store: MvccStore, req: TxnRequest, leases: LeaseChecker, opts: TxnOptions): ApplyResult<TxnResponse> {
  checkTxnRequest(req, opts.maxTxnOps);
  checkIntervals(req.success);
  checkIntervals(req.failure);

  const isWrite = !isTxnReadonly(req);
  const path = compareToPath(store, req);
  if (isWrite) walkChosen(req, path, (op) => checkPutOp(store, leases, op));
  walkChosen(req, path, (op) => checkRangeOp(store, op));

  if (!isWrite) {
    const response = execTxn(store, null, req, path);
    response.revision = store.currentRevision;
    return { response, events: [], revision: store.currentRevision };
  }
  const { result, events, revision } = store.write((txn) => execTxn(txn, txn, req, path));
  result.revision = revision;
  return { response: result, events, revision };
}
