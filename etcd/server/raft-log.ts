// The replicated log of a cluster member: RawNode driven by a tick timer and
// a Ready loop over the WAL and the peer transport.
//
// One Ready at a time:
//   1. leadership changes (reads waiting on the old leader fail);
//   2. a leader sends its appends/heartbeats/snapshots right away (they may
//      go before its own fsync, see etcd/raft/node.ts);
//   3. an incoming snapshot is written to the snapshot store, then its WAL
//      marker, the entries and the hard state are written with one fsync
//      (group commit: everything proposed while the previous fsync ran forms
//      this batch);
//   4. the in-memory storage mirrors what is now durable, other messages
//      (votes, acknowledgements, forwarded proposals) go out;
//   5. the snapshot (if any) is installed into the state machine, committed
//      entries are applied in order (without a snapshot, already while the
//      fsync of step 3 runs: they are durable on a quorum), answered read
//      indexes are handed out;
//   6. advance, then afterReady (where the server may take a snapshot).
//
// Linearizable reads are batched: every read that arrives before the next
// Ready joins one ReadIndex request, and all of them resolve with its index.

import { randomInt } from 'node:crypto';
import { Errors } from '../errors.js';
import {
  canSendBeforePersist,
  decodeConfChange,
  MemoryStorage,
  NONE,
  nodeIdToBigInt,
  ProposalDroppedError,
  RawNode,
  type ConfChange,
  type ConfState,
  type Entry,
  type EntryType,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type Snapshot,
  type Status,
} from '../raft/index.js';
import type { SnapshotMeta } from '../wal/records.js';
import type { ApplyFn, LogStatus, ReplicatedLog } from './log.js';
import type { Logger } from './logger.js';
import type { RaftTransport } from './transport.js';

/** etcd keeps this many entries behind a snapshot so slow followers catch up without one. */
export const DEFAULT_CATCH_UP_ENTRIES = 5000;
/** etcd re-sends an unanswered ReadIndex after this long. */
const READ_INDEX_RETRY_MS = 500;
const MAX_SNAPSHOT_FILES = 5;

/** The WAL operations the log needs (etcd/wal's Wal implements them). */
export interface RaftWal {
  save(hardState: HardState | undefined, entries: readonly Entry[]): void;
  saveSnapshot(meta: SnapshotMeta): void;
  sync(): Promise<void>;
  releaseTo(snapshotIndex: number): Promise<void>;
}

export interface SnapshotSink {
  save(meta: SnapshotMeta, data: Uint8Array | readonly Uint8Array[]): Promise<void>;
  purge(keep: number): Promise<string[]>;
  /** Reads back a saved snapshot (its image is not kept in memory between sends). */
  load(file: { term: number; index: number }): Promise<{ meta: SnapshotMeta; data: Uint8Array }>;
}

export interface RaftLogOptions {
  id: NodeId;
  wal: RaftWal;
  snapshots: SnapshotSink;
  /** What the WAL and snapshot store hold: the snapshot (with its image) and the entries after it. */
  recovered: { hardState: HardState; entries: Entry[]; snapshot?: Snapshot };
  /** A brand-new cluster: these conf entries are written at term 1 and committed before anything else. */
  bootstrap?: Uint8Array[];
  transport: RaftTransport;
  tickMs: number;
  electionTicks: number;
  preVote: boolean;
  /** etcd's request timeout (5 s + 2 × election timeout): reads give up after it. */
  requestTimeoutMs: number;
  catchUpEntries?: number;
  random?: () => number;
  logger: Logger;
  /** The log cannot continue (WAL write failed, invariant broken): the member must stop. */
  onFatal: (err: unknown) => void;
  /** Called inside the Ready loop when the known leader changes (NONE: no leader). */
  onLeaderChange?: (leader: NodeId, term: number) => void;
  /** Every message from a peer, before it is stepped (the server notices removed members talking). */
  onPeerMessage?: (from: NodeId) => void;
  /** A snapshot from the leader is durable: replace the state machine with its image. */
  onSnapshotInstalled: (snap: Snapshot) => void;
  /**
   * Called at the end of every Ready, when the Raft storage holds every
   * applied entry (during a Ready, entries may be applied before they are
   * durable here): the place to take a state-machine snapshot.
   */
  afterReady?: () => void;
}

