// The MVCC key-value store of faultline-etcd: etcd's mvcc package (kvstore,
// keyIndex, treeIndex) as a pure, synchronous, deterministic module.
//
// Revisions
// - A fresh store is at revision 1. Each write txn that changes something
//   commits at currentRevision + 1; every change inside it gets the next sub
//   revision (0, 1, ...). A write txn that changes nothing leaves the revision
//   alone.
// - Per key: createRevision, modRevision, version (1 on create, +1 per put, a
//   delete ends the generation), lease. Reads at older revisions see older
//   values until compaction drops them.
//
// Compaction (etcd rules)
// - compact(rev) needs compactMainRevision < rev <= currentRevision, else
//   Errors.compacted() / Errors.futureRev(). etcd's compactMainRev starts at
//   -1, so compact(0) on a never-compacted store is accepted, like etcd.
// - Afterwards each key keeps its revisions above rev plus its newest revision
//   at or below rev, unless that one is a tombstone (then the key's history up
//   to rev is gone, and a key with nothing newer disappears entirely).
// - Range at revision < compactRevision fails with Errors.compacted(); at
//   exactly compactRevision it still works.
// - `compactRevision` reports 0 until the first compaction; HashKV reports -1
//   then (etcd's HashKVResponse.compact_revision before any compaction).
//
// Event replay API (for the watch hub)
// - Each committed write txn returns its events from WriteTxn.end() (or
//   write()), in sub-revision order. Every event carries prevKv when the key
//   had a live value before the change (a DELETE always does; a PUT that
//   creates the key never does); watchers that did not ask for prev_kv must
//   have it stripped. A DELETE event's kv has only key and modRevision.
// - eventBatch(start, maxEvents) returns the retained events with revision >=
//   start, oldest first, plus nextRevision: call again with nextRevision to
//   continue; once caught up, nextRevision is max(start, currentRevision + 1).
//   A revision's events are never split: a batch stops before the revision
//   that would exceed maxEvents, but always holds at least one whole revision
//   when any remains. eventsFrom(start, maxEvents) is the same batch's events
//   alone (the shape the watch hub's EventHistory asks for).
// - start < compactRevision throws Errors.compacted() (etcd's watcher check is
//   minRev < compactRev). start == compactRevision is allowed and, like etcd
//   replaying from its backend, yields only the revisions compaction kept at
//   that revision (puts that were still the newest value), without prevKv.
//
// Sharing: KeyValue objects handed out (range results, events) are frozen and
// shared with the store; their Buffers must not be mutated. Keys and values
// passed in are copied.

import { Errors } from '../errors.js';
import type { HashKVResult, KeyValue, LeaseId, MvccEvent, RangeRequest, RangeResponse } from '../types.js';
import { EMPTY } from '../types.js';
import { hashBackendEntry, KEY_BUCKET_NAME } from './backend-encoding.js';
import { Crc32c } from '../util/crc32c.js';
import { OrderedIndex, indexKey } from './ordered-index.js';
import type { RawRangeOptions, RawRangeResult, ReadView } from './range.js';
import { executeRange, indexEnd } from './range.js';
import { decodeSnapshot, encodeSnapshot, planSnapshot, sliceSnapshot, snapshotChecksum, type SlicedImage } from './snapshot.js';
import type { KeyEntry, RevisionRecord, StoreState } from './state.js';
import { ByteSlabs, type SlabCensus } from './slab.js';
import { latest, newestAtOrBelow, newKeyEntry, recordCost, visibleAt } from './state.js';

export interface WriteResult {
  /** The store revision after the txn (unchanged when nothing changed). */
  revision: number;
  /** One event per change, in sub-revision order. */
  events: MvccEvent[];
}

export interface EventBatch {
  events: MvccEvent[];
  /** Pass this as the next start revision to continue. */
  nextRevision: number;
}

function toEvent(rec: RevisionRecord): MvccEvent {
  const type = rec.tombstone ? 'DELETE' : 'PUT';
  return rec.prevKv ? { type, kv: rec.kv, prevKv: rec.prevKv } : { type, kv: rec.kv };
}

