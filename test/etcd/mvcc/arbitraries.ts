// fast-check generators for KV requests over a tiny key alphabet, so keys,
// ranges and revisions collide often. Shared by the model-based tests.

import fc from 'fast-check';
import type {
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  SortOrder,
  SortTarget,
  TxnRequest,
} from '../../../etcd/types.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

export const keyArb = fc.oneof({ weight: 150, arbitrary: fc.constantFrom('a', 'b', 'c', 'd', 'ab') }, { weight: 1, arbitrary: fc.constant('') }).map(b);
/** '' = single key, '\0' = from key, others bound the range. */
export const endArb = fc.constantFrom('', '', '', 'c', 'e', '\0', 'b', 'a\0').map(b);
const valueArb = fc.constantFrom('', 'x', 'y', 'zz').map(b);
/** Leases 1 and 2 exist in the tests; 9 does not. */
const leaseArb = fc.oneof({ weight: 12, arbitrary: fc.constant(0n) }, { weight: 4, arbitrary: fc.constantFrom(1n, 2n) }, { weight: 1, arbitrary: fc.constant(9n) });
/** Mostly 0 (current); otherwise absolute revisions, some compacted or in the future. */
export const revArb = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -1, max: 30 }) });
const smallRev = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 25 }) });

const sortArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant<[SortOrder, SortTarget]>(['NONE', 'KEY']) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom<SortOrder>('NONE', 'ASCEND', 'DESCEND'), fc.constantFrom<SortTarget>('KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE')) },
);
const noFilters = { minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 };
const filtersArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(noFilters) },
  { weight: 1, arbitrary: fc.record({ minModRevision: smallRev, maxModRevision: smallRev, minCreateRevision: smallRev, maxCreateRevision: smallRev }) },
);

export const rangeArb: fc.Arbitrary<RangeRequest> = fc
  .record({
    key: keyArb,
    rangeEnd: endArb,
    limit: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -1, max: 3 }) }),
    revision: revArb,
    sort: sortArb,
    serializable: fc.boolean(),
    keysOnly: fc.boolean(),
    countOnly: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    filters: filtersArb,
  })
  .map(({ sort, filters, ...r }) => ({ ...r, ...filters, sortOrder: sort[0], sortTarget: sort[1] }));

export const putArb: fc.Arbitrary<PutRequest> = fc
  .record({
    key: keyArb,
    value: valueArb,
    lease: leaseArb,
    prevKv: fc.boolean(),
    ignore: fc.oneof({ weight: 12, arbitrary: fc.constant('none') }, { weight: 1, arbitrary: fc.constantFrom('value', 'lease', 'both') }),
    misuse: fc.oneof({ weight: 10, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  })
  .map(({ key, value, lease, prevKv, ignore, misuse }) => {
    const ignoreValue = ignore === 'value' || ignore === 'both';
    const ignoreLease = ignore === 'lease' || ignore === 'both';
    // Without misuse, ignore_* requests leave the ignored field empty, as valid clients do.
    return {
      key,
      value: ignoreValue && !misuse ? Buffer.alloc(0) : value,
      lease: ignoreLease && !misuse ? 0n : lease,
      prevKv,
      ignoreValue,
      ignoreLease,
    };
  });

export const deleteArb: fc.Arbitrary<DeleteRangeRequest> = fc.record({ key: keyArb, rangeEnd: endArb, prevKv: fc.boolean() });

const compareArb: fc.Arbitrary<Compare> = fc.record({
  result: fc.constantFrom<CompareResult>('EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'),
  target: fc.constantFrom<CompareTarget>('VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'),
  key: keyArb,
  rangeEnd: fc.constantFrom('', '', '', 'c', '\0').map(b),
  version: fc.integer({ min: 0, max: 3 }),
  createRevision: fc.integer({ min: 0, max: 12 }),
  modRevision: fc.integer({ min: 0, max: 12 }),
  value: valueArb,
  lease: fc.constantFrom(0n, 1n, 2n),
});

const leafOpArb: fc.Arbitrary<RequestOp> = fc.oneof(
  { weight: 2, arbitrary: rangeArb.map((range): RequestOp => ({ type: 'range', range })) },
  { weight: 4, arbitrary: putArb.map((put): RequestOp => ({ type: 'put', put })) },
  { weight: 2, arbitrary: deleteArb.map((deleteRange): RequestOp => ({ type: 'deleteRange', deleteRange })) },
);

function txnOf(op: fc.Arbitrary<RequestOp>, maxOps: number): fc.Arbitrary<TxnRequest> {
  return fc.record({
    compare: fc.array(compareArb, { maxLength: maxOps }),
    success: fc.array(op, { maxLength: maxOps }),
    failure: fc.array(op, { maxLength: maxOps }),
  });
}

const nestedTxnArb = txnOf(leafOpArb, 2);
const opArb: fc.Arbitrary<RequestOp> = fc.oneof(
  { weight: 8, arbitrary: leafOpArb },
  { weight: 1, arbitrary: nestedTxnArb.map((txn): RequestOp => ({ type: 'txn', txn })) },
);

export const txnArb: fc.Arbitrary<TxnRequest> = txnOf(opArb, 3);

export type Step =
  | { kind: 'put'; req: PutRequest }
  | { kind: 'delete'; req: DeleteRangeRequest }
  | { kind: 'range'; req: RangeRequest }
  | { kind: 'txn'; req: TxnRequest }
  /** Compacts at currentRevision - back (negative back: a future revision). */
  | { kind: 'compact'; back: number };

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: putArb.map((req): Step => ({ kind: 'put', req })) },
  { weight: 2, arbitrary: deleteArb.map((req): Step => ({ kind: 'delete', req })) },
  { weight: 4, arbitrary: rangeArb.map((req): Step => ({ kind: 'range', req })) },
  { weight: 4, arbitrary: txnArb.map((req): Step => ({ kind: 'txn', req })) },
  { weight: 1, arbitrary: fc.integer({ min: -1, max: 8 }).map((back): Step => ({ kind: 'compact', back })) },
);
