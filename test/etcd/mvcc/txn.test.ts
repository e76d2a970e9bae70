import { describe, expect, it } from 'vitest';
import { MvccStore } from '../../../etcd/mvcc/store.js';
import { applyDeleteRange, applyPut, applyRange, applyTxn, DEFAULT_MAX_TXN_OPS } from '../../../etcd/mvcc/txn.js';
import type { RequestOp, TxnRequest } from '../../../etcd/types.js';
import { cmp, delReq, errorOf, op, putReq, rangeReq, show, txnReq } from './helpers.js';

const LEASES = { exists: (id: bigint) => id === 7n || id === 8n };
const OPTS = { maxTxnOps: DEFAULT_MAX_TXN_OPS };

function seeded(): MvccStore {
  const s = new MvccStore();
  applyPut(s, putReq('a', '1'), LEASES); // 2
  applyPut(s, putReq('b', '2', { lease: 7n }), LEASES); // 3
  applyPut(s, putReq('a', '3'), LEASES); // 4
  return s;
}

const txn = (s: MvccStore, t: Partial<TxnRequest>, maxTxnOps = DEFAULT_MAX_TXN_OPS) => applyTxn(s, txnReq(t), LEASES, { maxTxnOps });
const txnError = (s: MvccStore, t: Partial<TxnRequest>, maxTxnOps = DEFAULT_MAX_TXN_OPS) => errorOf(() => txn(s, t, maxTxnOps));

describe('put', () => {
  it('validates like etcd, without touching the store on error', () => {
    const s = seeded();
    const before = s.serialize();
    expect(errorOf(() => applyPut(s, putReq('', 'x'), LEASES))).toBe('etcdserver: key is not provided');
    expect(errorOf(() => applyPut(s, putReq('a', 'x', { ignoreValue: true }), LEASES))).toBe('etcdserver: value is provided');
    expect(errorOf(() => applyPut(s, putReq('a', '', { ignoreLease: true, lease: 7n }), LEASES))).toBe('etcdserver: lease is provided');
    expect(errorOf(() => applyPut(s, putReq('a', 'x', { lease: 9n }), LEASES))).toBe('etcdserver: requested lease not found');
    expect(errorOf(() => applyPut(s, putReq('zz', '', { ignoreValue: true }), LEASES))).toBe('etcdserver: key not found');
    expect(errorOf(() => applyPut(s, putReq('zz', '', { ignoreLease: true }), LEASES))).toBe('etcdserver: key not found');
    expect(s.serialize().equals(before)).toBe(true);
  });

  it('keeps the value or lease with ignore_value / ignore_lease and returns prev_kv', () => {
    const s = seeded();
    const r1 = applyPut(s, putReq('b', '', { ignoreValue: true, lease: 8n, prevKv: true }), LEASES);
    expect(r1.response.revision).toBe(5);
    expect(show(r1.response.prevKv!)).toBe('b=2@c3m3v1l7');
    const r2 = applyPut(s, putReq('b', 'new', { ignoreLease: true }), LEASES);
    expect(r2.response).toEqual({ revision: 6 });
    expect(applyRange(s, rangeReq('b')).response.kvs.map(show)).toEqual(['b=new@c3m6v3l8']);
    expect(applyPut(s, putReq('fresh', 'v', { prevKv: true }), LEASES).response).toEqual({ revision: 7 });
  });
});

describe('deleteRange', () => {
  it('returns prev_kvs and the number deleted', () => {
    const s = seeded();
    const r = applyDeleteRange(s, delReq('a', '\0', true));
    expect(r.response.revision).toBe(5);
    expect(r.response.deleted).toBe(2);
    expect(r.response.prevKvs.map(show)).toEqual(['a=3@c2m4v2', 'b=2@c3m3v1l7']);
    expect(r.events.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision, show(e.prevKv!)])).toEqual([
      ['DELETE', 'a', 5, 'a=3@c2m4v2'],
      ['DELETE', 'b', 5, 'b=2@c3m3v1l7'],
    ]);
    expect(errorOf(() => applyDeleteRange(s, delReq('')))).toBe('etcdserver: key is not provided');
  });
});

