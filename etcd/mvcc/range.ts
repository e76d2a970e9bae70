// etcd's request-level Range (etcdserver apply.go Range) on top of the raw
// index read: fetch size, revision filters, sort quirks, limit/more, keys_only.

import type { KeyValue, RangeRequest, RangeResponse, SortTarget } from '../types.js';
import { EMPTY } from '../types.js';

/** Raw read options, etcd's mvcc.RangeOptions. */
export interface RawRangeOptions {
  /** Revision to read at; <= 0 means the view's revision. */
  rev: number;
  /** Max kvs to return (<= 0: no limit). count still covers the whole range. */
  limit: number;
  /** Return no kvs, only count. */
  countOnly: boolean;
}

export interface RawRangeResult {
  /** Frozen, shared KeyValues in ascending key order. */
  kvs: KeyValue[];
  /** Keys in the range at the revision, ignoring limit. */
  count: number;
  /** The view's revision (not the revision read at), etcd's RangeResult.Rev. */
  rev: number;
}

/**
 * Something a Range can read: the store at its current revision, or a write
 * txn that also sees its own writes.
 */
export interface ReadView {
  /**
   * end: null = the single key `key`; an empty buffer = every key >= key;
   * otherwise [key, end). Throws Errors.futureRev() / Errors.compacted().
   */
  rangeKeys(key: Buffer, end: Buffer | null, opts: RawRangeOptions): RawRangeResult;
}

/** A request range_end to the index's end convention (etcd's mkGteRange plus the nil/empty split). */
export function indexEnd(rangeEnd: Buffer): Buffer | null {
  if (rangeEnd.length === 0) return null;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return EMPTY;
  return rangeEnd;
}

type Cmp = (a: KeyValue, b: KeyValue) => number;

const comparators: Record<SortTarget, Cmp> = {
  KEY: (a, b) => Buffer.compare(a.key, b.key),
  VERSION: (a, b) => a.version - b.version,
  CREATE: (a, b) => a.createRevision - b.createRevision,
  MOD: (a, b) => a.modRevision - b.modRevision,
  VALUE: (a, b) => Buffer.compare(a.value, b.value),
};

function stripValue(kv: KeyValue): KeyValue {
  return { key: kv.key, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, value: EMPTY, lease: kv.lease };
}

/**
 * Runs a RangeRequest against a view with etcd's exact semantics:
 * - With any sort order or revision filter, everything in range is fetched,
 *   then filtered, sorted and cut to limit; otherwise limit + 1 keys are
 *   fetched (in key order) to learn `more`.
 * - count is the number of keys in range at the revision before filters and
 *   limit; `more` is whether the filtered, sorted list exceeded limit.
 * - sort_order NONE with a target other than KEY sorts ascending, applied to
 *   the limit + 1 keys fetched in key order (etcd does the same).
 * - Ties keep ascending key order (Go's sort.Sort does so for up to 12 items;
 *   beyond that its order for ties is unspecified).
 * The caller validates the key (empty key is rejected by the API layer and by
 * MvccStore.range).
 */
export function executeRange(view: ReadView, r: RangeRequest): RangeResponse {
  let limit = r.limit;
  const filtered = r.minModRevision !== 0 || r.maxModRevision !== 0 || r.minCreateRevision !== 0 || r.maxCreateRevision !== 0;
  if (r.sortOrder !== 'NONE' || filtered) limit = 0;
  if (limit > 0) limit++;

  const rr = view.rangeKeys(r.key, indexEnd(r.rangeEnd), { rev: r.revision, limit, countOnly: r.countOnly });
  let kvs = rr.kvs;
  if (filtered) {
    const { maxModRevision, minModRevision, maxCreateRevision, minCreateRevision } = r;
    kvs = kvs.filter(
      (kv) =>
        !(maxModRevision !== 0 && kv.modRevision > maxModRevision) &&
        !(minModRevision !== 0 && kv.modRevision < minModRevision) &&
        !(maxCreateRevision !== 0 && kv.createRevision > maxCreateRevision) &&
        !(minCreateRevision !== 0 && kv.createRevision < minCreateRevision),
    );
  }

  let order = r.sortOrder;
  if (r.sortTarget !== 'KEY' && order === 'NONE') order = 'ASCEND';
  // Fetched kvs are already in ascending key order.
  if (order !== 'NONE' && !(order === 'ASCEND' && r.sortTarget === 'KEY')) {
    const cmp = comparators[r.sortTarget];
    // Sorting in place is fine: rangeKeys hands out a fresh array.
    if (order === 'ASCEND') kvs.sort(cmp);
    else kvs.sort((a, b) => cmp(b, a));
  }

  let more = false;
  if (r.limit > 0 && kvs.length > r.limit) {
    kvs = kvs.slice(0, r.limit);
    more = true;
  }
  if (r.keysOnly) kvs = kvs.map(stripValue);
  return { revision: rr.rev, kvs, more, count: rr.count };
}
