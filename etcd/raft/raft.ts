// The Raft state machine proper (etcd-io/raft's raft.go). It is pure: no
// I/O, timers or clocks; time advances by tick(), the network by step(), and
// election jitter comes from the injected PRNG. Outputs accumulate in `msgs`
// and `readStates` and in the log's unstable part; RawNode (node.ts) packages
// them as Ready batches and documents the persistence contract.

import { type ConfChange, encodeConfChange } from './confchange.js';
import { RaftLog } from './log.js';
import { ProgressTracker } from './progress.js';
import type { RaftStorage } from './storage.js';
import {
  assert,
  type ConfState,
  type Entry,
  type EntryType,
  type HardState,
  type Message,
  type MessageBody,
  type MsgApp,
  type MsgAppResp,
  type MsgHeartbeatResp,
  type MsgSnap,
  type MsgVote,
  NONE,
  type NodeId,
  ProposalDroppedError,
  type ReadState,
  type Role,
  type SoftState,
  type Status,
} from './types.js';

export interface RaftConfig {
  id: NodeId;
  storage: RaftStorage;
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [electionTick, 2*electionTick)). */
  electionTick?: number;
  heartbeatTick?: number;
  /** Index the caller's state machine has already applied (e.g. restored from its own snapshot). */
  applied?: number;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  checkQuorum?: boolean;
  preVote?: boolean;
  /** Uniform in [0, 1); the only source of randomness. Pass a seeded PRNG. */
  random: () => number;
}

type CampaignKind = 'preElection' | 'election' | 'transfer';

interface PendingRead {
  index: number;
  ctx: Uint8Array;
  from: NodeId;
  /** Heartbeat round that confirms it; 0 until the next round starts. */
  round: number;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = 'follower';
  readonly log: RaftLog;
  readonly trk: ProgressTracker;

  msgs: Message[] = [];
  readStates: ReadState[] = [];

  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly maxSizePerMsg: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  private readonly random: () => number;
  private randomizedElectionTimeout = 0;
  electionElapsed = 0;
  private heartbeatElapsed = 0;

  leadTransferee: NodeId = NONE;
  /** Index of the latest conf entry the leader appended; no new one until it is applied. */
  pendingConfIndex = 0;

  // ReadIndex (read-only "safe" mode).
  private pendingReads: PendingRead[] = [];
  private readsBeforeCommit: Array<{ ctx: Uint8Array; from: NodeId }> = [];
  private readRound = 0;
  private readAcks = new Map<NodeId, number>();

