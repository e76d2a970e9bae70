// The contract between the API front doors (gRPC and the HTTP+JSON gateway,
// etcd/api/) and the server core (etcd/server/). The front doors only decode,
// validate sizes, call these methods and encode; every semantic decision
// (revisions, leases, errors, consensus) is made behind this interface, so the
// same core serves both protocols and the Raft-replicated cluster later.
//
// Errors are thrown as EtcdError (etcd/errors.ts) carrying etcd's gRPC code
// and message; the front doors pass them through unchanged.

import type {
  CompactionRequest,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKVResult,
  LeaseId,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from '../types.js';
import type { WatchResponse } from '../mvcc/watch.js';

/** Every response carries one; revision is filled by the core (etcd replaces 0 with the current revision). */
export interface ResponseHeader {
  clusterId: bigint;
  memberId: bigint;
  revision: number;
  raftTerm: number;
}

/** Per-request context from the transport (auth token, etcd's hasleader metadata). */
export interface RequestContext {
  token?: string;
  /** Go clients set this on watches and keep-alives: fail with "no leader" rather than wait. */
  requireLeader?: boolean;
}

export interface Member {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export type AlarmType = 'NONE' | 'NOSPACE' | 'CORRUPT';
export interface AlarmMember {
  memberId: bigint;
  alarm: AlarmType;
}

export interface StatusResult {
  header: ResponseHeader;
  version: string;
  dbSize: number;
  leader: bigint;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  errors: string[];
  dbSizeInUse: number;
  isLearner: boolean;
}

export interface LeaseGrantResult {
  header: ResponseHeader;
  id: LeaseId;
  ttl: number;
}

export interface LeaseTimeToLiveResult {
  header: ResponseHeader;
  id: LeaseId;
  /** -1 for an unknown lease, as etcd answers (not an error). */
  ttl: number;
  grantedTtl: number;
  keys: Buffer[];
}

export interface WatchCreate {
  key: Buffer;
  rangeEnd: Buffer;
  startRevision: number;
  progressNotify: boolean;
  filters: ('NOPUT' | 'NODELETE')[];
  prevKv: boolean;
  /** 0 = let the server assign, as etcd does. */
  watchId: number;
  fragment: boolean;
}

/** The hub's WatchResponse with its revision carried in a response header, as on the wire. */
export type WatchResponseOut = Omit<WatchResponse, 'revision'> & { header: ResponseHeader };

/**
 * One client watch stream. The front door forwards requests and writes what
 * `onResponse` delivers. `setWritable(false)` when the transport's buffer is
 * full: the core then stops pushing to this stream (its watchers fall behind
 * and later catch up from history) instead of buffering without bound.
 */
export interface WatchStream {
  create(req: WatchCreate): void;
  cancel(watchId: number): void;
  requestProgress(): void;
  setWritable(writable: boolean): void;
  /** The client went away or the stream ended: drop every watcher of the stream. */
  close(): void;
}

export interface KeepAliveResult {
  header: ResponseHeader;
  id: LeaseId;
  /** 0 when the lease is unknown or expired, as etcd answers. */
  ttl: number;
}

export interface SnapshotStream {
  /** Total bytes of the snapshot including etcd's trailing 32-byte SHA-256. */
  size: number;
  header: ResponseHeader;
  chunks: AsyncIterable<Buffer>;
}

export interface EtcdBackend {
  // KV
  range(req: RangeRequest, ctx: RequestContext): Promise<{ header: ResponseHeader; response: RangeResponse }>;
  put(req: PutRequest, ctx: RequestContext): Promise<{ header: ResponseHeader; response: PutResponse }>;
  deleteRange(req: DeleteRangeRequest, ctx: RequestContext): Promise<{ header: ResponseHeader; response: DeleteRangeResponse }>;
  /** Nested responses get their header from their own `revision`; the front door fills the rest from the outer header. */
  txn(req: TxnRequest, ctx: RequestContext): Promise<{ header: ResponseHeader; response: TxnResponse }>;
  compact(req: CompactionRequest, ctx: RequestContext): Promise<{ header: ResponseHeader }>;

  // Watch
  openWatchStream(ctx: RequestContext, onResponse: (res: WatchResponseOut) => void): WatchStream;

  // Lease
  leaseGrant(ttl: number, id: LeaseId, ctx: RequestContext): Promise<LeaseGrantResult>;
  leaseRevoke(id: LeaseId, ctx: RequestContext): Promise<{ header: ResponseHeader }>;
  leaseKeepAlive(id: LeaseId, ctx: RequestContext): Promise<KeepAliveResult>;
  leaseTimeToLive(id: LeaseId, keys: boolean, ctx: RequestContext): Promise<LeaseTimeToLiveResult>;
  leaseLeases(ctx: RequestContext): Promise<{ header: ResponseHeader; ids: LeaseId[] }>;

  // Cluster
  memberList(linearizable: boolean, ctx: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }>;
  memberAdd(peerURLs: string[], isLearner: boolean, ctx: RequestContext): Promise<{ header: ResponseHeader; member: Member; members: Member[] }>;
  memberRemove(id: bigint, ctx: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }>;
  memberUpdate(id: bigint, peerURLs: string[], ctx: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }>;
  memberPromote(id: bigint, ctx: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }>;

  // Maintenance
  status(ctx: RequestContext): Promise<StatusResult>;
  hash(ctx: RequestContext): Promise<{ header: ResponseHeader; hash: number }>;
  hashKV(revision: number, ctx: RequestContext): Promise<{ header: ResponseHeader } & HashKVResult>;
  defragment(ctx: RequestContext): Promise<{ header: ResponseHeader }>;
  snapshot(ctx: RequestContext): Promise<SnapshotStream>;
  alarm(action: 'GET' | 'ACTIVATE' | 'DEACTIVATE', memberId: bigint, alarm: AlarmType, ctx: RequestContext): Promise<{ header: ResponseHeader; alarms: AlarmMember[] }>;
  moveLeader(targetId: bigint, ctx: RequestContext): Promise<{ header: ResponseHeader }>;

  // Auth (answers as etcd does while auth is disabled; full auth comes later)
  authStatus(ctx: RequestContext): Promise<{ header: ResponseHeader; enabled: boolean; authRevision: number }>;
  authCall(method: string, req: Record<string, unknown>, ctx: RequestContext): Promise<{ header: ResponseHeader } & Record<string, unknown>>;

  /** Current header (for /health, progress responses, errors). */
  currentHeader(): ResponseHeader;
  /** For GET /health: undefined when healthy, else etcd's reason ("RAFT NO LEADER", "ALARM NOSPACE"). */
  healthProblem(opts: { excludeAlarms: AlarmType[]; serializable: boolean }): Promise<string | undefined>;
  /** Prometheus text exposition of the server's metrics. */
  metricsText(): string;
  readonly version: { server: string; cluster: string };
  /** Limits the front door enforces before calling the core. */
  readonly limits: { maxRequestBytes: number };
}