describe('txn compares', () => {
  const succeeded = (s: MvccStore, ...compare: ReturnType<typeof cmp>[]) => txn(s, { compare }).response.succeeded;

  it('compares each target of an existing key', () => {
    const s = seeded();
    expect(succeeded(s, cmp('a', 'VALUE', 'EQUAL', '3'))).toBe(true);
    expect(succeeded(s, cmp('a', 'VALUE', 'GREATER', '2'))).toBe(true);
    expect(succeeded(s, cmp('a', 'VALUE', 'LESS', '3'))).toBe(false);
    expect(succeeded(s, cmp('a', 'VERSION', 'EQUAL', 2))).toBe(true);
    expect(succeeded(s, cmp('a', 'CREATE', 'EQUAL', 2))).toBe(true);
    expect(succeeded(s, cmp('a', 'MOD', 'LESS', 5))).toBe(true);
    expect(succeeded(s, cmp('a', 'MOD', 'NOT_EQUAL', 4))).toBe(false);
    expect(succeeded(s, cmp('b', 'LEASE', 'EQUAL', 7n))).toBe(true);
    expect(succeeded(s, cmp('a', 'LEASE', 'EQUAL', 0n))).toBe(true);
    expect(succeeded(s, cmp('a', 'VERSION', 'EQUAL', 2), cmp('b', 'VERSION', 'EQUAL', 2))).toBe(false);
  });

  it('treats a missing key as zero, except for VALUE which never matches', () => {
    const s = seeded();
    expect(succeeded(s, cmp('nope', 'VERSION', 'EQUAL', 0))).toBe(true);
    expect(succeeded(s, cmp('nope', 'CREATE', 'LESS', 1))).toBe(true);
    expect(succeeded(s, cmp('nope', 'MOD', 'EQUAL', 0))).toBe(true);
    expect(succeeded(s, cmp('nope', 'LEASE', 'EQUAL', 0n))).toBe(true);
    expect(succeeded(s, cmp('nope', 'VALUE', 'EQUAL', ''))).toBe(false);
    expect(succeeded(s, cmp('nope', 'VALUE', 'NOT_EQUAL', 'x'))).toBe(false);
  });

  it('requires every key of a range compare to match', () => {
    const s = seeded();
    expect(succeeded(s, cmp('a', 'CREATE', 'GREATER', 1, 'c'))).toBe(true);
    expect(succeeded(s, cmp('a', 'CREATE', 'GREATER', 2, 'c'))).toBe(false);
    expect(succeeded(s, cmp('\0', 'VERSION', 'GREATER', 0, '\0'))).toBe(true);
    // An empty range compares a zero KeyValue.
    expect(succeeded(s, cmp('x', 'VERSION', 'EQUAL', 0, 'z'))).toBe(true);
    expect(succeeded(s, cmp('x', 'VALUE', 'EQUAL', '', 'z'))).toBe(false);
  });
});

