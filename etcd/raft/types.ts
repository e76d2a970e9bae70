// Data types of the Raft core. They mirror etcd-io/raft's raftpb messages in
// spirit, shaped as a TypeScript tagged union so every message kind carries
// exactly the fields it uses.

/** 16 lowercase hex chars of the uint64 member id; '' means "none". */
export type NodeId = string;
export const NONE: NodeId = '';

export type EntryType = 'normal' | 'conf';

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface Snapshot {
  index: number;
  term: number;
  confState: ConfState;
  /** State machine image; opaque to the core. */
  data: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  leader: NodeId;
  role: Role;
}

/** An answered ReadIndex request: reads for `ctx` may be served once applied >= index. */
export interface ReadState {
  index: number;
  ctx: Uint8Array;
}

interface Base {
  from: NodeId;
  to: NodeId;
  /** 0 for messages forwarded between local roles (prop, readIndex, transferLeader). */
  term: number;
}

/** Append entries after (index, logTerm); doubles as a probe when entries is empty. */
export interface MsgApp extends Base {
  type: 'app';
  index: number;
  logTerm: number;
  entries: Entry[];
  commit: number;
}

export interface MsgAppResp extends Base {
  type: 'appResp';
  /** On success: the follower's last index covered by the append. On reject: the rejected MsgApp's index. */
  index: number;
  reject: boolean;
  /** On reject: a guess of the follower's last index that could match, with its term in logTerm. */
  rejectHint: number;
  logTerm: number;
}

export interface MsgVote extends Base {
  type: 'vote' | 'preVote';
  index: number;
  logTerm: number;
  /** Set for elections started by a leader transfer: bypasses the leader lease. */
  force: boolean;
}

export interface MsgVoteResp extends Base {
  type: 'voteResp' | 'preVoteResp';
  reject: boolean;
}

export interface MsgHeartbeat extends Base {
  type: 'heartbeat';
  commit: number;
  /** The leader's latest ReadIndex confirmation round (0: none). Echoed in the response. */
  readRound: number;
}

export interface MsgHeartbeatResp extends Base {
  type: 'heartbeatResp';
  readRound: number;
}

export interface MsgSnap extends Base {
  type: 'snap';
  snapshot: Snapshot;
}

export interface MsgTimeoutNow extends Base {
  type: 'timeoutNow';
}

/** A proposal forwarded by a follower to its leader. */
export interface MsgProp extends Base {
  type: 'prop';
  entries: Array<{ type: EntryType; data: Uint8Array }>;
}

/** A ReadIndex request forwarded by a follower to its leader. */
export interface MsgReadIndex extends Base {
  type: 'readIndex';
  ctx: Uint8Array;
}

export interface MsgReadIndexResp extends Base {
  type: 'readIndexResp';
  index: number;
  ctx: Uint8Array;
}

/** A leader transfer request forwarded by a follower to its leader. */
export interface MsgTransferLeader extends Base {
  type: 'transferLeader';
  transferee: NodeId;
}

export type Message =
  | MsgApp
  | MsgAppResp
  | MsgVote
  | MsgVoteResp
  | MsgHeartbeat
  | MsgHeartbeatResp
  | MsgSnap
  | MsgTimeoutNow
  | MsgProp
  | MsgReadIndex
  | MsgReadIndexResp
  | MsgTransferLeader;

export type MessageType = Message['type'];

/** Distributes Omit over the union so each variant keeps its own fields. */
export type MessageBody = Message extends infer M ? (M extends Message ? Omit<M, 'from' | 'term'> : never) : never;

export interface ProgressStatus {
  match: number;
  next: number;
  state: 'probe' | 'replicate' | 'snapshot';
  isLearner: boolean;
  recentActive: boolean;
}

export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lead: NodeId;
  role: Role;
  leadTransferee: NodeId;
  confState: ConfState;
  /** Leader only. */
  progress?: Record<NodeId, ProgressStatus>;
}

const NODE_ID = /^[0-9a-f]{16}$/;
export function isNodeId(s: string): boolean {
  return NODE_ID.test(s);
}

/** Formats a uint64 member id the way NodeId expects. */
export function nodeIdFromBigInt(id: bigint): NodeId {
  if (id <= 0n || id >= 1n << 64n) throw new RangeError(`member id out of range: ${id}`);
  return id.toString(16).padStart(16, '0');
}

export function nodeIdToBigInt(id: NodeId): bigint {
  if (!isNodeId(id)) throw new RangeError(`not a node id: ${JSON.stringify(id)}`);
  return BigInt(`0x${id}`);
}

/** Why a proposal, ReadIndex or transfer could not be accepted. */
export type DropReason =
  | 'no leader'
  | 'leader transfer in progress'
  | 'not a member'
  | 'conf change pending'
  | 'empty proposal';

/**
 * Thrown by propose/proposeConfChange/readIndex when the request cannot enter
 * the log (etcd-io/raft's ErrProposalDropped). The server maps it to etcd's
 * "no leader"/"leader changed" style errors and the client retries.
 */
export class ProposalDroppedError extends Error {
  readonly code = 'ErrProposalDropped';
  constructor(readonly reason: DropReason) {
    super(`raft proposal dropped: ${reason}`);
    this.name = 'ProposalDroppedError';
  }
}

/** A broken invariant: the process state can no longer be trusted. */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftInvariantError';
  }
}

export function assert(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new RaftInvariantError(typeof message === 'string' ? message : message());
}