function rangeKeysAt(state: StoreState, curRev: number, key: Buffer, end: Buffer | null, opts: RawRangeOptions): RawRangeResult {
  let rev = opts.rev;
  if (rev > curRev) throw Errors.futureRev();
  if (rev <= 0) rev = curRev;
  if (rev < state.compactMainRev) throw Errors.compacted();
  if (end === null) {
    const entry = state.index.get(key);
    const kv = entry && visibleAt(entry, rev);
    if (!kv) return { kvs: [], count: 0, rev: curRev };
    return { kvs: opts.countOnly ? [] : [kv], count: 1, rev: curRev };
  }
  const kvs: KeyValue[] = [];
  let count = 0;
  const limit = opts.limit;
  const collect = !opts.countOnly;
  state.index.scan(key, end.length === 0 ? null : end, (_k, entry) => {
    const kv = visibleAt(entry, rev);
    if (kv === undefined) return;
    count++;
    if (collect && (limit <= 0 || kvs.length < limit)) kvs.push(kv);
  });
  return { kvs, count, rev: curRev };
}

function emptyState(slabBytes?: number): StoreState {
  return {
    index: new OrderedIndex<KeyEntry>(),
    slabs: slabBytes === undefined ? new ByteSlabs() : new ByteSlabs(slabBytes, slabBytes),
    log: [],
    currentRev: 1,
    compactMainRev: -1,
    retainedBytes: 0,
    liveBytes: 0,
    liveKeys: 0,
    writeActive: false,
  };
}

/** Entries looked at between two yields of tidySlabs: a few milliseconds of work. */
const TIDY_ENTRIES_PER_SLICE = 4096;
/** Bytes copied between two yields of tidySlabs. */
const TIDY_BYTES_PER_SLICE = 512 * 1024;
/**
 * A compaction queues a tidy-up once this fraction of what was retained has
 * been dropped since the last one: fewer drops cannot leave many slabs
 * mostly empty, and the count costs a pass over every key.
 */
const TIDY_AFTER_DROPPED_FRACTION = 0.25;

/**
 * Moves one entry's key and values out of the slabs the census marked
 * (same bytes in the current slab; see slab.ts). A moved record gets a new
 * KeyValue object, and the next record's prevKv follows it. Returns the
 * bytes copied.
 */
function moveEntry(state: StoreState, entry: KeyEntry, census: SlabCensus): number {
  let copied = 0;
  const moveKey = census.shouldMove(entry.key);
  if (moveKey) {
    entry.key = state.slabs.copy(entry.key);
    // Same bytes: the index replaces the Buffer it keeps beside the key.
    state.index.set(entry.key, entry);
    copied += entry.key.length;
  }
  let before: KeyValue | undefined;
  let after: KeyValue | undefined;
  for (const rec of entry.revs) {
    const old = rec.kv;
    // prevKv is undefined or the kv of the record before (a put's or a tombstone's predecessor).
    if (rec.prevKv !== undefined && rec.prevKv === before) rec.prevKv = after;
    const moveValue = !rec.tombstone && census.shouldMove(old.value);
    if (moveKey || moveValue) {
      const value = moveValue ? state.slabs.copy(old.value) : old.value;
      if (moveValue) copied += value.length;
      rec.kv = Object.freeze({ ...old, key: entry.key, value });
    }
    before = old;
    after = rec.kv;
  }
  return copied;
}

/**
 * One write transaction: every change shares main revision beginRevision + 1.
 * Reads see the txn's own earlier writes. Finish with end() (commit) or
 * abort() (undo everything); only one can be open per store at a time.
 */
export class WriteTxn implements ReadView {
  readonly beginRevision: number;
  private readonly changes: RevisionRecord[] = [];
  private readonly createdEntries: KeyEntry[] = [];
  private open = true;

  /** @internal Use MvccStore.beginWrite(). */
  constructor(private readonly state: StoreState) {
    if (state.writeActive) throw new Error('mvcc: a write txn is already open');
    state.writeActive = true;
    this.beginRevision = state.currentRev;
  }