describe('txn execution', () => {
  it('runs one branch at one revision, reads seeing earlier writes', () => {
    const s = seeded();
    const r = txn(s, {
      compare: [cmp('a', 'VALUE', 'EQUAL', '3')],
      success: [op.range('a'), op.del('missing'), op.put('a', '4', { prevKv: true }), op.range('a'), op.del('missing'), op.put('c', '5'), op.del('b', '', true)],
      failure: [op.put('never', 'x')],
    });
    expect(r.revision).toBe(5);
    expect(r.response.revision).toBe(5);
    expect(r.response.succeeded).toBe(true);
    const [r0, d0, p0, r1, d1, p1, d2] = r.response.responses;
    expect(r0).toMatchObject({ type: 'range', range: { revision: 4, count: 1 } });
    expect(d0).toEqual({ type: 'deleteRange', deleteRange: { revision: 4, deleted: 0, prevKvs: [] } });
    expect(p0?.type === 'put' && [p0.put.revision, show(p0.put.prevKv!)]).toEqual([5, 'a=3@c2m4v2']);
    expect(r1?.type === 'range' && [r1.range.revision, r1.range.kvs.map(show)]).toEqual([5, ['a=4@c2m5v3']]);
    expect(d1).toEqual({ type: 'deleteRange', deleteRange: { revision: 5, deleted: 0, prevKvs: [] } });
    expect(p1).toEqual({ type: 'put', put: { revision: 5 } });
    expect(d2?.type === 'deleteRange' && [d2.deleteRange.deleted, d2.deleteRange.prevKvs.map(show)]).toEqual([1, ['b=2@c3m3v1l7']]);
    expect(r.events.map((e) => `${e.type} ${e.kv.key.toString()}`)).toEqual(['PUT a', 'PUT c', 'DELETE b']);
    expect(applyRange(s, rangeReq('never')).response.count).toBe(0);
  });

  it('leaves the revision alone for read-only or no-op txns', () => {
    const s = seeded();
    const ro = txn(s, { success: [op.range('a')] });
    expect([ro.revision, ro.response.revision, ro.events]).toEqual([4, 4, []]);
    const noop = txn(s, { success: [op.del('missing'), op.txn({ success: [op.range('a')] })] });
    expect([noop.revision, noop.response.revision]).toEqual([4, 4]);
    expect(s.currentRevision).toBe(4);
  });

  it('decides nested branches against the state before the txn and leaves nested revisions at 0', () => {
    const s = seeded();
    const r = txn(s, {
      success: [op.put('c', 'new'), op.txn({ compare: [cmp('c', 'VERSION', 'EQUAL', 0)], success: [op.range('c'), op.put('d', '1')], failure: [op.put('e', '1')] })],
    });
    const nested = r.response.responses[1]!;
    expect(nested.type).toBe('txn');
    if (nested.type !== 'txn') return;
    expect(nested.txn.succeeded).toBe(true);
    expect(nested.txn.revision).toBe(0);
    const [rr, pp] = nested.txn.responses;
    expect(rr?.type === 'range' && [rr.range.revision, rr.range.kvs.map(show)]).toEqual([5, ['c=new@c5m5v1']]);
    expect(pp).toEqual({ type: 'put', put: { revision: 5 } });
  });

  it('fails atomically when a check on the chosen path fails', () => {
    const s = seeded();
    const before = s.serialize();
    const bad: [Partial<TxnRequest>, string][] = [
      [{ success: [op.put('x', '1'), op.put('y', '1', { lease: 9n })] }, 'etcdserver: requested lease not found'],
      [{ success: [op.put('x', '1'), op.txn({ success: [op.put('y', '', { ignoreValue: true })] })] }, 'etcdserver: key not found'],
      [{ success: [op.put('x', '1'), op.range('a', '', { revision: 5 })] }, 'etcdserver: mvcc: required revision is a future revision'],
      // Puts are checked before ranges, whatever their order.
      [{ success: [op.range('a', '', { revision: 9 }), op.put('y', '1', { lease: 9n })] }, 'etcdserver: requested lease not found'],
    ];
    for (const [t, message] of bad) {
      expect(txnError(s, t)).toBe(message);
      expect(s.serialize().equals(before)).toBe(true);
    }
    // The branch not taken is not checked.
    expect(txn(s, { compare: [cmp('a', 'VERSION', 'EQUAL', 2)], failure: [op.put('y', '1', { lease: 9n })] }).response.succeeded).toBe(true);
    s.compact(3);
    expect(txnError(s, { success: [op.range('a', '', { revision: 2 })] })).toBe('etcdserver: mvcc: required revision has been compacted');
    expect(txn(s, { success: [op.range('a', '', { revision: 3 })] }).response.responses[0]).toMatchObject({ range: { count: 1 } });
  });
});