interface ReadBatch {
  key: string;
  ctx: Uint8Array;
  waiters: Array<{ resolve: (index: number) => void; reject: (err: unknown) => void }>;
  retry: NodeJS.Timeout;
  deadline: NodeJS.Timeout;
}

export class RaftLog implements ReplicatedLog {
  readonly id: NodeId;
  readonly storage = new MemoryStorage();
  private readonly opts: RaftLogOptions;
  private node: RawNode | undefined;
  private apply: ApplyFn | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private loopRunning = false;
  private loopScheduled = false;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;
  private halted = false;
  private failed: unknown;
  private readonly recoveredApplied: number;
  private readonly recoveredCommit: number;
  private appliedWaiters: Array<{ index: number; resolve: () => void }> = [];
  /** The batch new reads join; closed when the next Ready is taken. */
  private openRead: ReadBatch | undefined;
  private readonly reads = new Map<string, ReadBatch>();
  private readSeq = 0;
  private leader: NodeId = NONE;
  private appliedIndex = 0;
  /** When each peer was last heard from (any message), for the cluster health checks. */
  private readonly lastHeard = new Map<NodeId, number>();

  constructor(opts: RaftLogOptions) {
    this.opts = opts;
    this.id = opts.id;
    const { recovered } = opts;
    const snap = recovered.snapshot;
    if (snap) this.storage.applySnapshot(snap);
    const base = snap?.index ?? 0;
    let entries = recovered.entries.filter((e) => e.index > base);
    if (snap) {
      // A snapshot installed from a leader replaces the whole log, but the WAL
      // cannot delete the old tail: entries of an older term than the snapshot
      // right after it are that discarded tail.
      const cut = entries.findIndex((e) => e.term < snap.term);
      if (cut >= 0) entries = entries.slice(0, cut);
    }
    this.storage.append(entries);
    const last = this.storage.lastIndex();
    const hs = recovered.hardState;
    if (hs.term > 0 || hs.commit > 0) {
      this.storage.setHardState({ term: hs.term, vote: hs.vote, commit: Math.max(base, Math.min(hs.commit, last)) });
    }
    this.recoveredApplied = base;
    this.recoveredCommit = this.storage.hardState().commit;
    this.appliedIndex = base;
    // Snapshot images live in their files; the storage holds one only while
    // a follower needs it (see loadSnapshotData).
    this.storage.onSnapshotWanted = (want) => this.loadSnapshotData(want);
    if (snap) this.storage.releaseSnapshotData(snap.index);
  }

  private snapshotLoading: number | undefined;

  /** Reads a released snapshot image back from its file for a follower that needs it; the leader retries the send. */
  private loadSnapshotData(want: { index: number; term: number }): void {
    if (this.snapshotLoading === want.index || this.stopped) return;
    this.snapshotLoading = want.index;
    this.opts.snapshots
      .load(want)
      .then(
        ({ data }) => {
          this.storage.restoreSnapshotData(want.index, data);
          this.kick();
        },
        (err: unknown) => {
          if (!this.stopped) this.opts.logger.warn('failed to load snapshot for a follower', { 'snapshot-index': want.index, error: err });
        },
      )
      .finally(() => {
        if (this.snapshotLoading === want.index) this.snapshotLoading = undefined;
      });
  }

