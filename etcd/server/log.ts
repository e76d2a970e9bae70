// The replicated log the server proposes into and applies from: propose
// bytes, receive committed entries in order, ask for a read barrier. RaftLog
// (raft-log.ts) implements it for clusters of any size and is what the server
// runs, a single member included; SingleMemberLog below is the minimal
// one-member form of the contract (an entry is committed once durable in its
// own WAL), no longer used by the server.

import type { Entry, EntryType, HardState } from '../raft/types.js';
import { ProposalDroppedError } from '../raft/types.js';

export type { Entry, EntryType, HardState };

export interface LogStatus {
  /** Current Raft term. */
  term: number;
  /** Leader's member ID, 0n when none is known. */
  leader: bigint;
  /** Highest index known committed. */
  commitIndex: number;
  /** Highest index in the log (committed or not). */
  lastIndex: number;
}

/** Where the log makes entries durable: the WAL (or a memory fake in tests). */
export interface LogPersistence {
  /** Appends entries then the hard state, in one write batch. */
  save(hardState: HardState, entries: Entry[]): Promise<void> | void;
  /** Makes everything saved so far durable (one fsync for the batch). */
  sync(): Promise<void>;
}

/** Receives committed entries in index order. Runs synchronously: the log delivers the next batch only after it returns. */
export type ApplyFn = (entries: Entry[]) => void;

export interface ReplicatedLog {
  /**
   * Hands one entry to the log. It is applied through the ApplyFn once
   * committed, or never (dropped on leader change, or lost with an
   * un-synced tail on a crash): the caller keeps its own timeout.
   * Throws ProposalDroppedError when no leader can take it.
   */
  propose(data: Uint8Array, type?: EntryType): void;
  /** Linearizable read barrier: resolves with an index; reads are linearizable once the state machine applied it. */
  readIndex(): Promise<number>;
  status(): LogStatus;
  /** Start the log: replay recovered committed entries, then accept proposals. */
  start(apply: ApplyFn): Promise<void>;
  /** Stops accepting proposals; waits for the batch in flight to become durable and applied. */
  close(): Promise<void>;
  /** Resolves once every proposal made so far is durable and applied (or dropped). */
  flush(): Promise<void>;
  /** Stops dead, as a crash would: nothing more is written or applied. */
  halt(): void;
}

export interface SingleMemberLogOptions {
  memberId: bigint;
  persistence: LogPersistence;
  /** State recovered from the WAL (entries after the snapshot). */
  recovered: { hardState: HardState; entries: Entry[] };
  /** Index of the snapshot the state machine was restored from (0 = none). */
  snapshotIndex: number;
  snapshotTerm: number;
  /** Entries to write before anything else when the log is brand new (bootstrap conf changes), at term 1. */
  bootstrap?: Array<{ type: EntryType; data: Uint8Array }>;
  /** Called when a batch cannot be made durable: the server must stop (etcd panics on WAL write failure). */
  onFatal: (err: unknown) => void;
}

/**
 * The log of a one-member cluster: the member is always leader; an entry is
 * committed as soon as it is durable. Proposals that arrive while a batch is
 * being written and synced form the next batch (group commit), so the fsync
 * rate, not the request rate, bounds the work.
 */
export class SingleMemberLog implements ReplicatedLog {
  private readonly opts: SingleMemberLogOptions;
  private hardState: HardState;
  private lastIndex: number;
  private apply: ApplyFn | undefined;
  private pending: Array<{ type: EntryType; data: Uint8Array }> = [];
  private writing: Promise<void> | undefined;
  private closed = false;
  private failed: unknown;
  private halted = false;
  private readonly vote: string;

  constructor(opts: SingleMemberLogOptions) {
    this.opts = opts;
    this.hardState = { ...opts.recovered.hardState };
    const last = opts.recovered.entries[opts.recovered.entries.length - 1];
    this.lastIndex = last ? last.index : opts.snapshotIndex;
    this.vote = opts.memberId.toString(16).padStart(16, '0');
  }

  status(): LogStatus {
    return {
      term: this.hardState.term,
      leader: this.closed ? 0n : this.opts.memberId,
      commitIndex: this.hardState.commit,
      lastIndex: this.lastIndex,
    };
  }

  async start(apply: ApplyFn): Promise<void> {
    this.apply = apply;
    const fresh = this.lastIndex === 0 && this.hardState.term === 0;
    if (fresh && this.opts.bootstrap && this.opts.bootstrap.length > 0) {
      const boot = this.opts.bootstrap.map((e, i) => ({ term: 1, index: i + 1, type: e.type, data: e.data }));
      this.hardState = { term: 1, vote: this.vote, commit: boot.length };
      this.lastIndex = boot.length;
      await this.opts.persistence.save({ ...this.hardState }, boot);
      await this.opts.persistence.sync();
      apply(boot);
    } else {
      // Every durable entry of a sole voter is committed once the new term's
      // first entry is: replay them all (Raft's leader-completeness rule).
      const entries = this.opts.recovered.entries.filter((e) => e.index > this.opts.snapshotIndex);
      if (entries.length > 0) apply(entries);
    }
    // A new term per start, with an empty entry to commit it, as an elected leader does.
    this.hardState = { ...this.hardState, term: this.hardState.term + 1, vote: this.vote };
    this.pending.push({ type: 'normal', data: new Uint8Array(0) });
    await this.kick();
  }

  propose(data: Uint8Array, type: EntryType = 'normal'): void {
    if (this.closed || this.failed !== undefined || !this.apply) throw new ProposalDroppedError('no leader');
    this.pending.push({ type, data });
    void this.kick();
  }

  async readIndex(): Promise<number> {
    if (this.closed || this.failed !== undefined) throw new ProposalDroppedError('no leader');
    // Sole voter: everything committed so far is the read point; no quorum round needed.
    return this.hardState.commit;
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  halt(): void {
    this.closed = true;
    this.halted = true;
    this.pending = [];
  }

  private kick(): Promise<void> {
    if (!this.writing) {
      this.writing = this.writeLoop().finally(() => {
        this.writing = undefined;
      });
    }
    return this.writing;
  }

  private async writeLoop(): Promise<void> {
    // Let proposals made in the same tick join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.pending.length > 0 && this.failed === undefined && !this.halted) {
      const batch = this.pending;
      this.pending = [];
      const entries: Entry[] = batch.map((p, i) => ({ term: this.hardState.term, index: this.lastIndex + 1 + i, type: p.type, data: p.data }));
      const nextLast = this.lastIndex + entries.length;
      const hs: HardState = { term: this.hardState.term, vote: this.vote, commit: nextLast };
      try {
        await this.opts.persistence.save(hs, entries);
        await this.opts.persistence.sync();
      } catch (err) {
        this.failed = err;
        this.pending = [];
        this.opts.onFatal(err);
        return;
      }
      if (this.halted) return;
      this.lastIndex = nextLast;
      this.hardState = hs;
      try {
        this.apply!(entries);
      } catch (err) {
        this.failed = err;
        this.pending = [];
        this.opts.onFatal(err);
        return;
      }
    }
  }
}
