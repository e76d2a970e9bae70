// The leader's view of each follower (etcd-io/raft's tracker package):
// replication state machine (probe / replicate / snapshot), the window of
// in-flight appends, and quorum arithmetic over the voter set.

import { assert, type ConfState, type NodeId, type ProgressStatus } from './types.js';

/** Last indexes of appends sent but not yet acknowledged, oldest first; bounded by capacity. */
export class Inflights {
  private buf: number[] = [];
  constructor(readonly capacity: number) {
    assert(capacity > 0, 'inflights capacity must be positive');
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflights: add while full');
    const prev = this.buf[this.buf.length - 1];
    assert(prev === undefined || lastIndex > prev, () => `inflights: ${lastIndex} not after ${prev}`);
    this.buf.push(lastIndex);
  }

  /** Frees every append whose last index is <= to. */
  freeLE(to: number): void {
    let n = 0;
    while (n < this.buf.length && this.buf[n]! <= to) n++;
    if (n > 0) this.buf = this.buf.slice(n);
  }

  freeFirstOne(): void {
    this.buf.shift();
  }

  full(): boolean {
    return this.buf.length >= this.capacity;
  }

  count(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = [];
  }
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: one append is outstanding, wait for its answer (or a heartbeat response). */
  probeSent = false;
  /** Index of the snapshot being sent, in snapshot state. */
  pendingSnapshot = 0;
  /** Highest commit index sent in an append; an empty append is still worth sending to raise it. */
  sentCommit = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, public isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapIndex;
  }

  /** An acknowledgement up to n; false if it tells nothing new. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejection of the append after index `rejected`; matchHint is the
   * follower's guess of where the logs may match. False if the rejection is
   * stale (answers an append that is no longer the current probe).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Bookkeeping after sending an append whose entries end at lastIndex (count entries). */
  sentEntries(count: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    } else {
      assert(false, 'sending entries in snapshot state');
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  status(): ProgressStatus {
    return { match: this.match, next: this.next, state: this.state, isLearner: this.isLearner, recentActive: this.recentActive };
  }
}

export class ProgressTracker {
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflight: number) {}

  confState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  /** Replaces the configuration; progress of surviving members is kept. */
  setConf(cs: ConfState, lastIndex: number): void {
    for (const v of cs.voters) assert(!cs.learners.includes(v), () => `${v} is both voter and learner`);
    this.voters = new Set(cs.voters);
    this.learners = new Set(cs.learners);
    for (const id of [...this.progress.keys()]) {
      if (!this.voters.has(id) && !this.learners.has(id)) this.progress.delete(id);
    }
    for (const id of [...cs.voters, ...cs.learners]) {
      const pr = this.progress.get(id);
      if (pr) {
        pr.isLearner = this.learners.has(id);
      } else {
        const fresh = new Progress(Math.max(lastIndex, 1), this.maxInflight, this.learners.has(id));
        // A new member counts as active so check-quorum does not depose the leader before it could answer.
        fresh.recentActive = true;
        this.progress.set(id, fresh);
      }
    }
  }

  isMember(id: NodeId): boolean {
    return this.voters.has(id) || this.learners.has(id);
  }

  isSingleton(id: NodeId): boolean {
    return this.voters.size === 1 && this.voters.has(id);
  }

  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /** The largest index a majority of voters has acknowledged (0 with no voters). */
  committedIndex(): number {
    return this.quorumValue((id) => this.progress.get(id)?.match ?? 0);
  }

  /** The quorum-th largest value of f over the voters. */
  quorumValue(f: (id: NodeId) => number): number {
    if (this.voters.size === 0) return 0;
    const vals = [...this.voters].map(f).sort((a, b) => b - a);
    return vals[this.quorum() - 1]!;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  voteResult(): 'won' | 'lost' | 'pending' {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) return 'won';
    if (this.voters.size - rejected < q) return 'lost';
    return 'pending';
  }

  quorumActive(self: NodeId): boolean {
    let n = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive) n++;
    }
    return n >= this.quorum();
  }
}
