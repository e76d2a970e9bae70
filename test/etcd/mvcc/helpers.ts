// Request builders with etcd's defaults, for readable unit tests.

import { EtcdError } from '../../../etcd/errors.js';
import type { Compare, DeleteRangeRequest, KeyValue, PutRequest, RangeRequest, RequestOp, TxnRequest } from '../../../etcd/types.js';

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');

export function rangeReq(key: string, rangeEnd = '', extra: Partial<RangeRequest> = {}): RangeRequest {
  return {
    key: b(key),
    rangeEnd: b(rangeEnd),
    limit: 0,
    revision: 0,
    sortOrder: 'NONE',
    sortTarget: 'KEY',
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
    ...extra,
  };
}

export function putReq(key: string, value: string, extra: Partial<PutRequest> = {}): PutRequest {
  return { key: b(key), value: b(value), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false, ...extra };
}

export function delReq(key: string, rangeEnd = '', prevKv = false): DeleteRangeRequest {
  return { key: b(key), rangeEnd: b(rangeEnd), prevKv };
}

export function cmp(key: string, target: Compare['target'], result: Compare['result'], operand: number | string | bigint, rangeEnd = ''): Compare {
  return {
    key: b(key),
    rangeEnd: b(rangeEnd),
    target,
    result,
    version: target === 'VERSION' ? Number(operand) : 0,
    createRevision: target === 'CREATE' ? Number(operand) : 0,
    modRevision: target === 'MOD' ? Number(operand) : 0,
    value: target === 'VALUE' ? b(String(operand)) : Buffer.alloc(0),
    lease: target === 'LEASE' ? BigInt(operand) : 0n,
  };
}

export const op = {
  range: (key: string, rangeEnd = '', extra: Partial<RangeRequest> = {}): RequestOp => ({ type: 'range', range: rangeReq(key, rangeEnd, extra) }),
  put: (key: string, value: string, extra: Partial<PutRequest> = {}): RequestOp => ({ type: 'put', put: putReq(key, value, extra) }),
  del: (key: string, rangeEnd = '', prevKv = false): RequestOp => ({ type: 'deleteRange', deleteRange: delReq(key, rangeEnd, prevKv) }),
  txn: (t: Partial<TxnRequest>): RequestOp => ({ type: 'txn', txn: txnReq(t) }),
};

export function txnReq(t: Partial<TxnRequest>): TxnRequest {
  return { compare: [], success: [], failure: [], ...t };
}

/** Compact, readable form of a KeyValue. */
export function show(kv: KeyValue): string {
  return `${kv.key.toString('latin1')}=${kv.value.toString('latin1')}@c${kv.createRevision}m${kv.modRevision}v${kv.version}${kv.lease ? `l${kv.lease}` : ''}`;
}

/** The message of the EtcdError fn throws, or 'no error'; anything else is rethrown. */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof EtcdError) return e.message;
    throw e;
  }
  return 'no error';
}