  /** The revision reads in this txn are served at: beginRevision, or beginRevision + 1 after a change. */
  get revision(): number {
    return this.changes.length > 0 ? this.beginRevision + 1 : this.beginRevision;
  }

  get changeCount(): number {
    return this.changes.length;
  }

  private assertOpen(): void {
    if (!this.open) throw new Error('mvcc: write txn already ended');
  }

  rangeKeys(key: Buffer, end: Buffer | null, opts: RawRangeOptions): RawRangeResult {
    this.assertOpen();
    return rangeKeysAt(this.state, this.revision, key, end, opts);
  }

  /** A RangeRequest inside the txn (etcd's Range with a write txn). */
  range(req: RangeRequest): RangeResponse {
    if (req.key.length === 0) throw Errors.emptyKey();
    return executeRange(this, req);
  }

  /** Writes key = value; returns the txn's revision (beginRevision + 1). */
  put(key: Buffer, value: Buffer, lease: LeaseId = 0n): number {
    this.assertOpen();
    if (key.length === 0) throw Errors.emptyKey();
    const state = this.state;
    const main = this.beginRevision + 1;
    // One string form of the key for the lookup and, for a new key, the insert.
    const k = indexKey(key);
    let entry = state.index.get(key, k);
    if (entry === undefined) {
      entry = newKeyEntry(state.slabs.copy(key));
      state.index.set(entry.key, entry, k);
      this.createdEntries.push(entry);
    }
    const prev = latest(entry);
    const kv: KeyValue = Object.freeze({
      key: entry.key,
      createRevision: prev ? prev.createRevision : main,
      modRevision: main,
      version: prev ? prev.version + 1 : 1,
      value: value.length === 0 ? EMPTY : state.slabs.copy(value),
      lease,
    });
    const rec: RevisionRecord = { sub: this.changes.length, tombstone: false, kv, prevKv: prev, entry };
    entry.revs.push(rec);
    this.changes.push(rec);
    const cost = recordCost(kv);
    state.retainedBytes += cost;
    if (prev) state.liveBytes += cost - recordCost(prev);
    else {
      state.liveBytes += cost;
      state.liveKeys++;
    }
    return main;
  }

  /**
   * Deletes every live key in the range; rangeEnd as in DeleteRangeRequest
   * (empty: the single key, "\0": every key >= key). The revision is etcd's:
   * beginRevision + 1 if this or an earlier op of the txn changed something,
   * else beginRevision.
   */
  deleteRange(key: Buffer, rangeEnd: Buffer): { deleted: number; revision: number } {
    this.assertOpen();
    if (key.length === 0) throw Errors.emptyKey();
    const state = this.state;
    const end = indexEnd(rangeEnd);
    const doomed: KeyEntry[] = [];
    if (end === null) {
      const entry = state.index.get(key);
      if (entry && latest(entry)) doomed.push(entry);
    } else {
      state.index.scan(key, end.length === 0 ? null : end, (_k, entry) => {
        if (latest(entry)) doomed.push(entry);
      });
    }
    const main = this.beginRevision + 1;
    for (const entry of doomed) {
      const prev = latest(entry)!;
      const kv: KeyValue = Object.freeze({ key: entry.key, createRevision: 0, modRevision: main, version: 0, value: EMPTY, lease: 0n });
      const rec: RevisionRecord = { sub: this.changes.length, tombstone: true, kv, prevKv: prev, entry };
      entry.revs.push(rec);
      this.changes.push(rec);
      state.retainedBytes += recordCost(kv);
      state.liveBytes -= recordCost(prev);
      state.liveKeys--;
    }
    return { deleted: doomed.length, revision: this.revision };
  }

  /** Commits: the store moves to beginRevision + 1 if anything changed. */
  end(): WriteResult {
    this.assertOpen();
    this.open = false;
    const state = this.state;
    state.writeActive = false;
    if (this.changes.length === 0) return { revision: state.currentRev, events: [] };
    state.currentRev = this.beginRevision + 1;
    const events: MvccEvent[] = new Array<MvccEvent>(this.changes.length);
    for (let i = 0; i < this.changes.length; i++) {
      const rec = this.changes[i]!;
      state.log.push(rec);
      events[i] = toEvent(rec);
    }
    return { revision: state.currentRev, events };
  }