  constructor(cfg: RaftConfig) {
    this.id = cfg.id;
    this.electionTimeout = cfg.electionTick ?? 10;
    this.heartbeatTimeout = cfg.heartbeatTick ?? 1;
    assert(this.heartbeatTimeout > 0 && this.electionTimeout > this.heartbeatTimeout, 'election tick must exceed heartbeat tick');
    this.maxSizePerMsg = cfg.maxSizePerMsg ?? 1024 * 1024;
    this.checkQuorum = cfg.checkQuorum ?? true;
    this.preVote = cfg.preVote ?? true;
    this.random = cfg.random;
    this.trk = new ProgressTracker(cfg.maxInflightMsgs ?? 256);
    this.log = new RaftLog(cfg.storage, cfg.applied ?? 0);
    const { hardState, confState } = cfg.storage.initialState();
    this.trk.setConf(confState, this.log.lastIndex() + 1);
    if (hardState.term > 0 || hardState.vote !== NONE || hardState.commit > 0) {
      assert(hardState.commit <= this.log.lastIndex(), () => `hard state commit ${hardState.commit} beyond last index ${this.log.lastIndex()}`);
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    this.becomeFollower(this.term, NONE);
  }

  // ---- observers -------------------------------------------------------

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  promotable(): boolean {
    return this.trk.voters.has(this.id) && !this.log.unstable.snapshot;
  }

  status(): Status {
    const s: Status = {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lead: this.lead,
      role: this.role,
      leadTransferee: this.leadTransferee,
      confState: this.trk.confState(),
    };
    if (this.role === 'leader') {
      s.progress = {};
      for (const [id, pr] of this.trk.progress) s.progress[id] = pr.status();
    }
    return s;
  }

  /** True while ReadIndex requests wait for a heartbeat round that has not been started. */
  hasUnroundedReads(): boolean {
    return this.pendingReads.some((r) => r.round === 0);
  }

  // ---- role transitions ------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      assert(term > this.term, () => `term going back ${this.term} -> ${term}`);
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
    assert(this.randomizedElectionTimeout >= this.electionTimeout && this.randomizedElectionTimeout < 2 * this.electionTimeout,
      'randomized election timeout out of range');
    this.leadTransferee = NONE;
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      pr.becomeProbe();
      pr.match = id === this.id ? this.log.persistedIndex() : 0;
      pr.next = last + 1;
      pr.recentActive = id === this.id;
      pr.sentCommit = 0;
    }
    this.pendingConfIndex = 0;
    this.pendingReads = [];
    this.readsBeforeCommit = [];
    this.readAcks.clear();
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become pre-candidate');
    // Term and vote stay: a pre-election must not disturb anyone if it fails.
    this.trk.resetVotes();
    this.lead = NONE;
    this.role = 'preCandidate';
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', () => `becomeLeader from ${this.role}`);
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    // Conservatively treat any conf entry in the inherited log as pending.
    this.pendingConfIndex = this.log.lastIndex();
    // An entry of the new term: committing it commits everything before it (§5.4.2).
    this.appendEntries([{ type: 'normal', data: new Uint8Array() }]);
  }

  // ---- timers -------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(this.preVote ? 'preElection' : 'election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.trk.quorumActive(this.id)) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  // ---- local requests -----------------------------------------------------

  /** Starts an election now (MsgHup); ignored when not promotable or already leader. */
  hup(kind: CampaignKind): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // The configuration may be about to change under us: elect only with an up-to-date view.
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(kind);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const ents = this.log.slice(Math.max(this.log.applied + 1, this.log.firstIndex()), this.log.committed + 1);
    return ents?.some((e) => e.type === 'conf') ?? false;
  }

  propose(entries: Array<{ type: EntryType; data: Uint8Array }>): void {
    if (entries.length === 0) throw new ProposalDroppedError('empty proposal');
    switch (this.role) {
      case 'leader': {
        const why = this.leaderRefusal(entries);
        if (why) throw new ProposalDroppedError(why);
        this.appendEntries(entries);
        this.bcastAppend();
        return;
      }
      case 'follower':
        if (this.lead === NONE) throw new ProposalDroppedError('no leader');
        this.send({ type: 'prop', to: this.lead, entries }, 0);
        return;
      default:
        throw new ProposalDroppedError('no leader');
    }
  }

  private leaderRefusal(entries: Array<{ type: EntryType }>): ProposalDroppedError['reason'] | undefined {
    if (!this.trk.isMember(this.id)) return 'not a member';
    if (this.leadTransferee !== NONE) return 'leader transfer in progress';
    if (entries.some((e) => e.type === 'conf')) {
      if (entries.filter((e) => e.type === 'conf').length > 1) return 'conf change pending';
      if (this.pendingConfIndex > this.log.applied) return 'conf change pending';
    }
    return undefined;
  }

  proposeConfChange(cc: ConfChange): void {
    this.propose([{ type: 'conf', data: encodeConfChange(cc) }]);
  }

  readIndex(ctx: Uint8Array): void {
    switch (this.role) {
      case 'leader':
        this.leaderReadIndex(ctx, this.id);
        return;
      case 'follower':
        if (this.lead === NONE) throw new ProposalDroppedError('no leader');
        this.send({ type: 'readIndex', to: this.lead, ctx }, 0);
        return;
      default:
        throw new ProposalDroppedError('no leader');
    }
  }

  transferLeader(to: NodeId): void {
    if (this.role === 'leader') {
      this.leaderTransfer(to);
    } else if (this.lead !== NONE) {
      this.send({ type: 'transferLeader', to: this.lead, transferee: to }, 0);
    } else {
      throw new ProposalDroppedError('no leader');
    }
  }

  /** The transport could not reach `id`: stop pipelining to it. */
  reportUnreachable(id: NodeId): void {
    if (this.role !== 'leader') return;
    const pr = this.trk.progress.get(id);
    if (pr && pr.state === 'replicate') pr.becomeProbe();
  }

  /** Outcome of sending a snapshot to `id`, as seen by the transport. */
  reportSnapshot(id: NodeId, status: 'finish' | 'failure'): void {
    if (this.role !== 'leader') return;
    const pr = this.trk.progress.get(id);
    if (!pr || pr.state !== 'snapshot') return;
    if (status === 'failure') pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or a heartbeat response) before the next append.
    pr.probeSent = true;
  }

  // ---- step -----------------------------------------------------------------

  step(m: Message): void {
    assert(m.to === this.id, () => `message for ${m.to} stepped into ${this.id}`);
    if (m.term === 0) {
      assert(m.type === 'prop' || m.type === 'readIndex' || m.type === 'transferLeader', () => `term 0 on ${m.type}`);
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // Leader lease: a node that heard from a live leader within the election timeout
        // ignores campaigns, so a partitioned node rejoining cannot depose it.
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (!m.force && inLease) return;
      }
      if (m.type === 'preVote') {
        // Pre-votes never change our term.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // Granted pre-votes carry the term we will campaign in.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader (or a node whose term ran ahead of a pre-vote cluster) learns our term.
        this.send({ type: 'appResp', to: m.from, index: 0, reject: false, rejectHint: 0, logTerm: 0 });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, reject: true });
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  private handleVoteRequest(m: MsgVote): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === 'preVote' && m.term > this.term);
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // The response carries the candidate's term so a granted pre-vote is counted for its future term.
      this.send({ type: respType, to: m.from, reject: false }, m.term);
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    assert(m.type !== 'app' && m.type !== 'heartbeat' && m.type !== 'snap',
      () => `election safety: leader ${this.id} got ${m.type} from ${m.from} in its term ${this.term}`);
    switch (m.type) {
      case 'prop':
        if (this.leaderRefusal(m.entries) === undefined) {
          this.appendEntries(m.entries);
          this.bcastAppend();
        }
        return;
      case 'readIndex':
        this.leaderReadIndex(m.ctx, m.from);
        return;
      case 'transferLeader':
        this.leaderTransfer(m.transferee);
        return;
      case 'appResp':
        this.handleAppendResponse(m);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m);
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m.commit, m.readRound, m.from);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'voteResp':
      case 'preVoteResp': {
        if (m.type !== myResp) return;
        this.trk.recordVote(m.from, !m.reject);
        const res = this.trk.voteResult();
        if (res === 'won') {
          if (this.role === 'preCandidate') this.campaign('election');
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'prop':
        if (this.lead !== NONE) this.send({ type: 'prop', to: this.lead, entries: m.entries }, 0);
        return;
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m.commit, m.readRound, m.from);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'transferLeader':
        if (this.lead !== NONE) this.send({ type: 'transferLeader', to: this.lead, transferee: m.transferee }, 0);
        return;
      case 'timeoutNow':
        // Skip pre-vote: the leader asked for this election and its followers must not ignore it.
        this.hup('transfer');
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, ctx: m.ctx });
        return;
      default:
        return;
    }
  }

  // ---- elections ------------------------------------------------------------

  private campaign(kind: CampaignKind): void {
    let voteTerm: number;
    let type: 'vote' | 'preVote';
    if (kind === 'preElection') {
      this.becomePreCandidate();
      type = 'preVote';
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      type = 'vote';
      voteTerm = this.term;
    }
    this.trk.recordVote(this.id, true);
    if (this.trk.voteResult() === 'won') {
      if (kind === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const id of [...this.trk.voters].sort()) {
      if (id === this.id) continue;
      this.send({ type, to: id, index, logTerm, force: kind === 'transfer' }, voteTerm);
    }
  }

  // ---- replication (leader) ---------------------------------------------------

  private appendEntries(entries: Array<{ type: EntryType; data: Uint8Array }>): void {
    let li = this.log.lastIndex();
    const ents: Entry[] = entries.map((e) => ({ term: this.term, index: ++li, type: e.type, data: e.data }));
    for (const e of ents) if (e.type === 'conf') this.pendingConfIndex = e.index;
    this.log.append(ents);
    // The leader's own acknowledgement waits until the entries are durable (see RawNode.advance).
  }

  /** Sends an append (or snapshot) to `to` if its flow control allows; true if something was sent. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    assert(pr.next <= this.log.lastIndex() + 1, () => `next ${pr.next} for ${to} beyond last ${this.log.lastIndex()}`);
    const prevTerm = this.log.maybeTerm(prevIndex);
    const last = this.log.lastIndex();
    const ents = prevTerm === undefined ? undefined : this.log.slice(pr.next, last + 1, this.maxSizePerMsg);
    if (prevTerm === undefined || ents === undefined) {
      assert(prevIndex < this.log.firstIndex(), () => `append to ${to}: term of ${prevIndex} unknown but not compacted`);
      return this.sendSnapshot(to);
    }
    if (ents.length === 0 && !sendIfEmpty && pr.sentCommit >= this.log.committed) return false;
    const m: Omit<MsgApp, 'from' | 'term'> = { type: 'app', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed };
    this.send(m);
    pr.sentCommit = Math.max(pr.sentCommit, this.log.committed);
    pr.sentEntries(ents.length, ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex);
    return true;
  }

  private sendSnapshot(to: NodeId): boolean {
    const pr = this.trk.progress.get(to)!;
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    if (!snap) return false;
    assert(snap.index > 0, 'needs a snapshot but storage has none');
    pr.becomeSnapshot(snap.index);
    this.send({ type: 'snap', to, snapshot: snap });
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.trk.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    for (const [id, pr] of this.trk.progress) {
      if (id === this.id) continue;
      // Never advance a follower's commit beyond what it is known to hold.
      this.send({ type: 'heartbeat', to: id, commit: Math.min(pr.match, this.log.committed), readRound: this.readRound });
    }
  }

  private maybeCommit(): boolean {
    const wasInTerm = this.committedEntryInCurrentTerm();
    if (!this.log.maybeCommit(this.trk.committedIndex(), this.term)) return false;
    if (!wasInTerm) this.releaseReadsBeforeCommit();
    return true;
  }

  private handleAppendResponse(m: MsgAppResp): void {
    const pr = this.trk.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.reject) {
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    // A repeated ack of the match in probe state still proves where the logs agree.
    const confirmsProbe = pr.match === m.index && pr.state === 'probe';
    if (!pr.maybeUpdate(m.index) && !confirmsProbe) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      // The follower caught up (by the snapshot or otherwise); resume from its match.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      this.sendAppend(m.from, false);
    }
    while (this.sendAppend(m.from, false)) {
      // Fill the in-flight window.
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', to: m.from });
    }
  }

  private handleHeartbeatResponse(m: MsgHeartbeatResp): void {
    const pr = this.trk.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex() || pr.state === 'snapshot') this.sendAppend(m.from);
    if (m.readRound > 0 && m.readRound > (this.readAcks.get(m.from) ?? 0)) {
      this.readAcks.set(m.from, m.readRound);
      this.confirmReads();
    }
  }

  // ---- replication (follower) ---------------------------------------------------

  private handleAppendEntries(m: MsgApp): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'appResp', to: m.from, index: this.log.committed, reject: false, rejectHint: 0, logTerm: 0 });
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      this.send({ type: 'appResp', to: m.from, index: last, reject: false, rejectHint: 0, logTerm: 0 });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({ type: 'appResp', to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term });
  }

  private handleHeartbeat(commit: number, readRound: number, from: NodeId): void {
    this.log.commitTo(commit);
    this.send({ type: 'heartbeatResp', to: from, readRound });
  }

  private handleSnapshot(m: MsgSnap): void {
    const s = m.snapshot;
    let index = this.log.committed;
    if (s.index > this.log.committed) {
      if (this.log.matchTerm(s.index, s.term)) {
        // We already have the entries: fast-forward the commit instead of wiping the log.
        this.log.commitTo(s.index);
        index = this.log.committed;
      } else {
        this.log.restore(s);
        this.trk.setConf(s.confState, this.log.lastIndex() + 1);
        index = this.log.lastIndex();
      }
    }
    this.send({ type: 'appResp', to: m.from, index, reject: false, rejectHint: 0, logTerm: 0 });
  }

  // ---- ReadIndex ------------------------------------------------------------------

  private committedEntryInCurrentTerm(): boolean {
    return this.log.maybeTerm(this.log.committed) === this.term;
  }

  private leaderReadIndex(ctx: Uint8Array, from: NodeId): void {
    // Until an entry of this term commits, our commit index may trail entries committed by earlier leaders.
    if (!this.committedEntryInCurrentTerm()) {
      this.readsBeforeCommit.push({ ctx, from });
      return;
    }
    const index = this.log.committed;
    if (this.trk.isSingleton(this.id)) {
      this.answerRead({ index, ctx, from, round: 0 });
      return;
    }
    this.pendingReads.push({ index, ctx, from, round: 0 });
  }

  /** Starts one heartbeat round confirming every read that arrived since the previous round. */
  startReadRound(): void {
    if (this.role !== 'leader' || !this.hasUnroundedReads()) return;
    this.readRound++;
    for (const r of this.pendingReads) if (r.round === 0) r.round = this.readRound;
    this.bcastHeartbeat();
    this.confirmReads();
  }

  private confirmReads(): void {
    if (this.pendingReads.length === 0) return;
    const confirmed = this.trk.quorumValue((id) => (id === this.id ? this.readRound : this.readAcks.get(id) ?? 0));
    if (confirmed === 0) return;
    const keep: PendingRead[] = [];
    for (const r of this.pendingReads) {
      if (r.round !== 0 && r.round <= confirmed) this.answerRead(r);
      else keep.push(r);
    }
    this.pendingReads = keep;
  }

  private answerRead(r: PendingRead): void {
    if (r.from === this.id) this.readStates.push({ index: r.index, ctx: r.ctx });
    else this.send({ type: 'readIndexResp', to: r.from, index: r.index, ctx: r.ctx });
  }

  private releaseReadsBeforeCommit(): void {
    const waiting = this.readsBeforeCommit;
    this.readsBeforeCommit = [];
    for (const r of waiting) this.leaderReadIndex(r.ctx, r.from);
  }

  // ---- leader transfer ---------------------------------------------------------------

  private leaderTransfer(to: NodeId): void {
    const pr = this.trk.progress.get(to);
    if (!pr || pr.isLearner || to === this.id) return;
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to });
    else this.sendAppend(to);
  }

  // ---- membership ------------------------------------------------------------------

  /** Applies a committed conf change (called by the caller when it applies the entry). */
  applyConfChange(cc: ConfChange): ConfState {
    const voters = new Set(this.trk.voters);
    const learners = new Set(this.trk.learners);
    const id = cc.nodeId;
    switch (cc.type) {
      case 'addNode':
      case 'promote':
        if (cc.type === 'promote' && !learners.has(id)) break;
        learners.delete(id);
        voters.add(id);
        break;
      case 'addLearner':
        voters.delete(id);
        learners.add(id);
        break;
      case 'removeNode':
        voters.delete(id);
        learners.delete(id);
        break;
    }
    this.trk.setConf({ voters: [...voters], learners: [...learners] }, this.log.lastIndex() + 1);
    if (this.role === 'leader') {
      if (!this.trk.voters.has(this.id)) {
        // Removed (or demoted): stop leading; the remaining voters elect among themselves.
        this.becomeFollower(this.term, NONE);
      } else {
        if (this.leadTransferee !== NONE && !this.trk.voters.has(this.leadTransferee)) this.leadTransferee = NONE;
        for (const k of [...this.readAcks.keys()]) if (!this.trk.isMember(k)) this.readAcks.delete(k);
        this.maybeCommit();
        this.bcastAppend();
        this.confirmReads();
      }
    }
    return this.trk.confState();
  }

  // ---- output ----------------------------------------------------------------------

  private send(body: MessageBody, term?: number): void {
    // Every body is a fresh literal at its call site, so completing it in
    // place is safe and spares a copy per message.
    const m = body as Message;
    m.from = this.id;
    m.term = m.type === 'prop' || m.type === 'readIndex' || m.type === 'transferLeader' ? 0 : (term ?? this.term);
    assert(m.to !== this.id, () => `sending ${m.type} to self`);
    this.msgs.push(m);
  }

  /** Called by RawNode.advance: entries up to the log's persisted index are durable here. */
  onPersisted(): void {
    if (this.role !== 'leader') return;
    const pr = this.trk.progress.get(this.id);
    if (!pr) return;
    if (pr.maybeUpdate(this.log.persistedIndex()) && this.maybeCommit()) this.bcastAppend();
  }

  /** Debug checks run after every input; cheap enough to leave on. */
  checkInvariants(): void {
    const log = this.log;
    assert(log.applied <= log.applying && log.applying <= log.committed, () => `applied ${log.applied} applying ${log.applying} committed ${log.committed}`);
    assert(log.committed <= log.lastIndex(), () => `committed ${log.committed} > last ${log.lastIndex()}`);
    assert(log.lastTerm() <= this.term, () => `last log term ${log.lastTerm()} > term ${this.term}`);
    if (this.role === 'leader') {
      assert(this.lead === this.id && this.vote === this.id, 'leader must lead and have voted for itself');
      const self = this.trk.progress.get(this.id);
      assert(self === undefined || self.match <= log.persistedIndex(), 'leader self match beyond persisted index');
    }
    if (this.role === 'candidate') assert(this.vote === this.id, 'candidate must vote for itself');
  }
}
