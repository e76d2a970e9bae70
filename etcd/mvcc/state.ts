// The MVCC store's internal representation, shared by the store, its write
// transactions and the snapshot codec. Not part of the public API.
//
// Every key has a KeyEntry holding its retained revisions oldest first. A
// tombstone record ends a generation (etcd's keyIndex generations are implicit:
// the records between two tombstones). The same records also sit in one global
// log in (main, sub) revision order, which serves event replay, HashKV and
// snapshots. KeyValue objects are frozen and shared with callers.

import type { KeyValue } from '../types.js';
import type { OrderedIndex } from './ordered-index.js';
import type { ByteSlabs } from './slab.js';

export interface RevisionRecord {
  /** Position inside its main revision (etcd's sub revision). The main revision is kv.modRevision. */
  readonly sub: number;
  readonly tombstone: boolean;
  /**
   * For a tombstone: key and modRevision only, exactly a DELETE event's kv.
   * Replaced only by compaction moving the key or value to another slab
   * (same content, see slab.ts).
   */
  kv: KeyValue;
  /** The key's live value just before this change, when it had one and that history is retained. */
  prevKv: KeyValue | undefined;
  readonly entry: KeyEntry;
}

export interface KeyEntry {
  /** Replaced only by compaction moving it to another slab (same bytes). */
  key: Buffer;
  revs: RevisionRecord[];
  /**
   * Scratch of the snapshot encoder (snapshot.ts, KeyPositions): the key's
   * position in the key table of the snapshot numbered snapGen. 0 and 0
   * until a snapshot is taken.
   */
  snapGen: number;
  snapPos: number;
}

/** A new key's entry, with no revisions yet. */
export function newKeyEntry(key: Buffer): KeyEntry {
  return { key, revs: [], snapGen: 0, snapPos: 0 };
}

export interface StoreState {
  index: OrderedIndex<KeyEntry>;
  /** Where keys and values are copied to. */
  slabs: ByteSlabs;
  log: RevisionRecord[];
  currentRev: number;
  /** etcd's compactMainRev: -1 until the first compaction. */
  compactMainRev: number;
  /** Sum of recordCost over every retained revision. */
  retainedBytes: number;
  /** Sum of recordCost over the newest value of every live key. */
  liveBytes: number;
  liveKeys: number;
  writeActive: boolean;
}

/**
 * Estimated on-disk cost of one stored revision: key + value, the 17-byte
 * revision key, and roughly the protobuf and B+tree page-element overhead etcd
 * pays per entry.
 */
export const REVISION_OVERHEAD_BYTES = 64;

export function recordCost(kv: KeyValue): number {
  return kv.key.length + kv.value.length + REVISION_OVERHEAD_BYTES;
}

/** Index of the newest record with main revision <= rev, or -1. */
export function newestAtOrBelow(revs: RevisionRecord[], rev: number): number {
  let hi = revs.length - 1;
  if (hi < 0) return -1;
  if (revs[hi]!.kv.modRevision <= rev) return hi;
  let lo = 0;
  // Invariant: answer in [lo - 1, hi - 1].
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (revs[mid]!.kv.modRevision <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The key's value as of rev, or undefined when it did not exist then. */
export function visibleAt(entry: KeyEntry, rev: number): KeyValue | undefined {
  const i = newestAtOrBelow(entry.revs, rev);
  if (i < 0) return undefined;
  const r = entry.revs[i]!;
  return r.tombstone ? undefined : r.kv;
}

/** The key's newest value, counting uncommitted writes of the open write txn. */
export function latest(entry: KeyEntry): KeyValue | undefined {
  const r = entry.revs[entry.revs.length - 1];
  return r === undefined || r.tombstone ? undefined : r.kv;
}
