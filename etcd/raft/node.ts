// RawNode: the caller-facing wrapper of the Raft state machine.
//
// The Ready contract
// ------------------
// Inputs (tick, step, propose, proposeConfChange, readIndex, transferLeader,
// applyConfChange, report*) only change memory. The caller then loops:
//
//   if (node.hasReady()) {
//     const rd = node.ready();
//     1. persist rd.snapshot (if any), then rd.entries, then rd.hardState,
//        and fsync when rd.mustSync;          -- "durable"
//     2. send rd.messages;                    -- only now (see exception below)
//     3. apply rd.snapshot (if any) and then rd.committedEntries in order,
//        calling node.applyConfChange(cc) for each 'conf' entry;
//        serve reads whose rd.readStates index has been applied;
//     4. node.advance(rd);
//   }
//
// What must be durable before what:
// - Before any message of a Ready is sent, that Ready's hardState and
//   entries must be durable. A vote response therefore never leaves before
//   the vote (and term) is on disk, and an append acknowledgement never
//   leaves before the acknowledged entries are on disk, so a crash cannot
//   make a node forget a vote it cast or an entry a leader counted.
// - Before committed entries are applied they must be durable locally
//   (step 1 precedes step 3), so applied <= durable log after any crash, and
//   the hardState.commit persisted alongside covers everything applied.
// - Exception, the leader's parallel write (Raft thesis §10.2.1, as etcd
//   does): messages for which canSendBeforePersist(m) is true (appends,
//   heartbeats and snapshots, which only a leader sends) may be sent before
//   or while step 1 runs. This is safe because the leader counts its own log
//   toward the commit quorum only in advance(), i.e. once its entries are
//   durable; until then a commit needs a majority of other durable copies.
//   Everything else (votes, responses, forwarded requests) waits for step 1.
// - Only one Ready is outstanding: ready() may not be called again before
//   advance(). Inputs between ready() and advance() are allowed; their
//   effects go into the next Ready.

import { coalesceMessages } from './coalesce.js';
import type { ConfChange } from './confchange.js';
import { Raft, type RaftConfig } from './raft.js';
import {
  assert,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
  type Status,
} from './types.js';

export interface Ready {
  /** Present when leader or role changed since the previous Ready. */
  softState?: SoftState;
  /** Present when term, vote or commit changed; persist it. */
  hardState?: HardState;
  /** Append to stable storage (replacing any conflicting suffix). */
  entries: Entry[];
  /** An incoming snapshot: persist it, install it in storage, restore the state machine. */
  snapshot?: Snapshot;
  /** Apply in order after the persistence step. */
  committedEntries: Entry[];
  /** Send after the persistence step (canSendBeforePersist ones may go earlier). */
  messages: Message[];
  /** Answered ReadIndex requests. */
  readStates: ReadState[];
  /** True when entries or term/vote changed: the write must be fsynced. */
  mustSync: boolean;
}

/** Messages a leader may send before its own Ready is durable (see the contract above). */
export function canSendBeforePersist(m: Message): boolean {
  return m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap';
}

export type RawNodeConfig = RaftConfig;

export class RawNode {
  readonly raft: Raft;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private outstanding: Ready | undefined;

  constructor(cfg: RawNodeConfig) {
    this.raft = new Raft(cfg);
    this.prevHard = cfg.storage.initialState().hardState;
    this.prevSoft = this.raft.softState();
    this.raft.checkInvariants();
  }

  tick(): void {
    this.raft.tick();
    this.raft.checkInvariants();
  }

  /** Feeds a message from a peer. Local-only kinds are methods, not messages. */
  step(m: Message): void {
    this.raft.step(m);
    this.raft.checkInvariants();
  }

  /** Forces an election now (MsgHup), with pre-vote if configured. */
  campaign(): void {
    this.raft.hup(this.raft.preVote ? 'preElection' : 'election');
    this.raft.checkInvariants();
  }

  /** Throws ProposalDroppedError when the proposal cannot enter the log. */
  propose(data: Uint8Array): void {
    this.raft.propose([{ type: 'normal', data }]);
    this.raft.checkInvariants();
  }

  /** At most one conf change may be in flight; throws ProposalDroppedError otherwise (on the leader). */
  proposeConfChange(cc: ConfChange): void {
    this.raft.proposeConfChange(cc);
    this.raft.checkInvariants();
  }

  /** Requests a linearizable read point; the answer arrives as a ReadState with this ctx. */
  readIndex(ctx: Uint8Array): void {
    this.raft.readIndex(ctx);
    this.raft.checkInvariants();
  }

  transferLeader(to: NodeId): void {
    this.raft.transferLeader(to);
    this.raft.checkInvariants();
  }

  /** Call while applying a committed 'conf' entry; returns the configuration now in force. */
  applyConfChange(cc: ConfChange): ConfState {
    const cs = this.raft.applyConfChange(cc);
    this.raft.checkInvariants();
    return cs;
  }

  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  reportSnapshot(id: NodeId, status: 'finish' | 'failure'): void {
    this.raft.reportSnapshot(id, status);
  }

  status(): Status {
    return this.raft.status();
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    const r = this.raft;
    const soft = r.softState();
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) return true;
    if (!hardStateEqual(r.hardState(), this.prevHard)) return true;
    if (r.log.unstable.snapshot || r.log.unstable.entries.length > 0) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0 || r.hasUnroundedReads()) return true;
    return r.log.hasNextCommittedEnts();
  }

  ready(): Ready {
    assert(!this.outstanding, 'ready() called before advance() of the previous Ready');
    const r = this.raft;
    r.startReadRound();
    const rd: Ready = {
      entries: r.log.unstable.entries.slice(),
      committedEntries: r.log.nextCommittedEnts(),
      messages: coalesceMessages(r.msgs, r.maxSizePerMsg),
      readStates: r.readStates,
      mustSync: false,
    };
    r.msgs = [];
    r.readStates = [];
    const soft = r.softState();
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) {
      rd.softState = soft;
      this.prevSoft = soft;
    }
    const hard = r.hardState();
    if (!hardStateEqual(hard, this.prevHard)) {
      rd.hardState = hard;
      rd.mustSync = rd.entries.length > 0 || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote;
      this.prevHard = hard;
    }
    if (rd.entries.length > 0) rd.mustSync = true;
    if (r.log.unstable.snapshot) {
      rd.snapshot = r.log.unstable.snapshot;
      rd.mustSync = true;
    }
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) r.log.applying = lastCommitted.index;
    this.outstanding = rd;
    return rd;
  }

  /** The caller finished the Ready: everything in it is durable, applied and sent. */
  advance(rd: Ready): void {
    assert(rd === this.outstanding, 'advance() with a Ready that is not the outstanding one');
    this.outstanding = undefined;
    const log = this.raft.log;
    const last = rd.entries[rd.entries.length - 1];
    if (last) log.unstable.stableTo(last.index, last.term);
    if (rd.snapshot) {
      log.unstable.stableSnapTo(rd.snapshot.index);
      if (log.applied < rd.snapshot.index) {
        log.applied = rd.snapshot.index;
        if (log.applying < log.applied) log.applying = log.applied;
      }
    }
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied) log.appliedTo(lastApplied.index);
    this.raft.onPersisted();
    this.raft.checkInvariants();
  }
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