  /** Undoes every change of the txn; the store is left exactly as before it began. */
  abort(): void {
    if (!this.open) return;
    this.open = false;
    const state = this.state;
    state.writeActive = false;
    for (let i = this.changes.length - 1; i >= 0; i--) {
      const rec = this.changes[i]!;
      const entry = rec.entry;
      entry.revs.pop();
      state.retainedBytes -= recordCost(rec.kv);
      const after = latest(entry);
      const before = rec.tombstone ? undefined : rec.kv;
      state.liveBytes += (after ? recordCost(after) : 0) - (before ? recordCost(before) : 0);
      state.liveKeys += (after ? 1 : 0) - (before ? 1 : 0);
    }
    for (const entry of this.createdEntries) {
      if (entry.revs.length === 0) state.index.delete(entry.key);
    }
    this.changes.length = 0;
  }
}

export class MvccStore implements ReadView {
  private state: StoreState;
  /** Whether a compaction asked for a tidy-up that has not started yet. */
  private tidyQueued = false;
  /** Bumped by every compaction: a tidy-up of an older epoch stops. */
  private tidyEpoch = 0;
  /** The epoch of the tidy-up in progress, if any. */
  private tidyRunningEpoch: number | undefined;
  /** Record costs dropped by compactions since the last tidy-up was queued. */
  private droppedSinceTidy = 0;

  /** slabBytes: one fixed size for the slabs keys and values are copied into (tests use tiny ones to exercise compaction's moves); by default they grow (slab.ts). */
  constructor(opts: { slabBytes?: number } = {}) {
    this.state = emptyState(opts.slabBytes);
  }

  get currentRevision(): number {
    return this.state.currentRev;
  }

  /** The last compaction's revision; 0 before any compaction. */
  get compactRevision(): number {
    return Math.max(0, this.state.compactMainRev);
  }

  /** etcd's compactMainRev: -1 before any compaction (what HashKV reports). */
  get compactMainRevision(): number {
    return this.state.compactMainRev;
  }

  /** Number of keys live at the current revision. */
  get keyCount(): number {
    return this.state.liveKeys;
  }

  rangeKeys(key: Buffer, end: Buffer | null, opts: RawRangeOptions): RawRangeResult {
    return rangeKeysAt(this.state, this.state.currentRev, key, end, opts);
  }

  /** A RangeRequest at req.revision (0 = current); see executeRange for the semantics. */
  range(req: RangeRequest): RangeResponse {
    if (req.key.length === 0) throw Errors.emptyKey();
    return executeRange(this, req);
  }

  beginWrite(): WriteTxn {
    return new WriteTxn(this.state);
  }

  /** Runs fn in a write txn and commits it; if fn throws, the txn is aborted and the error rethrown. */
  write<T>(fn: (txn: WriteTxn) => T): WriteResult & { result: T } {
    const txn = this.beginWrite();
    let result: T;
    try {
      result = fn(txn);
    } catch (err) {
      txn.abort();
      throw err;
    }
    const { revision, events } = txn.end();
    return { revision, events, result };
  }

  private assertNoWrite(what: string): void {
    if (this.state.writeActive) throw new Error(`mvcc: ${what} while a write txn is open`);
  }