describe('txn validation', () => {
  it('limits the number of operations, nested txns sharing the budget', () => {
    const s = seeded();
    const puts = (n: number, prefix: string): RequestOp[] => Array.from({ length: n }, (_, i) => op.put(`${prefix}${i}`, 'v'));
    expect(txnError(s, { success: puts(129, 'k') })).toBe('etcdserver: too many operations in txn request');
    expect(txn(s, { success: puts(128, 'k') }).response.responses).toHaveLength(128);
    expect(txnError(s, { compare: Array.from({ length: 4 }, () => cmp('a', 'VERSION', 'GREATER', 0)) }, 3)).toBe('etcdserver: too many operations in txn request');
    // Outer max is 2, so the nested txn may have at most 5 - 2 = 3.
    expect(txnError(s, { success: [op.put('x', '1'), op.txn({ success: puts(4, 'n') })] }, 5)).toBe('etcdserver: too many operations in txn request');
    expect(txn(s, { success: [op.put('x', '1'), op.txn({ success: puts(3, 'n') })] }, 5).response.succeeded).toBe(true);
  });

  it('rejects empty keys anywhere', () => {
    const s = seeded();
    expect(txnError(s, { compare: [cmp('', 'VERSION', 'EQUAL', 0)] })).toBe('etcdserver: key is not provided');
    expect(txnError(s, { failure: [op.range('')] })).toBe('etcdserver: key is not provided');
    expect(txnError(s, { success: [op.txn({ failure: [op.del('')] })] })).toBe('etcdserver: key is not provided');
    expect(txnError(s, { success: [op.put('a', 'x', { ignoreValue: true })] })).toBe('etcdserver: value is provided');
  });

  it('rejects overlapping writes in a branch the way etcd does', () => {
    const s = seeded();
    const dup = 'etcdserver: duplicate key given in txn request';
    expect(txnError(s, { success: [op.put('a', '1'), op.put('a', '2')] })).toBe(dup);
    expect(txnError(s, { failure: [op.put('a', '1'), op.del('a')] })).toBe(dup);
    expect(txnError(s, { success: [op.del('a', 'c'), op.put('b', '1')] })).toBe(dup);
    expect(txnError(s, { success: [op.put('x', '1'), op.txn({ success: [op.put('x', '2')] })] })).toBe(dup);
    expect(txnError(s, { success: [op.del('w', 'z'), op.txn({ failure: [op.put('x', '2')] })] })).toBe(dup);
    expect(txnError(s, { success: [op.txn({ success: [op.del('x')] }), op.txn({ success: [op.put('x', '2')] })] })).toBe(dup);
    expect(txnError(s, { success: [op.txn({ success: [op.put('x', '1')] }), op.txn({ failure: [op.put('x', '2')] })] })).toBe(dup);

    const ok = (t: Partial<TxnRequest>) => expect(txn(s, t).response).toBeDefined();
    // Same key in both branches of a nested txn: only one can run.
    ok({ success: [op.txn({ success: [op.put('x', '1')], failure: [op.put('x', '2')] })] });
    // Separate top-level branches never conflict.
    ok({ success: [op.put('x', '1')], failure: [op.del('x')] });
    // Deletes may overlap each other.
    ok({ success: [op.del('a'), op.del('a', 'c')] });
    // etcd quirks: a from-key delete ("\0") covers no put, and a later sibling's delete is not checked against an earlier sibling's put.
    ok({ success: [op.del('a', '\0'), op.put('b', '1')] });
    ok({ success: [op.txn({ success: [op.put('y', '1')] }), op.txn({ success: [op.del('y')] })] });
    expect(applyRange(s, rangeReq('y')).response.count).toBe(0);
  });
});