  /** The first Ready loop pass replays entries the WAL holds as committed; resolves once they are applied. */
  async start(apply: ApplyFn): Promise<void> {
    this.apply = apply;
    const fresh = this.storage.lastIndex() === 0 && this.storage.hardState().term === 0;
    const boot = this.opts.bootstrap ?? [];
    if (fresh && boot.length > 0) {
      const ents: Entry[] = boot.map((data, i) => ({ term: 1, index: i + 1, type: 'conf', data }));
      const hs: HardState = { term: 1, vote: NONE, commit: ents.length };
      this.opts.wal.save(hs, ents);
      await this.opts.wal.sync();
      this.storage.append(ents);
      this.storage.setHardState(hs);
    }
    this.node = new RawNode({
      id: this.id,
      storage: this.storage,
      electionTick: this.opts.electionTicks,
      heartbeatTick: 1,
      applied: this.recoveredApplied,
      checkQuorum: true,
      preVote: this.opts.preVote,
      random: this.opts.random ?? (() => randomInt(0, 2 ** 32) / 2 ** 32),
    });
    const t = this.opts.transport;
    t.onMessage((m) => this.receive(m));
    t.onUnreachable((id) => {
      if (this.node && !this.stopped) this.node.reportUnreachable(id);
    });
    t.onSnapshotStatus((id, status) => {
      if (!this.node || this.stopped) return;
      this.node.reportSnapshot(id, status);
      this.kick();
    });
    this.ticker = setInterval(() => this.tick(), this.opts.tickMs);
    this.ticker.unref();
    this.kick();
    const target = Math.max(this.recoveredCommit, boot.length > 0 && fresh ? boot.length : 0);
    await this.waitApplied(target);
    // A sole voter need not wait an election timeout to lead. With peers, the
    // election clock starts nearly run down (etcd's initial election tick
    // advance), so a cluster that restarts as a whole elects within a tick or
    // so plus the random part; pre-vote keeps this from disturbing a live leader.
    const cs = this.node.status().confState;
    if (cs.voters.length === 1 && cs.voters[0] === this.id) {
      this.node.campaign();
    } else if (cs.voters.includes(this.id)) {
      for (let i = 0; i < this.opts.electionTicks - 1; i++) this.node.tick();
    }
    this.kick();
  }

  // ---------------------------------------------------------------- inputs

  propose(data: Uint8Array, type: EntryType = 'normal'): void {
    const node = this.running();
    if (type === 'conf') node.proposeConfChange(decodeConfChange(data));
    else node.propose(data);
    this.kick();
  }

  proposeConfChange(cc: ConfChange): void {
    this.running().proposeConfChange(cc);
    this.kick();
  }

  /** Call while applying a committed conf entry the state machine accepted. */
  applyConfChange(cc: ConfChange): ConfState {
    const node = this.node;
    if (!node) throw new Error('raft log not started');
    return node.applyConfChange(cc);
  }

  transferLeader(to: NodeId): void {
    this.running().transferLeader(to);
    this.kick();
  }

  readIndex(): Promise<number> {
    let batch = this.openRead;
    if (!batch) {
      const ctx = Buffer.alloc(8);
      ctx.writeBigUInt64BE(BigInt(++this.readSeq));
      try {
        this.running().readIndex(ctx);
      } catch (err) {
        return Promise.reject(err);
      }
      const key = ctx.toString('hex');
      const b: ReadBatch = {
        key,
        ctx,
        waiters: [],
        retry: setInterval(() => this.retryRead(b), READ_INDEX_RETRY_MS),
        deadline: setTimeout(() => this.failRead(b, Errors.timeout()), this.opts.requestTimeoutMs),
      };
      batch = b;
      this.openRead = b;
      this.reads.set(key, b);
      this.kick();
    }
    const joined = batch;
    return new Promise((resolve, reject) => joined.waiters.push({ resolve, reject }));
  }

  private retryRead(b: ReadBatch): void {
    if (this.stopped || !this.node || !this.reads.has(b.key)) return;
    try {
      this.node.readIndex(b.ctx);
      this.kick();
    } catch (err) {
      this.failRead(b, err instanceof ProposalDroppedError ? err : Errors.noLeader());
    }
  }

  private failRead(b: ReadBatch, err: unknown): void {
    if (!this.reads.delete(b.key)) return;
    if (this.openRead === b) this.openRead = undefined;
    clearInterval(b.retry);
    clearTimeout(b.deadline);
    for (const w of b.waiters) w.reject(err);
  }

  private resolveRead(key: string, index: number): void {
    const b = this.reads.get(key);
    if (!b) return;
    this.reads.delete(key);
    if (this.openRead === b) this.openRead = undefined;
    clearInterval(b.retry);
    clearTimeout(b.deadline);
    for (const w of b.waiters) w.resolve(index);
  }