  compact(rev: number): void {
    this.assertNoWrite('compact');
    const state = this.state;
    if (rev <= state.compactMainRev) throw Errors.compacted();
    if (rev > state.currentRev) throw Errors.futureRev();
    state.compactMainRev = rev;
    const retainedBefore = state.retainedBytes;

    // One pass over every key and the log, O(retained + dropped), like etcd's
    // index compaction; it runs rarely, and keeping writes O(log n) matters more.
    const keptKeys: Buffer[] = [];
    const keptEntries: KeyEntry[] = [];
    for (const [key, entry] of state.index.entries()) {
      const revs = entry.revs;
      const i = newestAtOrBelow(revs, rev);
      const from = i < 0 ? 0 : revs[i]!.tombstone ? i + 1 : i;
      if (from > 0) {
        for (let j = 0; j < from; j++) state.retainedBytes -= recordCost(revs[j]!.kv);
        entry.revs = revs.slice(from);
        // Its predecessor is gone; etcd cannot produce it either (read at a compacted revision).
        if (entry.revs.length > 0) entry.revs[0]!.prevKv = undefined;
      }
      if (entry.revs.length > 0) {
        keptKeys.push(key);
        keptEntries.push(entry);
      }
    }
    if (keptKeys.length !== state.index.size) state.index.bulkLoad(keptKeys, keptEntries);
    // Values only die here: the slabs they leave mostly empty are tidied up later, in slices.
    this.droppedSinceTidy += retainedBefore - state.retainedBytes;
    const unfinished = this.tidyQueued || this.tidyRunningEpoch !== undefined;
    this.tidyEpoch++;
    if (unfinished || this.droppedSinceTidy >= TIDY_AFTER_DROPPED_FRACTION * (state.retainedBytes + this.droppedSinceTidy)) {
      this.tidyQueued = true;
      this.droppedSinceTidy = 0;
    }
    // A retained record at or below rev is always the first of its key.
    state.log = state.log.filter((rec) => rec.kv.modRevision > rev || rec.entry.revs[0] === rec);
  }

  /** Whether a compaction left slabs to tidy up (tidySlabs). */
  get tidyDue(): boolean {
    return this.tidyQueued;
  }

  /**
   * Frees slabs that compaction left mostly empty (see slab.ts): counts what
   * the kept entries still reference in each full slab, then copies the
   * survivors of slabs less than half used into the current one. Nothing
   * readable changes. Runs in slices: the caller advances the generator
   * between other work (writes are fine in between). A later compaction
   * ends it early and queues a new one. Returns the bytes copied.
   */
  *tidySlabs(): Generator<void, number, void> {
    if (!this.tidyQueued) return 0;
    this.tidyQueued = false;
    const epoch = this.tidyEpoch;
    this.tidyRunningEpoch = epoch;
    try {
      return yield* this.tidyEntries(epoch);
    } finally {
      // A newer tidy-up may have started meanwhile; it is not ours to clear.
      if (this.tidyRunningEpoch === epoch) this.tidyRunningEpoch = undefined;
    }
  }

  private *tidyEntries(epoch: number): Generator<void, number, void> {
    const state = this.state;
    // Every key indexed now, not only those the compaction kept: keys written
    // since sit in slabs that are full by now, and a count without them
    // would see those slabs as nearly empty. Keys written from here on go to
    // slabs the census leaves out.
    const census = state.slabs.census();
    const entries = state.index.values();
    const superseded = () => this.tidyEpoch !== epoch;
    for (let i = 0; i < entries.length; i++) {
      if (i > 0 && i % TIDY_ENTRIES_PER_SLICE === 0) {
        yield;
        if (superseded()) return 0;
      }
      this.assertNoWrite('tidySlabs');
      const entry = entries[i]!;
      census.add(entry.key);
      for (const rec of entry.revs) if (!rec.tombstone) census.add(rec.kv.value);
    }
    if (census.close() === 0) return 0;
    let copied = 0;
    let sliceBytes = 0;
    for (let i = 0; i < entries.length; i++) {
      if ((i > 0 && i % TIDY_ENTRIES_PER_SLICE === 0) || sliceBytes >= TIDY_BYTES_PER_SLICE) {
        sliceBytes = 0;
        yield;
        if (superseded()) return copied;
      }
      this.assertNoWrite('tidySlabs');
      const entry = entries[i]!;
      // An entry a write txn created and then rolled back is no longer indexed.
      if (state.index.get(entry.key) !== entry) continue;
      const n = moveEntry(state, entry, census);
      copied += n;
      sliceBytes += n;
    }
    return copied;
  }

  /**
   * CRC-32C over the whole store content: every retained revision (key,
   * value, revisions, version, lease), the current revision and the compact
   * revision. Equal on replicas that applied the same writes and compactions.
   */
  hash(): number {
    this.assertNoWrite('hash');
    return snapshotChecksum(this.state);
  }

