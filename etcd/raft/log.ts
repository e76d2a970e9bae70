// The core's view of the log: the durable part in RaftStorage followed by an
// "unstable" part (entries and possibly an incoming snapshot) that has not
// been handed to the caller for persistence yet, or is being persisted.

import { isStorageError, limitSize, type RaftStorage } from './storage.js';
import { assert, type Entry, type Snapshot } from './types.js';

export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** Index of entries[0]; also one past the durable prefix the core relies on. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.index;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      return this.snapshot && this.snapshot.index === i ? this.snapshot.term : undefined;
    }
    return this.entries[i - this.offset]?.term;
  }

  /** Entries up to (i, t) became durable; ignored if they were replaced meanwhile. */
  stableTo(i: number, t: number): boolean {
    const gt = this.maybeTerm(i);
    if (gt === undefined || gt !== t || i < this.offset) return false;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
    return true;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot && this.snapshot.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: Entry[]): void {
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(ents);
    } else if (after <= this.offset) {
      // Replaces everything unstable and shadows the durable suffix from `after` on.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offset && hi <= this.offset + this.entries.length && lo <= hi,
      () => `unstable.slice(${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length}]`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  /** Highest index handed to the caller for applying (in a Ready not yet advanced). */
  applying: number;
  applied: number;

  constructor(readonly storage: RaftStorage, applied: number) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    const { hardState } = storage.initialState();
    this.committed = Math.max(hardState.commit, first - 1);
    assert(applied >= first - 1 || applied === 0, () => `applied ${applied} below snapshot ${first - 1}`);
    this.applied = Math.max(applied, first - 1);
    assert(this.applied <= this.committed, () => `applied ${this.applied} > committed ${this.committed}`);
    this.applying = this.applied;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Last index of the prefix that is durable and still part of this log. */
  persistedIndex(): number {
    // A pending snapshot replaces the whole durable log; nothing counts until it is persisted.
    if (this.unstable.snapshot) return 0;
    return Math.min(this.storage.lastIndex(), this.unstable.offset - 1);
  }

  /** Term of entry i, or undefined when compacted away or beyond the last index. */
  maybeTerm(i: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (isStorageError(e, 'ErrCompacted') || isStorageError(e, 'ErrUnavailable')) return undefined;
      throw e;
    }
  }

  lastTerm(): number {
    const t = this.maybeTerm(this.lastIndex());
    assert(t !== undefined, () => `term of last index ${this.lastIndex()} unknown`);
    return t;
  }

  matchTerm(i: number, t: number): boolean {
    return this.maybeTerm(i) === t;
  }

  isUpToDate(lasti: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lasti >= this.lastIndex());
  }

  /** Entries [lo, hi) bounded by maxSize; undefined if part of the range was compacted. */
  slice(lo: number, hi: number, maxSize = Number.MAX_SAFE_INTEGER): Entry[] | undefined {
    assert(lo <= hi, () => `slice(${lo}, ${hi})`);
    if (lo === hi) return [];
    if (lo < this.firstIndex()) return undefined;
    assert(hi <= this.lastIndex() + 1, () => `slice(${lo}, ${hi}) beyond last ${this.lastIndex()}`);
    let out: Entry[] = [];
    const off = this.unstable.offset;
    if (lo < off) {
      try {
        out = this.storage.entries(lo, Math.min(hi, off), maxSize);
      } catch (e) {
        if (isStorageError(e, 'ErrCompacted')) return undefined;
        throw e;
      }
      if (out.length < Math.min(hi, off) - lo) return out; // size limit hit inside storage
    }
    if (hi > off) {
      const u = this.unstable.slice(Math.max(lo, off), hi);
      out = out.length > 0 ? out.concat(u) : u;
    }
    return limitSize(out, maxSize);
  }

  /** Index of the first entry of ents that is new or conflicts with the log; 0 if all present. */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= index whose term is <= term (or the first unknown
   * position below the log). Used for the rejection hint that lets a leader
   * skip a whole conflicting term per round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = index;
    for (;;) {
      const t = this.maybeTerm(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  /** Follower side of MsgApp; returns the last index covered, or undefined on mismatch. */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, () => `entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    assert(after >= this.committed, () => `append after ${after} would truncate committed ${this.committed}`);
    assert(after <= this.lastIndex(), () => `append after ${after} leaves a gap after ${this.lastIndex()}`);
    const prevTerm = this.maybeTerm(after);
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k]!;
      assert(e.index === after + 1 + k, 'append: non-contiguous entries');
      const before = k === 0 ? prevTerm : ents[k - 1]!.term;
      assert(before === undefined || e.term >= before, () => `append: term goes back at ${e.index}: ${before} -> ${e.term}`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  commitTo(i: number): void {
    if (i <= this.committed) return;
    assert(i <= this.lastIndex(), () => `commit ${i} beyond last index ${this.lastIndex()}`);
    this.committed = i;
  }

  /** Leader side: commit up to maxIndex if that entry is from the current term. */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.maybeTerm(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  hasNextCommittedEnts(): boolean {
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  nextCommittedEnts(): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    if (lo > this.committed) return [];
    const ents = this.slice(lo, this.committed + 1);
    assert(ents !== undefined && ents.length === this.committed + 1 - lo, () => `committed entries ${lo}..${this.committed} unavailable`);
    return ents;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(i <= this.committed && i >= this.applied, () => `appliedTo(${i}) outside [${this.applied}, ${this.committed}]`);
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  snapshot(): Snapshot | undefined {
    if (this.unstable.snapshot) return this.unstable.snapshot;
    try {
      return this.storage.snapshot();
    } catch (e) {
      if (isStorageError(e, 'ErrSnapshotTemporarilyUnavailable')) return undefined;
      throw e;
    }
  }

  restore(s: Snapshot): void {
    assert(s.index > this.committed, () => `restore snapshot ${s.index} <= committed ${this.committed}`);
    this.committed = s.index;
    this.unstable.restore(s);
  }
}
