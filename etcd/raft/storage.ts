// The core reads its durable log through RaftStorage. MemoryStorage keeps it
// in memory the way etcd's MemoryStorage does: the server persists each Ready
// to its WAL first and then mirrors it here, so the core only ever sees
// entries that are already durable. Index and term of the last compacted
// entry live in the snapshot metadata (a "dummy" position before entries[0]).

import { assert, type ConfState, type Entry, type HardState, type Snapshot } from './types.js';

export type StorageErrorCode = 'ErrCompacted' | 'ErrUnavailable' | 'ErrSnapOutOfDate' | 'ErrSnapshotTemporarilyUnavailable';

export class StorageError extends Error {
  constructor(readonly code: StorageErrorCode, detail: string) {
    super(`raft storage: ${code}: ${detail}`);
    this.name = 'StorageError';
  }
}

export function isStorageError(e: unknown, code?: StorageErrorCode): e is StorageError {
  return e instanceof StorageError && (code === undefined || e.code === code);
}

export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

export interface RaftStorage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at least one if any exist, at most maxSize bytes of data beyond the first. */
  entries(lo: number, hi: number, maxSize?: number): Entry[];
  /** Term of entry i; i may be firstIndex()-1 (the snapshot position). */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export function entrySize(e: { data: Uint8Array }): number {
  return e.data.byteLength + 16;
}

/** Clips ents so their total size stays within maxSize, always keeping the first. */
export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySize(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]!);
    if (size > maxSize) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

export class MemoryStorage implements RaftStorage {
  private hard: HardState = { term: 0, vote: '', commit: 0 };
  private snap: Snapshot = { index: 0, term: 0, confState: EMPTY_CONF, data: new Uint8Array() };
  // Index and term of the last discarded entry; entries[k] has index dummyIndex + 1 + k.
  private dummyIndex = 0;
  private dummyTerm = 0;
  private ents: Entry[] = [];
  /**
   * Whether snap.data holds the image. A server may release it once the
   * image is in a file (it can be hundreds of MB) and hand it back when a
   * follower needs it; meanwhile snapshot() is temporarily unavailable, as
   * etcd-io/raft allows, and the leader retries later.
   */
  private snapDataHeld = true;
  /** Called when snapshot() is asked for an image that was released. */
  onSnapshotWanted: ((s: { index: number; term: number }) => void) | undefined;

  initialState(): InitialState {
    return { hardState: { ...this.hard }, confState: cloneConfState(this.snap.confState) };
  }

  hardState(): HardState {
    return { ...this.hard };
  }

  setHardState(hs: HardState): void {
    assert(hs.term >= this.hard.term, () => `hard state term went back: ${this.hard.term} -> ${hs.term}`);
    assert(hs.term > this.hard.term || this.hard.vote === '' || hs.vote === this.hard.vote,
      () => `vote changed within term ${hs.term}: ${this.hard.vote} -> ${hs.vote}`);
    this.hard = { ...hs };
  }

  firstIndex(): number {
    return this.dummyIndex + 1;
  }

  lastIndex(): number {
    return this.dummyIndex + this.ents.length;
  }

  term(i: number): number {
    if (i < this.dummyIndex) throw new StorageError('ErrCompacted', `term(${i}) below ${this.dummyIndex}`);
    if (i === this.dummyIndex) return this.dummyTerm;
    const e = this.ents[i - this.dummyIndex - 1];
    if (e === undefined) throw new StorageError('ErrUnavailable', `term(${i}) beyond ${this.lastIndex()}`);
    return e.term;
  }

  entries(lo: number, hi: number, maxSize = Number.MAX_SAFE_INTEGER): Entry[] {
    assert(lo <= hi, () => `entries(${lo}, ${hi}): lo > hi`);
    if (lo <= this.dummyIndex) throw new StorageError('ErrCompacted', `entries from ${lo} but compacted to ${this.dummyIndex}`);
    if (hi > this.lastIndex() + 1) throw new StorageError('ErrUnavailable', `entries to ${hi} beyond ${this.lastIndex()}`);
    const off = this.dummyIndex + 1;
    return limitSize(this.ents.slice(lo - off, hi - off), maxSize);
  }

