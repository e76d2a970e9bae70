// Request validation etcd does in its gRPC layer (v3rpc/key.go) before a
// request is proposed: empty keys, ignore_value/ignore_lease misuse, txn size,
// and overlapping writes inside a txn branch.

import { Errors } from '../errors.js';
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from '../types.js';

export const DEFAULT_MAX_TXN_OPS = 128;

export function checkRangeRequest(r: RangeRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey();
}

export function checkPutRequest(r: PutRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey();
  if (r.ignoreValue && r.value.length !== 0) throw Errors.valueProvided();
  if (r.ignoreLease && r.lease !== 0n) throw Errors.leaseProvided();
}

export function checkDeleteRequest(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey();
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  switch (op.type) {
    case 'range':
      return checkRangeRequest(op.range);
    case 'put':
      return checkPutRequest(op.put);
    case 'deleteRange':
      return checkDeleteRequest(op.deleteRange);
    case 'txn':
      return checkTxnRequest(op.txn, maxTxnOps);
  }
}

/**
 * etcd's checkTxnRequest: the largest of the compare/success/failure lists may
 * not exceed maxTxnOps, and a nested txn gets what is left of the budget
 * (maxTxnOps minus this level's largest list).
 */
export function checkTxnRequest(r: TxnRequest, maxTxnOps: number): void {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxTxnOps) throw Errors.tooManyOps();
  for (const c of r.compare) if (c.key.length === 0) throw Errors.emptyKey();
  for (const op of r.success) checkRequestOp(op, maxTxnOps - opc);
  for (const op of r.failure) checkRequestOp(op, maxTxnOps - opc);
}

/**
 * A delete range as etcd's interval tree holds it. Bounds compare as byte
 * strings except that an empty end is above everything; a range_end of "\0"
 * is taken literally (not as "to the end"), so a from-key delete overlaps no
 * put, exactly as in etcd.
 */
interface DelInterval {
  begin: Buffer;
  /** Empty = unbounded. */
  end: Buffer;
}

function pointInterval(key: Buffer): DelInterval {
  return { begin: key, end: Buffer.concat([key, Buffer.from([0])]) };
}

function covers(iv: DelInterval, key: Buffer): boolean {
  return Buffer.compare(iv.begin, key) <= 0 && (iv.end.length === 0 || Buffer.compare(key, iv.end) < 0);
}

function intersects(dels: DelInterval[], key: Buffer): boolean {
  for (const iv of dels) if (covers(iv, key)) return true;
  return false;
}

/** What etcd's Union(tree, ["\0", "")) copies: intervals overlapping ["\0", +inf). */
function unionable(iv: DelInterval): boolean {
  return iv.end.length === 0 || Buffer.compare(Buffer.from([0]), iv.end) < 0;
}

interface IntervalSets {
  /** Put keys, as latin1 strings (a byte-preserving map key). */
  puts: Set<string>;
  dels: DelInterval[];
}

/**
 * etcd's checkIntervals, in the same order so the same requests pass and fail:
 * this level's deletes are collected first; then each nested txn's puts (then
 * and else branches may share keys) are checked against puts so far and the
 * deletes so far, and its deletes are merged in; finally this level's puts are
 * checked. Note what etcd does not catch: a nested txn's delete against an
 * earlier sibling txn's put.
 */
export function checkIntervals(reqs: RequestOp[]): IntervalSets {
  const dels: DelInterval[] = [];
  for (const op of reqs) {
    if (op.type !== 'deleteRange') continue;
    const d = op.deleteRange;
    dels.push(d.rangeEnd.length !== 0 ? { begin: d.key, end: d.rangeEnd } : pointInterval(d.key));
  }

  const puts = new Set<string>();
  for (const op of reqs) {
    if (op.type !== 'txn') continue;
    const then = checkIntervals(op.txn.success);
    const els = checkIntervals(op.txn.failure);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, Buffer.from(k, 'latin1'))) throw Errors.duplicateKey();
      puts.add(k);
    }
    for (const k of els.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw Errors.duplicateKey();
      if (intersects(dels, Buffer.from(k, 'latin1'))) throw Errors.duplicateKey();
      puts.add(k);
    }
    for (const iv of then.dels) if (unionable(iv)) dels.push(iv);
    for (const iv of els.dels) if (unionable(iv)) dels.push(iv);
  }

  for (const op of reqs) {
    if (op.type !== 'put') continue;
    const key = op.put.key;
    const k = key.toString('latin1');
    if (puts.has(k) || intersects(dels, key)) throw Errors.duplicateKey();
    puts.add(k);
  }
  return { puts, dels };
}

/** etcd's isTxnReadonly: only Range ops at the top level (a nested txn counts as a write). */
export function isTxnReadonly(r: TxnRequest): boolean {
  for (const op of r.success) if (op.type !== 'range') return false;
  for (const op of r.failure) if (op.type !== 'range') return false;
  return true;
}