  private receive(m: Message): void {
    if (this.stopped || !this.node) return;
    if (m.to !== this.id) return;
    this.lastHeard.set(m.from, Date.now());
    this.opts.onPeerMessage?.(m.from);
    try {
      this.node.step(m);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.kick();
  }

  private tick(): void {
    if (this.stopped || !this.node) return;
    try {
      this.node.tick();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.kick();
  }

  private running(): RawNode {
    if (this.stopped || this.failed !== undefined || !this.node) throw new ProposalDroppedError('no leader');
    return this.node;
  }

  // ---------------------------------------------------------------- observers

  status(): LogStatus {
    const node = this.node;
    if (!node) {
      const hs = this.storage.hardState();
      return { term: hs.term, leader: 0n, commitIndex: hs.commit, lastIndex: this.storage.lastIndex() };
    }
    const r = node.raft;
    return {
      term: r.term,
      leader: this.stopped || r.lead === NONE ? 0n : nodeIdToBigInt(r.lead),
      commitIndex: r.log.committed,
      lastIndex: r.log.lastIndex(),
    };
  }

  /** The core's full status (progress of every peer on the leader). */
  raftStatus(): Status | undefined {
    return this.node?.status();
  }

  leaderId(): NodeId {
    return this.stopped || !this.node ? NONE : this.node.raft.lead;
  }

  isLeader(): boolean {
    return !this.stopped && this.node?.raft.role === 'leader';
  }

  /** Milliseconds since the peer was last heard from, or undefined if never. */
  sinceHeard(id: NodeId): number | undefined {
    const t = this.lastHeard.get(id);
    return t === undefined ? undefined : Date.now() - t;
  }

  // ---------------------------------------------------------------- snapshots

  /** Term of log entry `index` (still in the Raft storage). */
  termOf(index: number): number {
    return this.storage.term(index);
  }

  /** The voters and learners as of the last applied configuration change. */
  confState(): ConfState {
    const node = this.node;
    if (!node) throw new Error('raft log not started');
    return node.status().confState;
  }

  /**
   * Records the state machine image taken at `index` (the applied index, in
   * the apply path) and discards log entries older than the catch-up window.
   * Returns the snapshot's metadata for the caller to persist.
   */
  createSnapshot(index: number, data: Uint8Array | undefined, confState?: ConfState): SnapshotMeta {
    const node = this.node;
    if (!node) throw new Error('raft log not started');
    const cs = confState ?? node.status().confState;
    const snap = this.storage.createSnapshot(index, cs, data ?? new Uint8Array());
    // No image given: it is already in the snapshot file, and is read back when a follower needs it.
    if (data === undefined) this.storage.releaseSnapshotData(index);
    const keep = this.opts.catchUpEntries ?? DEFAULT_CATCH_UP_ENTRIES;
    const compactTo = index - keep;
    if (compactTo >= this.storage.firstIndex()) this.storage.compact(compactTo);
    return { index: snap.index, term: snap.term, confState: cs };
  }

  // ---------------------------------------------------------------- the Ready loop

  private kick(): void {
    if (this.loopScheduled || this.loopRunning || this.halted || !this.node) return;
    this.loopScheduled = true;
    // Let inputs of the same event-loop turn join one Ready.
    setImmediate(() => {
      this.loopScheduled = false;
      void this.runLoop();
    });
  }

  private async runLoop(): Promise<void> {
    const node = this.node;
    if (this.loopRunning || !node) return;
    this.loopRunning = true;
    try {
      while (!this.halted && this.failed === undefined && node.hasReady()) {
        const rd = node.ready();
        // Reads that arrived so far are in this Ready; later ones start a new batch.
        this.openRead = undefined;
        await this.handleReady(node, rd);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.loopRunning = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async handleReady(node: RawNode, rd: Ready): Promise<void> {
    const { wal, transport } = this.opts;
    if (rd.softState && rd.softState.leader !== this.leader) {
      const was = this.leader;
      this.leader = rd.softState.leader;
      this.opts.logger.info(this.leader === NONE ? 'raft lost leader' : 'raft elected leader', {
        'local-member-id': this.id,
        'previous-leader': was === NONE ? undefined : was,
        leader: this.leader === NONE ? undefined : this.leader,
        term: node.raft.term,
      });
      for (const b of [...this.reads.values()]) this.failRead(b, Errors.leaderChanged());
      this.opts.onLeaderChange?.(this.leader, node.raft.term);
    }

    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of rd.messages) (canSendBeforePersist(m) ? early : late).push(m);
    if (early.length > 0) transport.send(early);

    if (rd.snapshot) {
      const s = rd.snapshot;
      const meta: SnapshotMeta = { index: s.index, term: s.term, confState: s.confState };
      await this.opts.snapshots.save(meta, s.data);
      if (this.halted) return;
      wal.saveSnapshot(meta);
    }
    wal.save(rd.hardState, rd.entries);
    let applied = false;
    if (rd.mustSync || rd.snapshot) {
      const synced = wal.sync();
      // Committed entries are durable on a quorum already, so they may be
      // applied while this member's own fsync runs (etcd applies in parallel
      // with persisting too); the state machine's CPU work then overlaps the
      // disk wait instead of following it. Not with a snapshot, which must
      // be installed before anything after it is applied.
      if (!rd.snapshot && rd.committedEntries.length > 0) {
        synced.catch(() => undefined);
        this.applyCommitted(rd.committedEntries);
        applied = true;
      }
      await synced;
    }
    if (this.halted) return;

    if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) this.storage.append(rd.entries);
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    if (late.length > 0) transport.send(late);
    // The transport encoded any snapshot message as it was handed over: the image can leave memory again.
    for (const m of rd.messages) if (m.type === 'snap') this.storage.releaseSnapshotData(m.snapshot.index);

    if (rd.snapshot) {
      this.opts.logger.info('applying snapshot from leader', { 'snapshot-index': rd.snapshot.index, 'snapshot-term': rd.snapshot.term });
      this.opts.onSnapshotInstalled(rd.snapshot);
      this.appliedIndex = Math.max(this.appliedIndex, rd.snapshot.index);
      // Saved to its file above: load it back only if this member must send it on.
      this.storage.releaseSnapshotData(rd.snapshot.index);
    }
    if (!applied && rd.committedEntries.length > 0) this.applyCommitted(rd.committedEntries);
    for (const rs of rd.readStates) this.resolveRead(Buffer.from(rs.ctx).toString('hex'), rs.index);
    node.advance(rd);
    this.notifyApplied();
    // Storage now holds everything applied: the safe point for taking a snapshot.
    this.opts.afterReady?.();

    if (rd.snapshot) {
      const index = rd.snapshot.index;
      void wal
        .releaseTo(index)
        .then(() => this.opts.snapshots.purge(MAX_SNAPSHOT_FILES))
        .catch((err: unknown) => {
          if (!this.stopped) this.opts.logger.warn('failed to release WAL after snapshot', { error: err });
        });
    }
  }

  private applyCommitted(entries: Entry[]): void {
    this.apply!(entries);
    this.appliedIndex = entries[entries.length - 1]!.index;
  }

  private notifyApplied(): void {
    if (this.appliedWaiters.length === 0) return;
    const done = this.appliedWaiters.filter((w) => w.index <= this.appliedIndex);
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > this.appliedIndex);
    for (const w of done) w.resolve();
  }

  private waitApplied(index: number): Promise<void> {
    if (this.appliedIndex >= index || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  private fail(err: unknown): void {
    if (this.failed !== undefined) return;
    this.failed = err;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const b of [...this.reads.values()]) this.failRead(b, Errors.stopped());
    this.releaseAppliedWaiters();
    this.opts.onFatal(err);
  }

  private releaseAppliedWaiters(): void {
    const w = this.appliedWaiters;
    this.appliedWaiters = [];
    for (const x of w) x.resolve();
  }

  private idle(): Promise<void> {
    if (!this.loopRunning && !this.loopScheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---------------------------------------------------------------- lifecycle

  async flush(): Promise<void> {
    while (this.loopRunning || this.loopScheduled) await this.idle();
  }

  async close(): Promise<void> {
    if (this.stopped && this.failed === undefined && this.halted) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const b of [...this.reads.values()]) this.failRead(b, Errors.stopped());
    this.releaseAppliedWaiters();
    await this.flush();
  }

  halt(): void {
    this.stopped = true;
    this.halted = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const b of [...this.reads.values()]) this.failRead(b, Errors.stopped());
    this.releaseAppliedWaiters();
  }
}