  snapshot(): Snapshot {
    if (!this.snapDataHeld) {
      this.onSnapshotWanted?.({ index: this.snap.index, term: this.snap.term });
      throw new StorageError('ErrSnapshotTemporarilyUnavailable', `snapshot ${this.snap.index} is being loaded`);
    }
    return this.snap;
  }

  /** Drops the image of snapshot `index` from memory (it is kept elsewhere, e.g. in a file). */
  releaseSnapshotData(index: number): void {
    if (this.snap.index !== index || this.snap.index === 0) return;
    this.snap = { ...this.snap, data: new Uint8Array() };
    this.snapDataHeld = false;
  }

  /** Gives back the image of snapshot `index` after releaseSnapshotData; ignored if a newer snapshot replaced it. */
  restoreSnapshotData(index: number, data: Uint8Array): void {
    if (this.snap.index !== index || this.snapDataHeld) return;
    this.snap = { ...this.snap, data };
    this.snapDataHeld = true;
  }

  /** Replaces the whole log with an incoming snapshot (after the caller persisted it). */
  applySnapshot(s: Snapshot): void {
    if (s.index <= this.snap.index) throw new StorageError('ErrSnapOutOfDate', `snapshot ${s.index} <= ${this.snap.index}`);
    this.snap = cloneSnapshot(s);
    this.snapDataHeld = true;
    this.dummyIndex = s.index;
    this.dummyTerm = s.term;
    this.ents = [];
  }

  /**
   * Records a state machine image taken at applied index i. The log is left
   * alone: compact() later discards what the snapshot covers, so the caller
   * can keep a tail of entries for slow followers (etcd's catch-up entries).
   */
  createSnapshot(i: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.index) throw new StorageError('ErrSnapOutOfDate', `snapshot ${i} <= ${this.snap.index}`);
    assert(i <= this.lastIndex(), () => `createSnapshot(${i}) beyond last index ${this.lastIndex()}`);
    assert(i <= this.hard.commit, () => `createSnapshot(${i}) beyond commit ${this.hard.commit}`);
    this.snap = { index: i, term: this.term(i), confState: cloneConfState(confState), data };
    this.snapDataHeld = true;
    return this.snap;
  }

  /** Discards log entries up to and including i, which the latest snapshot must cover. */
  compact(i: number): void {
    if (i <= this.dummyIndex) throw new StorageError('ErrCompacted', `compact(${i}) but compacted to ${this.dummyIndex}`);
    assert(i <= this.snap.index, () => `compact(${i}) beyond snapshot ${this.snap.index}: followers could not catch up`);
    this.dummyTerm = this.term(i);
    this.ents = this.ents.slice(i - this.dummyIndex);
    this.dummyIndex = i;
  }

  /** Appends persisted entries, replacing any conflicting suffix. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1]!.index;
    if (last < first) return; // all already compacted
    let ents = entries;
    if (ents[0]!.index < first) ents = ents.slice(first - ents[0]!.index);
    const off = ents[0]!.index - first;
    assert(off <= this.ents.length, () => `missing log entry: last ${this.lastIndex()}, appending at ${ents[0]!.index}`);
    for (let k = 1; k < ents.length; k++) {
      assert(ents[k]!.index === ents[k - 1]!.index + 1, 'append: non-contiguous entries');
    }
    // In place: copying the whole log (up to a snapshot's worth of entries)
    // on every Ready made appends cost O(log length).
    if (off < this.ents.length) this.ents.length = off;
    for (const e of ents) this.ents.push(e);
  }
}

export function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}

export function cloneSnapshot(s: Snapshot): Snapshot {
  return { index: s.index, term: s.term, confState: cloneConfState(s.confState), data: s.data };
}