  /**
   * etcd's HashKV: CRC-32C (Castagnoli) over the bytes etcd's backend keeps
   * for each revision (see backend-encoding.ts), in revision order, for the
   * revisions <= rev (0 = current) that are newer than the compact revision
   * or that a compaction at rev would keep. rev <= compactRevision (rev > 0)
   * throws Errors.compacted(); rev > current throws Errors.futureRev().
   * compactRevision in the result is -1 before any compaction, as in etcd.
   */
  hashKV(rev: number): HashKVResult {
    this.assertNoWrite('hashKV');
    const state = this.state;
    const compactRev = state.compactMainRev;
    if (rev > 0 && rev <= compactRev) throw Errors.compacted();
    if (rev > 0 && rev > state.currentRev) throw Errors.futureRev();
    if (rev === 0) rev = state.currentRev;

    // etcd keeps old revisions only if some key is live at rev ("don't skip if there isn't one").
    let anyKept = false;
    if (compactRev >= 0) {
      state.index.scan(EMPTY, null, (_k, entry) => {
        anyKept = visibleAt(entry, rev) !== undefined;
        return !anyKept;
      });
    }
    const h = new Crc32c().update(KEY_BUCKET_NAME);
    for (const rec of state.log) {
      const main = rec.kv.modRevision;
      if (main > rev) break;
      if (main <= compactRev && anyKept) {
        const revs = rec.entry.revs;
        const newest = revs[newestAtOrBelow(revs, rev)];
        if (newest !== rec || rec.tombstone) continue;
      }
      hashBackendEntry(h, rec);
    }
    return { hash: h.digest(), compactRevision: compactRev, hashRevision: rev };
  }

  /** Retained events with revision >= startRevision, whole revisions at a time; see the module comment. */
  eventsFrom(startRevision: number, maxEvents = Number.POSITIVE_INFINITY): MvccEvent[] {
    return this.eventBatch(startRevision, maxEvents).events;
  }

  /** eventsFrom plus where to continue; see the module comment. */
  eventBatch(startRevision: number, maxEvents = Number.POSITIVE_INFINITY): EventBatch {
    const state = this.state;
    if (startRevision < state.compactMainRev) throw Errors.compacted();
    const log = state.log;
    let lo = 0;
    let hi = log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log[mid]!.kv.modRevision < startRevision) lo = mid + 1;
      else hi = mid;
    }
    const events: MvccEvent[] = [];
    let i = lo;
    while (i < log.length) {
      const main = log[i]!.kv.modRevision;
      let j = i + 1;
      while (j < log.length && log[j]!.kv.modRevision === main) j++;
      if (events.length > 0 && events.length + (j - i) > maxEvents) break;
      for (; i < j; i++) events.push(toEvent(log[i]!));
    }
    const nextRevision = i < log.length ? log[i]!.kv.modRevision : Math.max(startRevision, state.currentRev + 1);
    return { events, nextRevision };
  }

  /** Estimated bytes of every retained revision (history included); what compaction frees. */
  sizeBytes(): number {
    return this.state.retainedBytes;
  }

  /** Estimated bytes of the current values only. */
  liveSizeBytes(): number {
    return this.state.liveBytes;
  }

  /** A canonical binary snapshot of the whole store (format in snapshot.ts). */
  serialize(): Buffer {
    this.assertNoWrite('serialize');
    return encodeSnapshot(this.state);
  }

  /**
   * serialize() of the store as it is now, to be produced slice by slice:
   * writes and compactions may go on between slices without changing it.
   * The store is captured now; the returned generator prepares the image in
   * slices and returns it.
   */
  imageInSlices(): Generator<void, SlicedImage, void> {
    this.assertNoWrite('serialize');
    return sliceSnapshot(planSnapshot(this.state));
  }

  /** Rebuilds a store from serialize() output; throws SnapshotFormatError on anything malformed. */
  static deserialize(buf: Buffer): MvccStore {
    const store = new MvccStore();
    store.state = decodeSnapshot(buf);
    return store;
  }
}
