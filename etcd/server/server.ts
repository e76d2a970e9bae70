// EtcdServer: the core behind the API front door.
//
// Every mutation becomes one log record (codec.ts) proposed to the Raft log
// (raft-log.ts, replicated to the other members over the peer transport);
// committed entries come back in order and the Applier turns them into state
// changes and per-request results, which are handed to the waiting proposer
// by request id. A write is acknowledged only after its entry is committed
// by a quorum and applied here. Reads are served from the applied state:
// linearizable ones after a read barrier (ReadIndex, then wait until
// applied), serializable ones immediately. Membership changes are Raft
// configuration changes carrying the membership record as their context.
//
// Local duties that must not live in the deterministic core: lease deadlines
// (on the leader only: a timer proposes revokes for expired leases; other
// members forward keep-alives and TTL queries to it), auto-compaction (also
// leader only), the quota (raising NOSPACE through the log), watch delivery,
// snapshots of the state machine every --snapshot-count entries (then WAL
// release), and etcd's cluster checks before membership changes.

import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { encodeSnapshotFile } from './snapshot-file.js';
import type { EtcdConfig } from '../config/flags.js';
import { CLUSTER_VERSION, SERVER_VERSION } from '../config/flags.js';
import { EtcdError, Errors, GrpcCode } from '../errors.js';
import { checkDeleteRequest, checkIntervals, checkPutRequest, checkRangeRequest, checkTxnRequest } from '../mvcc/txn-checks.js';
import { applyRange, applyTxn } from '../mvcc/txn.js';
import { decodeConfChange, encodeConfChange, type ConfChange } from '../raft/confchange.js';
import { NONE, nodeIdFromBigInt, nodeIdToBigInt, ProposalDroppedError, type Entry, type EntryType, type NodeId, type Snapshot } from '../raft/types.js';
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
import { MAX_LEASE_TTL } from '../lease/lessor.js';
import { DataDir } from '../wal/datadir.js';
import type { SnapshotStore } from '../wal/snapshots.js';
import type { SnapshotMeta } from '../wal/records.js';
import type { RecoveredState, Wal } from '../wal/wal.js';
import { Applier, type ApplyOutcome } from './applier.js';
import type {
  AlarmMember,
  AlarmType,
  EtcdBackend,
  KeepAliveResult,
  LeaseGrantResult,
  LeaseTimeToLiveResult,
  Member,
  RequestContext,
  ResponseHeader,
  SnapshotStream,
  StatusResult,
  WatchResponseOut,
  WatchStream,
} from './backend.js';
import { AuthErrors } from './auth.js';
import type { AuthOp, InternalRequest } from './codec.js';
import { decodeRecord, encodeRecord } from './codec.js';
import { nextTurn } from '../util/next-turn.js';
import { startPeriodicCompactor, startRevisionCompactor, type Compactor } from './compactor.js';
import { computeClusterId, computeMemberId, IdGenerator, idToHex } from './ids.js';
import { guardWatchStream } from './guarded-watch.js';
import { RaftLog } from './raft-log.js';
import { checkAddVoter, checkRemoveMember, learnerInSync } from './reconfig-checks.js';
import { NullTransport, type RaftTransport } from './transport.js';
import { decodeForwarded, encodeForwarded, ForwardKind } from './forward.js';
import type { LessorFactory, LocalLessor } from './lessor-port.js';
import { createLessorFactory } from './lessor-adapter.js';
import { createLogger, type Logger } from './logger.js';
import { MetricsRegistry, type Counter } from './metrics.js';
import { decodeMetadata, encodeMetadata } from './metadata.js';
import { WatchWiring } from './watch-streams.js';

/** etcd's cost estimate overheads (quota.go). */
const KV_OVERHEAD = 256;
const LEASE_OVERHEAD = 64;
const SNAPSHOT_CHUNK = 32 * 1024;
const MAX_SNAPSHOT_FILES = 5;
const LEASE_REVOKE_PER_SECOND = 1000;
/** A peer heard from within this many election timeouts counts as connected (etcd: 5 s of stream uptime). */
const HEALTH_WINDOW_FACTOR = 3;
/** etcd cancels hasleader watch streams after this many election timeouts without a leader. */
const MAX_NO_LEADER_TICKS = 3;

/** What a member joining an existing cluster learns from it: its own IDs and the current members (to reach them). */
export interface JoinInfo {
  memberId: bigint;
  clusterId: bigint;
  members?: Member[];
}

export interface EtcdServerOptions {
  config: EtcdConfig;
  /** The lease module bound to a clock (lessor-adapter.ts); defaults to the real one on `now`. */
  lessor?: LessorFactory;
  logger?: Logger;
  /** Wall clock in milliseconds (lease deadlines, IDs); injectable for tests. */
  now?: () => number;
  walSegmentBytes?: number;
  /** How often expired leases are looked for (etcd: 500 ms). */
  leaseCheckIntervalMs?: number;
  /** Auto-compaction check interval override (tests); etcd: retention/10 (periodic), 5 min (revision). */
  compactionCheckMs?: number;
  /**
   * The peer network, built once the member and cluster IDs are known (from
   * the WAL or the bootstrap flags). Default: nobody is reachable.
   */
  transport?: (ids: { memberId: bigint; clusterId: bigint }) => RaftTransport;
  /**
   * Joining an existing cluster (--initial-cluster-state existing) on an empty
   * data dir: the IDs the cluster gave this member. Default: looked up through
   * `discoverJoin`, or computed from the flags as etcd does for initial members.
   */
  join?: JoinInfo;
  /** Asks the running cluster who this member is (joining with an empty data dir). */
  discoverJoin?: () => Promise<JoinInfo>;
  /** Raft's election jitter source (tests pass a seeded one). */
  random?: () => number;
  /** Called once when the server stops on its own (removed from the cluster, fatal error). */
  onStopped?: (reason: string) => void;
  /** Log entries kept behind a snapshot for slow followers (etcd: 5000). */
  catchUpEntries?: number;
}

interface Waiter {
  resolve: (v: { outcome: ApplyOutcome; revision: number }) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

function putCost(p: PutRequest): number {
  return KV_OVERHEAD + p.key.length + p.value.length + (p.lease !== 0n ? LEASE_OVERHEAD : 0);
}

function txnCost(t: TxnRequest): number {
  const branch = (ops: TxnRequest['success']) => ops.reduce((n, op) => n + (op.type === 'put' ? putCost(op.put) : 0), 0);
  return Math.max(branch(t.success), branch(t.failure));
}

function hashPassword(password: string): string {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('base64')}$${scryptSync(password, salt, 32).toString('base64')}`;
}

function verifyPassword(password: string, stored: string): boolean {
  const [scheme, saltB64, hashB64] = stored.split('$');
  if (scheme !== 'scrypt' || !saltB64 || !hashB64) return false;
  const expected = Buffer.from(hashB64, 'base64');
  const actual = scryptSync(password, Buffer.from(saltB64, 'base64'), expected.length);
  return timingSafeEqual(expected, actual);
}

function field(req: Record<string, unknown>, name: string): unknown {
  return req[name];
}
function str(req: Record<string, unknown>, name: string): string {
  const v = field(req, name);
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return '';
}
function buf(req: Record<string, unknown>, ...names: string[]): Buffer {
  for (const n of names) {
    const v = field(req, n);
    if (Buffer.isBuffer(v)) return v;
    if (v instanceof Uint8Array) return Buffer.from(v);
    if (typeof v === 'string') return Buffer.from(v, 'base64');
  }
  return Buffer.alloc(0);
}
function permTypeOf(v: unknown): AuthOp['permType'] {
  if (v === 'WRITE' || v === 1) return 'WRITE';
  if (v === 'READWRITE' || v === 2) return 'READWRITE';
  return 'READ';
}

export class EtcdServer implements EtcdBackend {
  readonly version = { server: SERVER_VERSION, cluster: CLUSTER_VERSION };
  readonly limits: { maxRequestBytes: number };
  readonly memberId: bigint;
  readonly clusterId: bigint;

  private readonly cfg: EtcdConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly idGen: IdGenerator;
  private readonly applier: Applier;
  private readonly replicated: RaftLog;
  private readonly transport: RaftTransport;
  private readonly opts: EtcdServerOptions;
  /** Watch streams opened with etcd's hasleader metadata: canceled when the cluster loses its leader. */
  private readonly leaderWatchStreams = new Set<() => void>();
  private noLeaderTicks = 0;
  private wasLeader = false;
  private removedSelf = false;
  private snapshotsInstalled = 0;
  private readonly removalNotices = new Map<NodeId, number>();
  private readonly watch: WatchWiring;
  private readonly waiters = new Map<bigint, Waiter>();
  private appliedWaiters: Array<{ index: number; resolve: () => void; reject: (err: unknown) => void }> = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private compactor: Compactor | undefined;
  private readonly revoking = new Set<LeaseId>();
  private stopped = false;
  private fatalError: unknown;
  private snapshotIndex: number;
  private snapshotInFlight: Promise<void> | undefined;
  private tidyInFlight: Promise<void> | undefined;
  /** Like bbolt's file size: grows with data, shrinks only on defragment. */
  private dbSizeHighWater = 0;
  private readonly requestTimeoutMs: number;
  private readonly compactionCheckMs: number | undefined;
  private readonly tokens = new Map<string, { user: string; expires: number }>();

  private readonly metrics = new MetricsRegistry();
  private readonly mCommitted: Counter;
  private readonly mFailed: Counter;
  private readonly mPut: Counter;
  private readonly mDelete: Counter;
  private readonly mTxn: Counter;
  private readonly mRange: Counter;
  private readonly mSnapshots: Counter;
  private readonly mLeaderChanges: Counter;

  private constructor(
    private readonly dataDir: DataDir,
    private readonly wal: Wal,
    private readonly snapshots: SnapshotStore,
    opts: EtcdServerOptions,
    ids: { memberId: bigint; clusterId: bigint },
    applier: Applier,
    recovered: RecoveredState,
    recoveredSnapshot: Snapshot | undefined,
    bootstrap: Uint8Array[],
  ) {
    this.opts = opts;
    this.cfg = opts.config;
    this.log = opts.logger ?? createLogger({ level: this.cfg.logLevel });
    this.now = opts.now ?? Date.now;
    this.memberId = ids.memberId;
    this.clusterId = ids.clusterId;
    this.limits = { maxRequestBytes: this.cfg.maxRequestBytes };
    this.idGen = new IdGenerator(this.memberId, this.now());
    this.applier = applier;
    this.snapshotIndex = applier.appliedIndex;
    this.requestTimeoutMs = 5000 + 2 * this.cfg.electionTimeoutMs;
    this.compactionCheckMs = opts.compactionCheckMs;
    this.transport = opts.transport ? opts.transport(ids) : new NullTransport();
    const raftLogger = this.log.child('raft/raft.go');
    this.replicated = new RaftLog({
      id: nodeIdFromBigInt(this.memberId),
      wal,
      snapshots,
      recovered: { hardState: recovered.hardState, entries: recovered.entries, ...(recoveredSnapshot ? { snapshot: recoveredSnapshot } : {}) },
      bootstrap,
      transport: this.transport,
      tickMs: this.cfg.heartbeatIntervalMs,
      electionTicks: Math.max(2, Math.round(this.cfg.electionTimeoutMs / this.cfg.heartbeatIntervalMs)),
      preVote: this.cfg.preVote,
      requestTimeoutMs: this.requestTimeoutMs,
      ...(opts.catchUpEntries !== undefined ? { catchUpEntries: opts.catchUpEntries } : {}),
      ...(opts.random ? { random: opts.random } : {}),
      logger: raftLogger,
      onFatal: (err) => this.fatal('raft log failed', err),
      onLeaderChange: (leader, term) => this.leaderChanged(leader, term),
      onSnapshotInstalled: (snap) => this.installSnapshot(snap),
      onPeerMessage: (from) => this.noticeRemovedPeer(from),
      afterReady: () => this.maybeSnapshot(),
    });
    this.watch = new WatchWiring({
      store: () => this.applier.store,
      header: (rev) => this.header(rev),
      fragmentMaxBytes: this.cfg.maxRequestBytes,
    });

    const m = this.metrics;
    m.sampledGauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', () => (this.leaderId() !== 0n ? 1 : 0));
    m.sampledGauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', () => (this.leaderId() === this.memberId ? 1 : 0));
    this.mLeaderChanges = m.counter('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.');
    m.sampledGauge('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.', () => this.replicated.status().commitIndex);
    m.sampledGauge('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.', () => this.applier.appliedIndex);
    m.sampledGauge('etcd_server_proposals_pending', 'The current number of pending proposals to commit.', () => this.waiters.size);
    this.mFailed = m.counter('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.');
    this.mCommitted = m.counter('faultline_server_records_applied_total', 'Log records applied to the state machine.');
    m.sampledGauge('etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.', () => (Number.isFinite(this.cfg.quotaBackendBytes) ? this.cfg.quotaBackendBytes : -1));
    m.sampledGauge('etcd_server_version', 'Which version is running. 1 for \'server_version\' label with current version.', () => [{ labels: { server_version: SERVER_VERSION }, value: 1 }]);
    m.sampledGauge('etcd_server_id', 'Server or member ID in hexadecimal format. 1 for \'server_id\' label with current ID.', () => [{ labels: { server_id: idToHex(this.memberId) }, value: 1 }]);
    m.sampledGauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', () => this.dbSize());
    m.sampledGauge('etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.', () => this.applier.store.sizeBytes());
    m.sampledGauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.', () => this.applier.store.keyCount);
    m.sampledGauge('etcd_mvcc_current_revision', 'The current revision of store.', () => this.applier.store.currentRevision);
    m.sampledGauge('etcd_mvcc_compact_revision', 'The revision of the last compaction in store.', () => this.applier.store.compactRevision);
    m.sampledGauge('etcd_debugging_mvcc_watcher_total', 'Total number of watchers.', () => this.watch.hub.watcherCount);
    m.sampledGauge('etcd_debugging_mvcc_slow_watcher_total', 'Total number of unsynced slow watchers.', () => this.watch.hub.unsyncedCount);
    // Process memory, as etcd's Go process collector reports RSS; the Node
    // split shows whether memory is on the V8 heap or in buffers outside it.
    m.sampledGauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss());
    m.sampledGauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', () => process.memoryUsage().heapUsed);
    m.sampledGauge('nodejs_external_memory_bytes', 'Memory of objects outside the V8 heap (buffers included), in bytes.', () => process.memoryUsage().external);
    m.sampledGauge('nodejs_array_buffers_bytes', 'Memory of ArrayBuffers and Buffers, in bytes.', () => process.memoryUsage().arrayBuffers);
    m.sampledGauge('etcd_debugging_lease_total', 'The number of leases.', () => this.lessor().ids().length);
    this.mPut = m.counter('etcd_mvcc_put_total', 'Total number of puts seen by this member.');
    this.mDelete = m.counter('etcd_mvcc_delete_total', 'Total number of deletes seen by this member.');
    this.mTxn = m.counter('etcd_mvcc_txn_total', 'Total number of txns seen by this member.');
    this.mRange = m.counter('etcd_mvcc_range_total', 'Total number of ranges seen by this member.');
    this.mSnapshots = m.counter('etcd_debugging_snap_save_total_duration_seconds_count', 'Number of state-machine snapshots saved.');
    m.sampledGauge('etcd_server_health_success', 'The total number of successful health checks', () => 0);
  }

  /**
   * Opens the data directory (taking its lock), restores the newest snapshot,
   * replays the WAL after it, and starts serving. Throws WalCorruptError,
   * SnapshotCorruptError or DataDirLockedError when it must not start.
   */
  static async open(opts: EtcdServerOptions): Promise<EtcdServer> {
    const cfg = opts.config;
    const log = opts.logger ?? createLogger({ level: cfg.logLevel });
    const dataDir = await DataDir.open(cfg.dataDir);
    let wal: Wal | undefined;
    try {
      const snapshots = dataDir.snapshots();
      const opened = await dataDir.openWal({
        ...(opts.walSegmentBytes !== undefined ? { segmentBytes: opts.walSegmentBytes } : {}),
        logger: (level, message) => log.log(level, message),
      });
      wal = opened.wal;
      const recovered = opened.recovered;

      let ids: { memberId: bigint; clusterId: bigint };
      const bootstrap: Uint8Array[] = [];
      let joinPeers: Member[] = [];
      if (recovered.metadata) {
        ids = decodeMetadata(Buffer.from(recovered.metadata));
        log.info('restarting local member', { 'data-dir': cfg.dataDir, 'local-member-id': idToHex(ids.memberId), 'cluster-id': idToHex(ids.clusterId), 'commit-index': recovered.hardState.commit });
      } else {
        if (recovered.entries.length > 0 || recovered.snapshot) throw new Error(`wal in ${dataDir.walDir} has entries but no metadata`);
        if (cfg.initialClusterState === 'existing') {
          // The cluster assigned this member's ID when it was added; the log (replicated from the leader) brings the rest.
          const found = opts.join ?? (opts.discoverJoin ? await opts.discoverJoin() : undefined);
          if (!found) throw new Error('cannot join an existing cluster: no peer answered with the member list');
          ids = { memberId: found.memberId, clusterId: found.clusterId };
          joinPeers = found.members ?? initialMembers(cfg);
          wal.setMetadata(encodeMetadata(ids));
          log.info('joining existing cluster', { 'local-member-id': idToHex(ids.memberId), 'cluster-id': idToHex(ids.clusterId), 'data-dir': cfg.dataDir });
        } else {
          const members = initialMembers(cfg);
          const self = members.find((m) => m.name === cfg.name);
          if (!self) throw new Error(`couldn't find local name "${cfg.name}" in the initial cluster configuration`);
          ids = { memberId: self.id, clusterId: computeClusterId(members.map((m) => m.id)) };
          wal.setMetadata(encodeMetadata(ids));
          // As etcd: the initial members enter the log as committed conf changes at term 1, in ID order,
          // with their peer URLs only; each one's name and client URLs come when it publishes them.
          for (const m of [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
            const context = encodeRecord({ requestId: 0n, request: { op: 'memberAdd', member: { ...m, name: '' } } });
            bootstrap.push(encodeConfChange({ type: 'addNode', nodeId: nodeIdFromBigInt(m.id), context }));
          }
          log.info('starting local member', { 'local-member-id': idToHex(ids.memberId), 'cluster-id': idToHex(ids.clusterId), 'data-dir': cfg.dataDir, 'initial-cluster-size': members.length });
        }
      }

      const lessors = opts.lessor ?? createLessorFactory(cfg, opts.now ?? Date.now);
      const applier = new Applier({ maxTxnOps: cfg.maxTxnOps, leases: lessors.create(), restoreLeases: (b) => lessors.restore(b) });
      let recoveredSnapshot: Snapshot | undefined;
      if (recovered.snapshot) {
        const snap = await snapshots.load(recovered.snapshot);
        applier.restore(Buffer.from(snap.data.buffer, snap.data.byteOffset, snap.data.byteLength));
        recoveredSnapshot = { index: snap.meta.index, term: snap.meta.term, confState: snap.meta.confState, data: snap.data };
        log.info('recovered from snapshot', { 'snapshot-index': snap.meta.index, 'snapshot-term': snap.meta.term, revision: applier.store.currentRevision });
      }
      const server = new EtcdServer(dataDir, wal, snapshots, { ...opts, logger: log }, ids, applier, recovered, recoveredSnapshot, bootstrap);
      // A joining member's log is empty until the leader reaches it, so it must know where the others are.
      for (const m of joinPeers) if (m.id !== ids.memberId) server.transport.addPeer(nodeIdFromBigInt(m.id), m.peerURLs);
      await server.start();
      return server;
    } catch (err) {
      if (wal) await wal.close().catch(() => undefined);
      await dataDir.release().catch(() => undefined);
      throw err;
    }
  }

  private async start(): Promise<void> {
    this.transport.onRequest((from, kind, payload) => this.handlePeerRequest(from, kind, payload));
    // Members restored from a snapshot; those in the log are added as their entries apply.
    this.syncPeers();
    await this.transport.start();
    await this.replicated.start((entries) => this.applyEntries(entries));
    this.dbSizeHighWater = this.applier.store.sizeBytes();
    this.startTimers();
    const publishing = this.publish();
    // A sole voter leads at once, so its attributes are in the log before open() returns.
    const voters = this.replicated.raftStatus()?.confState.voters ?? [];
    if (voters.length === 1 && voters[0] === nodeIdFromBigInt(this.memberId)) await publishing;
  }

  /** Publishes this member's name and client URLs through the log, as etcd does once it is up; retries until it commits. */
  private async publish(): Promise<void> {
    const attributes = { name: this.cfg.name, clientURLs: this.cfg.advertiseClientUrls };
    while (!this.stopped) {
      try {
        await this.propose({ op: 'memberAttributes', id: this.memberId, ...attributes });
        this.log.info('published local member to cluster through raft', {
          'local-member-id': idToHex(this.memberId),
          'local-member-attributes': attributes,
          'cluster-id': idToHex(this.clusterId),
        });
        return;
      } catch (err) {
        if (this.stopped) return;
        this.log.debug('failed to publish local member attributes; retrying', { error: err });
        await new Promise((r) => setTimeout(r, Math.min(this.cfg.electionTimeoutMs, 500)).unref());
      }
    }
  }

  /** Points the transport at every other member the state machine knows. */
  private syncPeers(): void {
    const self = this.memberId;
    const known = new Set<NodeId>();
    for (const m of this.applier.members.values()) {
      if (m.id === self) continue;
      const id = nodeIdFromBigInt(m.id);
      known.add(id);
      this.transport.addPeer(id, m.peerURLs);
    }
    for (const id of this.applier.removed) {
      const hex = nodeIdFromBigInt(id);
      if (!known.has(hex)) this.transport.removePeer(hex);
    }
  }

  /** A removed member that keeps talking (it missed its removal) is told, so it stops as etcd's would. */
  private noticeRemovedPeer(from: NodeId): void {
    const id = nodeIdToBigInt(from);
    if (!this.applier.removed.has(id)) return;
    const last = this.removalNotices.get(from) ?? 0;
    if (Date.now() - last < 1000) return;
    this.removalNotices.set(from, Date.now());
    this.transport.request(from, 'member-removed', encodeForwarded({}), 1000).catch(() => undefined);
  }

  private leaderChanged(leader: NodeId, term: number): void {
    const self = nodeIdFromBigInt(this.memberId);
    if (leader !== NONE) this.mLeaderChanges.inc();
    if (leader === self && !this.wasLeader) {
      this.wasLeader = true;
      this.lessor().promote();
      this.log.info('became leader', { 'local-member-id': idToHex(this.memberId), term });
    } else if (leader !== self && this.wasLeader) {
      this.wasLeader = false;
      this.lessor().demote();
      this.log.info('lost leadership', { 'local-member-id': idToHex(this.memberId), term, leader: leader === NONE ? '0' : leader });
    }
  }

  /** A snapshot from the leader is durable: the state machine becomes its image. */
  private installSnapshot(snap: Snapshot): void {
    const image = Buffer.from(snap.data.buffer, snap.data.byteOffset, snap.data.byteLength);
    this.applier.restore(image);
    this.snapshotsInstalled++;
    this.watch.restored();
    this.snapshotIndex = snap.index;
    this.syncPeers();
    const size = this.applier.store.sizeBytes();
    if (size > this.dbSizeHighWater) this.dbSizeHighWater = size;
    this.log.info('restored state machine from leader snapshot', { 'snapshot-index': snap.index, revision: this.applier.store.currentRevision });
    this.releaseAppliedWaiters();
  }

  private releaseAppliedWaiters(): void {
    const applied = this.applier.appliedIndex;
    if (this.appliedWaiters.length === 0) return;
    const ready = this.appliedWaiters.filter((w) => w.index <= applied);
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > applied);
    for (const w of ready) w.resolve();
  }

  private startTimers(): void {
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(500, () => this.revokeExpiredLeases());
    every(this.cfg.electionTimeoutMs, () => this.monitorLeader());
    every(this.cfg.watchProgressNotifyIntervalMs, () => this.watch.progressTick());
    const retention = this.cfg.autoCompactionRetentionValue;
    if (retention > 0) {
      const host = {
        currentRevision: () => this.applier.store.currentRevision,
        compact: async (rev: number) => {
          // As etcd's compactor, which runs paused on followers: only the leader proposes compactions.
          if (this.leaderId() !== this.memberId) return;
          await this.propose({ op: 'compact', compact: { revision: rev, physical: false } });
        },
        now: this.now,
        log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => this.log.log(level, msg, fields),
      };
      const checkMs = this.compactionCheckMs;
      this.compactor =
        this.cfg.autoCompactionMode === 'periodic' ? startPeriodicCompactor(host, retention, checkMs) : startRevisionCompactor(host, retention, checkMs);
    }
  }

  private lessor(): LocalLessor {
    return this.applier.leases as LocalLessor;
  }

  private leaderId(): bigint {
    return this.stopped ? 0n : this.replicated.status().leader;
  }

  // ---------------------------------------------------------------- log plumbing

  private propose(request: InternalRequest, type: EntryType = 'normal'): Promise<{ outcome: ApplyOutcome; revision: number }> {
    if (this.stopped) return Promise.reject(Errors.stopped());
    const requestId = this.idGen.next();
    const data = encodeRecord({ requestId, request });
    const cc = type === 'conf' ? confChangeOf(request, data) : undefined;
    const leaderAtStart = this.replicated.leaderId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(requestId);
        this.mFailed.inc();
        // etcd's hint when the leader changed while the request waited.
        reject(this.replicated.leaderId() !== leaderAtStart ? Errors.timeoutDueToLeaderFail() : Errors.timeout());
      }, this.requestTimeoutMs);
      this.waiters.set(requestId, { resolve, reject, timer });
      const submit = (): void => {
        if (!this.waiters.has(requestId)) return;
        try {
          if (cc) this.replicated.proposeConfChange(cc);
          else this.replicated.propose(data);
        } catch (err) {
          // Membership changes go one at a time: wait for the one in flight to apply, then try again.
          if (err instanceof ProposalDroppedError && err.reason === 'conf change pending' && !this.stopped) {
            setTimeout(submit, 2 * this.cfg.heartbeatIntervalMs).unref();
            return;
          }
          clearTimeout(timer);
          this.waiters.delete(requestId);
          this.mFailed.inc();
          reject(err instanceof ProposalDroppedError ? (this.stopped ? Errors.stopped() : Errors.noLeader()) : err);
        }
      };
      submit();
    });
  }

  private applyEntries(entries: Entry[]): void {
    for (const e of entries) {
      if (e.index <= this.applier.appliedIndex) continue;
      if (e.data.length === 0) {
        this.applier.skip(e.index, e.term);
        continue;
      }
      let record;
      let cc: ConfChange | undefined;
      try {
        let bytes = e.data;
        if (e.type === 'conf') {
          cc = decodeConfChange(e.data);
          bytes = cc.context;
        }
        record = decodeRecord(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      } catch (err) {
        this.fatal(`cannot decode log entry ${e.index}`, err);
        return;
      }
      let applied;
      try {
        applied = this.applier.apply(record.request, e.index, e.term);
      } catch (err) {
        // A bug, not a request error: keep the index moving so later entries still apply, and tell the proposer.
        this.applier.skip(e.index, e.term);
        this.log.error('failed to apply log entry', { index: e.index, op: record.request.op, error: err });
        this.settle(record.requestId, new EtcdError(GrpcCode.INTERNAL, `etcdserver: apply failed: ${String(err)}`), 0);
        continue;
      }
      if (!(applied.outcome instanceof EtcdError)) this.membershipApplied(record.request, cc);
      this.mCommitted.inc();
      if (applied.events.length > 0) this.watch.notify(applied.events, applied.revision);
      this.countOp(record.request, applied.outcome);
      this.settle(record.requestId, applied.outcome, applied.revision);
    }
    const size = this.applier.store.sizeBytes();
    if (size > this.dbSizeHighWater) this.dbSizeHighWater = size;
    this.releaseAppliedWaiters();
    this.maybeTidySlabs();
  }

  /**
   * After a compaction, frees the store's mostly empty slabs in slices
   * between other work (a large store takes longer than a heartbeat).
   */
  private maybeTidySlabs(): void {
    const store = this.applier.store;
    if (this.tidyInFlight || this.stopped || !store.tidyDue) return;
    this.tidyInFlight = (async () => {
      const work = store.tidySlabs();
      for (let step = work.next(); !step.done; step = work.next()) {
        await nextTurn();
        if (this.stopped || this.applier.store !== store) {
          work.return(0);
          return;
        }
      }
    })()
      .catch((err: unknown) => this.log.warn('failed to tidy up the store after compaction', { error: err }))
      .finally(() => {
        this.tidyInFlight = undefined;
        // A compaction applied meanwhile ended this one early: start over.
        this.maybeTidySlabs();
      });
  }

  /** A membership record was applied: tell Raft (conf changes) and the transport, and stop if this member was removed. */
  private membershipApplied(req: InternalRequest, cc: ConfChange | undefined): void {
    if (cc) this.replicated.applyConfChange(cc);
    const self = this.memberId;
    switch (req.op) {
      case 'memberAdd':
        if (req.member.id !== self) this.transport.addPeer(nodeIdFromBigInt(req.member.id), req.member.peerURLs);
        return;
      case 'memberUpdate':
        if (req.id !== self) this.transport.addPeer(nodeIdFromBigInt(req.id), req.peerURLs);
        return;
      case 'memberRemove':
        if (req.id !== self) {
          // Keep talking to it briefly so it learns of its removal, as etcd does.
          const id = nodeIdFromBigInt(req.id);
          setTimeout(() => {
            if (!this.applier.members.has(req.id)) this.transport.removePeer(id);
          }, 10 * this.cfg.electionTimeoutMs).unref();
        } else if (!this.removedSelf) {
          this.removedSelf = true;
          this.log.warn('the member has been permanently removed from the cluster', { 'local-member-id': idToHex(self) });
          // A short delay, as etcd's, so the commit reaches the others before this member goes.
          setTimeout(() => void this.stopSelf('the member has been permanently removed from the cluster'), 10 * this.cfg.heartbeatIntervalMs).unref();
        }
        return;
      default:
        return;
    }
  }

  /** Stops on the server's own decision (removed from the cluster, fatal error). */
  private async stopSelf(reason: string): Promise<void> {
    await this.close().catch((err: unknown) => this.log.warn('error while stopping', { error: err }));
    this.opts.onStopped?.(reason);
  }

  private countOp(req: InternalRequest, outcome: ApplyOutcome | EtcdError): void {
    if (outcome instanceof EtcdError) return;
    if (req.op === 'put') this.mPut.inc();
    else if (req.op === 'deleteRange') this.mDelete.inc();
    else if (req.op === 'txn') this.mTxn.inc();
  }

  private settle(requestId: bigint, outcome: ApplyOutcome | EtcdError, revision: number): void {
    const w = this.waiters.get(requestId);
    if (!w) return;
    this.waiters.delete(requestId);
    clearTimeout(w.timer);
    if (outcome instanceof EtcdError) {
      this.mFailed.inc();
      w.reject(outcome);
    } else {
      w.resolve({ outcome, revision });
    }
  }

  /** Resolves once the state machine applied `index`; a member that cannot catch up gives up after the request timeout. */
  private waitApplied(index: number): Promise<void> {
    if (this.applier.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.appliedWaiters = this.appliedWaiters.filter((w) => w !== waiter);
        reject(this.stopped ? Errors.stopped() : Errors.timeout());
      }, this.requestTimeoutMs);
      const waiter = {
        index,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.appliedWaiters.push(waiter);
    });
  }

  /**
   * The linearizable read barrier: a read index from the log (a quorum-
   * confirmed commit index under Raft; the local commit index for a single
   * member), then wait until the state machine has applied it.
   */
  private async linearizableBarrier(): Promise<void> {
    if (this.stopped) throw Errors.stopped();
    let index: number;
    try {
      index = await this.replicated.readIndex();
    } catch (err) {
      if (err instanceof ProposalDroppedError) throw Errors.noLeader();
      throw err;
    }
    await this.waitApplied(index);
  }

  private fatal(msg: string, err: unknown): void {
    if (this.fatalError !== undefined) return;
    this.fatalError = err;
    this.log.error(msg, { error: err });
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(Errors.stopped());
      this.waiters.delete(id);
    }
    this.stopped = true;
    this.replicated.halt();
    void this.transport.close().catch(() => undefined);
    this.opts.onStopped?.(`${msg}: ${err instanceof Error ? err.message : String(err)}`);
  }

  private maybeSnapshot(): void {
    const applied = this.applier.appliedIndex;
    if (this.snapshotInFlight || this.stopped || applied - this.snapshotIndex < this.cfg.snapshotCount) return;
    this.snapshotInFlight = this.takeSnapshot().finally(() => {
      this.snapshotInFlight = undefined;
    });
  }

  /** Saves the state machine at the applied index and lets the WAL drop what the snapshot covers. */
  private async takeSnapshot(): Promise<void> {
    // Index, configuration and state are captured together here, between two
    // Readies; the image is then encoded in slices (a large store takes
    // seconds, which in one piece would stall heartbeats into elections).
    const index = this.applier.appliedIndex;
    this.snapshotIndex = index;
    const started = performance.now();
    try {
      const meta: SnapshotMeta = { index, term: this.replicated.termOf(index), confState: this.replicated.confState() };
      const preparing = this.applier.imageInSlices();
      let step = preparing.next();
      for (; !step.done; step = preparing.next()) await nextTurn();
      const image = step.value;
      if (this.stopped) return;
      // File first, then the WAL marker, then the Raft storage: the log is
      // compacted only once the snapshot that replaces it is durable. The
      // image goes to the file a slice at a time as it is encoded, so it is
      // never held whole in memory.
      await this.snapshots.save(meta, image);
      if (this.stopped) return;
      this.wal.saveSnapshot(meta);
      await this.wal.sync();
      if (this.stopped) return;
      this.replicated.createSnapshot(index, undefined, meta.confState);
      await this.wal.releaseTo(meta.index);
      await this.snapshots.purge(MAX_SNAPSHOT_FILES);
      this.mSnapshots.inc();
      this.log.info('saved snapshot', {
        'snapshot-index': meta.index,
        'snapshot-size-bytes': image.length,
        // Wall time: encoding and writing run in slices between other work.
        took: `${Math.round(performance.now() - started)}ms`,
      });
    } catch (err) {
      if (!this.stopped) this.log.warn('failed to save snapshot', { 'snapshot-index': index, error: err });
    }
  }

  // ---------------------------------------------------------------- headers

  header(revision = 0): ResponseHeader {
    return {
      clusterId: this.clusterId,
      memberId: this.memberId,
      revision: revision > 0 ? revision : this.applier.store.currentRevision,
      raftTerm: this.replicated.status().term,
    };
  }

  currentHeader(): ResponseHeader {
    return this.header();
  }

  private dbSize(): number {
    return Math.max(this.dbSizeHighWater, this.applier.store.sizeBytes());
  }

  /**
   * etcd's quota check before proposing a Put, Txn or LeaseGrant: if the
   * request would take the backend past the quota, raise NOSPACE through the
   * log and refuse the request.
   */
  private async checkQuota(cost: number): Promise<void> {
    if (cost === 0 || !Number.isFinite(this.cfg.quotaBackendBytes)) return;
    if (this.dbSize() + cost < this.cfg.quotaBackendBytes) return;
    if (!this.applier.alarmActive('NOSPACE')) {
      this.log.warn('alarm raised', { alarm: 'NOSPACE', from: idToHex(this.memberId), 'db-size': this.dbSize(), quota: this.cfg.quotaBackendBytes });
      await this.propose({ op: 'alarm', action: 'ACTIVATE', memberId: this.memberId, alarm: 'NOSPACE' }).catch(() => undefined);
    }
    throw Errors.noSpace();
  }

  private checkRunning(): void {
    if (this.stopped) throw Errors.stopped();
  }

  /** etcd answers a learner's clients only for Status and serializable Range. */
  private refuseOnLearner(): void {
    if (this.applier.members.get(this.memberId)?.isLearner) throw Errors.notSupportedForLearner();
  }

  // ---------------------------------------------------------------- KV

  async range(req: RangeRequest, _ctx: RequestContext): Promise<{ header: ResponseHeader; response: RangeResponse }> {
    // A learner serves serializable reads only, as etcd's.
    if (!req.serializable) this.refuseOnLearner();
    return this.rangeUnguarded(req);
  }

  private async rangeUnguarded(req: RangeRequest): Promise<{ header: ResponseHeader; response: RangeResponse }> {
    this.checkRunning();
    checkRangeRequest(req);
    if (!req.serializable) await this.linearizableBarrier();
    const r = applyRange(this.applier.store, req);
    this.mRange.inc();
    return { header: this.header(r.revision), response: r.response };
  }

  async put(req: PutRequest, _ctx: RequestContext): Promise<{ header: ResponseHeader; response: PutResponse }> {
    this.checkRunning();
    this.refuseOnLearner();
    checkPutRequest(req);
    await this.checkQuota(putCost(req));
    const { outcome, revision } = await this.propose({ op: 'put', put: req });
    if (outcome.kind !== 'put') throw new Error(`unexpected apply outcome ${outcome.kind}`);
    return { header: this.header(revision), response: outcome.response };
  }

  async deleteRange(req: DeleteRangeRequest, _ctx: RequestContext): Promise<{ header: ResponseHeader; response: DeleteRangeResponse }> {
    this.checkRunning();
    this.refuseOnLearner();
    checkDeleteRequest(req);
    const { outcome, revision } = await this.propose({ op: 'deleteRange', deleteRange: req });
    if (outcome.kind !== 'deleteRange') throw new Error(`unexpected apply outcome ${outcome.kind}`);
    return { header: this.header(revision), response: outcome.response };
  }

  async txn(req: TxnRequest, _ctx: RequestContext): Promise<{ header: ResponseHeader; response: TxnResponse }> {
    this.checkRunning();
    this.refuseOnLearner();
    checkTxnRequest(req, this.cfg.maxTxnOps);
    checkIntervals(req.success);
    checkIntervals(req.failure);
    if (isReadOnlyTxn(req)) {
      // etcd serves read-only txns like ranges: through the read barrier unless every range is serializable.
      const serializable = allRangesSerializable(req);
      if (!serializable) await this.linearizableBarrier();
      const r = applyTxn(this.applier.store, req, this.lessor(), { maxTxnOps: this.cfg.maxTxnOps });
      this.mTxn.inc();
      return { header: this.header(r.revision), response: r.response };
    }
    await this.checkQuota(txnCost(req));
    const { outcome, revision } = await this.propose({ op: 'txn', txn: req });
    if (outcome.kind !== 'txn') throw new Error(`unexpected apply outcome ${outcome.kind}`);
    return { header: this.header(revision), response: outcome.response };
  }

  async compact(req: CompactionRequest, _ctx: RequestContext): Promise<{ header: ResponseHeader }> {
    this.checkRunning();
    this.refuseOnLearner();
    const { revision } = await this.propose({ op: 'compact', compact: req });
    return { header: this.header(revision) };
  }

  // ---------------------------------------------------------------- watch

  openWatchStream(ctx: RequestContext, onResponse: (res: WatchResponseOut) => void): WatchStream {
    const isLearner = (): boolean => this.applier.members.get(this.memberId)?.isLearner ?? false;
    if (!ctx.requireLeader && !isLearner()) return this.watch.open(onResponse);
    return guardWatchStream((cb) => this.watch.open(cb), onResponse, {
      requireLeader: ctx.requireLeader === true,
      hasLeader: () => this.leaderId() !== 0n,
      isLearner,
      header: () => this.header(),
      register: (abort) => {
        this.leaderWatchStreams.add(abort);
        return () => this.leaderWatchStreams.delete(abort);
      },
    });
  }

  /** etcd's leader monitor: after MAX_NO_LEADER_TICKS election timeouts without a leader, hasleader streams are canceled. */
  private monitorLeader(): void {
    if (this.leaderId() !== 0n) {
      this.noLeaderTicks = 0;
      return;
    }
    this.noLeaderTicks++;
    if (this.noLeaderTicks < MAX_NO_LEADER_TICKS || this.leaderWatchStreams.size === 0) return;
    this.log.warn('no leader: canceling watch streams that require one', { streams: this.leaderWatchStreams.size });
    for (const abort of [...this.leaderWatchStreams]) abort();
  }

  // ---------------------------------------------------------------- leases

  async leaseGrant(ttl: number, id: LeaseId, _ctx: RequestContext): Promise<LeaseGrantResult> {
    this.checkRunning();
    this.refuseOnLearner();
    if (ttl > MAX_LEASE_TTL) throw Errors.leaseTTLTooLarge();
    let leaseId = id;
    // The leader picks IDs for ID 0; etcd keeps them positive.
    while (leaseId === 0n) leaseId = this.idGen.next() & ((1n << 63n) - 1n);
    await this.checkQuota(LEASE_OVERHEAD);
    const { outcome, revision } = await this.propose({ op: 'leaseGrant', id: leaseId, ttl });
    if (outcome.kind !== 'leaseGrant') throw new Error(`unexpected apply outcome ${outcome.kind}`);
    return { header: this.header(revision), id: outcome.id, ttl: outcome.ttl };
  }

  async leaseRevoke(id: LeaseId, _ctx: RequestContext): Promise<{ header: ResponseHeader }> {
    this.checkRunning();
    this.refuseOnLearner();
    const { revision } = await this.propose({ op: 'leaseRevoke', id });
    return { header: this.header(revision) };
  }

  async leaseKeepAlive(id: LeaseId, _ctx: RequestContext): Promise<KeepAliveResult> {
    this.checkRunning();
    this.refuseOnLearner();
    const ttl = await this.onLeader('lease-renew', { id }, () => this.localRenew(id), (r) => Number(r.ttl));
    return { header: this.header(), id, ttl };
  }

  async leaseTimeToLive(id: LeaseId, keys: boolean, _ctx: RequestContext): Promise<LeaseTimeToLiveResult> {
    this.checkRunning();
    this.refuseOnLearner();
    const t = await this.onLeader(
      'lease-ttl',
      { id },
      () => this.localTimeToLive(id),
      (r) => ({ ttl: Number(r.ttl), grantedTtl: Number(r.grantedTtl), keys: (r.keys as Buffer[] | undefined) ?? [] }),
    );
    if (t.ttl < 0) return { header: this.header(), id, ttl: -1, grantedTtl: 0, keys: [] };
    return { header: this.header(), id, ttl: t.ttl, grantedTtl: t.grantedTtl, keys: keys ? t.keys : [] };
  }

  private async localRenew(id: LeaseId): Promise<number> {
    // Renew only against a state machine that has applied everything committed, so a revoked lease is not revived.
    await this.linearizableBarrier();
    return this.lessor().renew(id) ?? 0;
  }

  private async localTimeToLive(id: LeaseId): Promise<{ ttl: number; grantedTtl: number; keys: Buffer[] }> {
    await this.linearizableBarrier();
    const t = this.lessor().timeToLive(id);
    return t ? { ttl: t.ttl, grantedTtl: t.grantedTtl, keys: t.keys } : { ttl: -1, grantedTtl: 0, keys: [] };
  }

  /**
   * Runs a leader-only operation here when this member leads, else forwards
   * it to the leader over the peer transport (etcd forwards lease renewals and
   * TTL queries, and member promotion, the same way). Retries while the
   * leadership moves, up to the request timeout.
   */
  private async onLeader<T>(
    kind: ForwardKind,
    args: Record<string, unknown>,
    local: () => Promise<T>,
    fromWire: (r: Record<string, unknown>) => T,
  ): Promise<T> {
    const deadline = Date.now() + this.requestTimeoutMs;
    for (;;) {
      if (this.stopped) throw Errors.stopped();
      const leader = this.replicated.leaderId();
      try {
        if (leader === NONE) throw Errors.noLeader();
        if (leader === nodeIdFromBigInt(this.memberId)) return await local();
        const remaining = Math.max(1, deadline - Date.now());
        const reply = decodeForwarded(await this.transport.request(leader, kind, encodeForwarded(args), remaining));
        return fromWire(reply);
      } catch (err) {
        // The leader moved or none is known yet (nothing was done): ask again while time remains.
        // A lost or timed-out forward may have been carried out, so only reads and renewals repeat it.
        const idempotent = kind === 'lease-renew' || kind === 'lease-ttl';
        const retriable =
          err instanceof EtcdError
            ? err.message === Errors.notLeader().message || err.message === Errors.noLeader().message || (idempotent && err.message === Errors.leaderChanged().message)
            : idempotent;
        if (!retriable || Date.now() + 100 > deadline) {
          if (err instanceof EtcdError) throw err;
          if (!(err instanceof Error) || !/timed out|unreachable|closed|lost|removed|unknown peer/i.test(err.message)) {
            this.log.warn('forwarding to the leader failed', { kind, error: err });
          }
          throw Errors.timeout();
        }
        await new Promise((r) => setTimeout(r, Math.min(100, this.cfg.heartbeatIntervalMs * 2)).unref());
      }
    }
  }

  /** Requests other members forward to this one (see onLeader). Errors travel back as etcd errors. */
  private async handlePeerRequest(from: NodeId, kind: string, payload: Uint8Array): Promise<Uint8Array> {
    try {
      const args = decodeForwarded(payload);
      const self = nodeIdFromBigInt(this.memberId);
      if (kind === 'member-removed') {
        // A member told us we were removed: believe it only if it is still a member that we know.
        if (this.applier.members.has(nodeIdToBigInt(from)) && !this.removedSelf) {
          this.removedSelf = true;
          this.log.warn('the member has been permanently removed from the cluster', { 'local-member-id': idToHex(this.memberId), 'notified-by': from });
          setImmediate(() => void this.stopSelf('the member has been permanently removed from the cluster'));
        }
        return encodeForwarded({});
      }
      if (kind === 'member-list') {
        // A member joining with an empty data dir asks who it is (see peer-adapter.ts).
        return encodeForwarded({ clusterId: this.clusterId, members: this.applier.memberList() });
      }
      if (this.replicated.leaderId() !== self) throw Errors.notLeader();
      const id = args.id as bigint;
      switch (kind as ForwardKind) {
        case 'lease-renew':
          return encodeForwarded({ ttl: await this.localRenew(id) });
        case 'lease-ttl':
          return encodeForwarded(await this.localTimeToLive(id));
        case 'member-promote':
          return encodeForwarded({ members: await this.localPromote(id) });
        case 'member-add':
          return encodeForwarded(await this.localMemberAdd(args.peerURLs as string[], args.isLearner as boolean));
        case 'member-remove':
          return encodeForwarded({ members: await this.localMemberRemove(id) });
        default:
          throw new EtcdError(GrpcCode.UNIMPLEMENTED, `unknown peer request ${kind}`);
      }
    } catch (err) {
      return encodeForwarded({ $error: err instanceof EtcdError ? { code: err.code, message: err.message } : { code: GrpcCode.UNKNOWN, message: String(err) } });
    }
  }

  async leaseLeases(_ctx: RequestContext): Promise<{ header: ResponseHeader; ids: LeaseId[] }> {
    this.checkRunning();
    this.refuseOnLearner();
    await this.linearizableBarrier();
    // Soonest expiry first, as etcd lists them.
    return { header: this.header(), ids: this.lessor().ids() };
  }

  /** The lease timer: propose revokes for expired leases, at etcd's rate limit. */
  private revokeExpiredLeases(): void {
    if (this.stopped || this.leaderId() !== this.memberId) return;
    const budget = Math.max(1, Math.floor(LEASE_REVOKE_PER_SECOND / 2));
    for (const id of this.lessor().expired(budget)) {
      if (this.revoking.has(id)) continue;
      this.revoking.add(id);
      this.log.debug('revoking expired lease', { 'lease-id': id.toString(16) });
      this.propose({ op: 'leaseRevoke', id })
        .catch((err: unknown) => {
          if (!(err instanceof EtcdError && err.message === Errors.leaseNotFound().message)) {
            this.log.warn('failed to revoke expired lease', { 'lease-id': id.toString(16), error: err });
          }
        })
        .finally(() => this.revoking.delete(id));
    }
  }

  /** Runs one lease-expiry pass now (tests; the timer does this every 500 ms). */
  checkLeaseExpiry(): void {
    this.revokeExpiredLeases();
  }

  // ---------------------------------------------------------------- cluster

  async memberList(linearizable: boolean, _ctx: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.checkRunning();
    this.refuseOnLearner();
    if (linearizable) await this.linearizableBarrier();
    return { header: this.header(), members: this.applier.memberList() };
  }

  async memberAdd(peerURLs: string[], isLearner: boolean, _ctx: RequestContext): Promise<{ header: ResponseHeader; member: Member; members: Member[] }> {
    this.checkRunning();
    this.refuseOnLearner();
    for (const u of peerURLs) {
      try {
        new URL(u);
      } catch {
        throw new EtcdError(GrpcCode.INVALID_ARGUMENT, `etcdserver: invalid peer URL ${JSON.stringify(u)}`);
      }
    }
    // The leader sees every member's connectivity, so it runs the quorum checks (followers forward).
    const r = await this.onLeader('member-add', { peerURLs, isLearner }, () => this.localMemberAdd(peerURLs, isLearner), (x) => ({ member: x.member as Member, members: x.members as Member[] }));
    return { header: this.header(), ...r };
  }

  private async localMemberAdd(peerURLs: string[], isLearner: boolean): Promise<{ member: Member; members: Member[] }> {
    const member: Member = {
      id: computeMemberId(peerURLs, this.cfg.initialClusterToken, this.now() / 1000),
      name: '',
      peerURLs: [...peerURLs].sort(),
      clientURLs: [],
      isLearner,
    };
    if (!isLearner) this.mayAddVoter();
    const { outcome } = await this.propose({ op: 'memberAdd', member }, 'conf');
    if (outcome.kind !== 'members') throw new Error(`unexpected apply outcome ${outcome.kind}`);
    return { member: outcome.member ?? member, members: outcome.members };
  }

  async memberRemove(id: bigint, _ctx: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.checkRunning();
    this.refuseOnLearner();
    const members = await this.onLeader('member-remove', { id }, () => this.localMemberRemove(id), (x) => x.members as Member[]);
    return { header: this.header(), members };
  }

  private async localMemberRemove(id: bigint): Promise<Member[]> {
    this.mayRemoveMember(id);
    const { outcome } = await this.propose({ op: 'memberRemove', id }, 'conf');
    if (outcome.kind !== 'members') throw new Error(`unexpected apply outcome ${outcome.kind}`);
    return outcome.members;
  }

  async memberUpdate(id: bigint, peerURLs: string[], _ctx: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.checkRunning();
    this.refuseOnLearner();
    const { outcome } = await this.propose({ op: 'memberUpdate', id, peerURLs });
    if (outcome.kind !== 'members') throw new Error(`unexpected apply outcome ${outcome.kind}`);
    return { header: this.header(), members: outcome.members };
  }

  async memberPromote(id: bigint, _ctx: RequestContext): Promise<{ header: ResponseHeader; members: Member[] }> {
    this.checkRunning();
    this.refuseOnLearner();
    // Only the leader knows how far the learner got, so followers forward the request, as etcd does.
    const members = await this.onLeader('member-promote', { id }, () => this.localPromote(id), (r) => r.members as Member[]);
    return { header: this.header(), members };
  }

  private async localPromote(id: bigint): Promise<Member[]> {
    const m = this.applier.members.get(id);
    if (!m) throw Errors.memberNotFound();
    if (!m.isLearner) throw Errors.memberNotLearner();
    if (!this.learnerReady(id)) throw Errors.learnerNotReady();
    const { outcome } = await this.propose({ op: 'memberPromote', id }, 'conf');
    if (outcome.kind !== 'members') throw new Error(`unexpected apply outcome ${outcome.kind}`);
    return outcome.members;
  }

  private learnerReady(id: bigint): boolean {
    const progress = this.replicated.raftStatus()?.progress;
    return learnerInSync(progress?.[nodeIdFromBigInt(id)]?.match, progress?.[nodeIdFromBigInt(this.memberId)]?.match);
  }

  /** Whether `id` was heard from recently enough to count as connected (etcd: its stream is up). */
  private connected(id: bigint): boolean {
    if (id === this.memberId) return true;
    const since = this.replicated.sinceHeard(nodeIdFromBigInt(id));
    return since !== undefined && since <= HEALTH_WINDOW_FACTOR * this.cfg.electionTimeoutMs;
  }

  private mayAddVoter(): void {
    checkAddVoter(this.applier.memberList(), (id) => this.connected(id));
  }

  private mayRemoveMember(id: bigint): void {
    checkRemoveMember(this.applier.memberList(), id, this.memberId, (x) => this.connected(x));
  }

  // ---------------------------------------------------------------- maintenance

  async status(_ctx: RequestContext): Promise<StatusResult> {
    this.checkRunning();
    const s = this.replicated.status();
    const errors = this.applier.alarmList().map((a) => `memberID:${a.memberId} alarm:${a.alarm} `);
    return {
      header: this.header(),
      version: SERVER_VERSION,
      dbSize: this.dbSize(),
      leader: s.leader,
      raftIndex: s.commitIndex,
      raftTerm: s.term,
      raftAppliedIndex: this.applier.appliedIndex,
      errors,
      dbSizeInUse: this.applier.store.sizeBytes(),
      isLearner: this.applier.members.get(this.memberId)?.isLearner ?? false,
    };
  }

  async hash(_ctx: RequestContext): Promise<{ header: ResponseHeader; hash: number }> {
    this.checkRunning();
    this.refuseOnLearner();
    return { header: this.header(), hash: this.applier.store.hash() };
  }

  async hashKV(revision: number, _ctx: RequestContext): Promise<{ header: ResponseHeader } & HashKVResult> {
    this.checkRunning();
    this.refuseOnLearner();
    const r = this.applier.store.hashKV(revision);
    return { header: this.header(), ...r };
  }

  async defragment(_ctx: RequestContext): Promise<{ header: ResponseHeader }> {
    this.checkRunning();
    this.refuseOnLearner();
    // Nothing to rewrite in memory; like a bbolt defrag, the reported file size shrinks to what is in use.
    this.dbSizeHighWater = this.applier.store.sizeBytes();
    this.log.info('finished defragmenting', { 'current-db-size-bytes': this.dbSizeHighWater });
    return { header: this.header() };
  }

  async snapshot(_ctx: RequestContext): Promise<SnapshotStream> {
    this.checkRunning();
    this.refuseOnLearner();
    const file = encodeSnapshotFile(this.applier.serialize());
    const header = this.header();
    async function* chunks(): AsyncIterable<Buffer> {
      for (let off = 0; off < file.length; off += SNAPSHOT_CHUNK) yield file.subarray(off, Math.min(off + SNAPSHOT_CHUNK, file.length));
    }
    this.log.info('sending database snapshot to client', { 'total-bytes': file.length });
    return { size: file.length, header, chunks: chunks() };
  }

  async alarm(action: 'GET' | 'ACTIVATE' | 'DEACTIVATE', memberId: bigint, alarm: AlarmType, _ctx: RequestContext): Promise<{ header: ResponseHeader; alarms: AlarmMember[] }> {
    this.checkRunning();
    this.refuseOnLearner();
    if (action === 'GET') {
      await this.linearizableBarrier();
      return { header: this.header(), alarms: this.applier.alarmList(alarm) };
    }
    const { outcome } = await this.propose({ op: 'alarm', action, memberId, alarm });
    if (outcome.kind !== 'alarm') throw new Error(`unexpected apply outcome ${outcome.kind}`);
    if (action === 'DEACTIVATE' && outcome.alarms.length > 0) this.log.warn('alarm disarmed', { alarm, from: idToHex(memberId) });
    return { header: this.header(), alarms: outcome.alarms };
  }

  async moveLeader(targetId: bigint, _ctx: RequestContext): Promise<{ header: ResponseHeader }> {
    this.checkRunning();
    this.refuseOnLearner();
    const self = nodeIdFromBigInt(this.memberId);
    if (this.replicated.leaderId() !== self) throw Errors.notLeader();
    const m = this.applier.members.get(targetId);
    if (!m || m.isLearner) throw Errors.badLeaderTransferee();
    // Transferring to the current leader is a no-op that succeeds, as in etcd.
    if (targetId === this.memberId) return { header: this.header() };
    const target = nodeIdFromBigInt(targetId);
    this.log.info('leadership transfer starting', { 'local-member-id': idToHex(this.memberId), 'transferee': idToHex(targetId) });
    const deadline = Date.now() + this.requestTimeoutMs;
    let asked = 0;
    while (this.replicated.leaderId() !== target) {
      if (this.stopped) throw Errors.stopped();
      if (Date.now() > deadline) throw Errors.timeoutLeaderTransfer();
      // Ask again each election timeout: the core abandons a transfer that did not finish in one.
      if (this.replicated.isLeader() && Date.now() - asked >= this.cfg.electionTimeoutMs) {
        try {
          this.replicated.transferLeader(target);
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err;
        }
        asked = Date.now();
      }
      await new Promise((r) => setTimeout(r, this.cfg.heartbeatIntervalMs).unref());
    }
    this.log.info('leadership transfer finished', { 'local-member-id': idToHex(this.memberId), 'new-leader': idToHex(targetId) });
    return { header: this.header() };
  }

  // ---------------------------------------------------------------- auth

  async authStatus(_ctx: RequestContext): Promise<{ header: ResponseHeader; enabled: boolean; authRevision: number }> {
    this.checkRunning();
    this.refuseOnLearner();
    await this.linearizableBarrier();
    return { header: this.header(), enabled: this.applier.auth.enabled, authRevision: this.applier.auth.revision };
  }

  async authCall(method: string, req: Record<string, unknown>, _ctx: RequestContext): Promise<{ header: ResponseHeader } & Record<string, unknown>> {
    this.checkRunning();
    this.refuseOnLearner();
    const auth = this.applier.auth;
    const base: AuthOp = { method: 'authEnable', name: '', passwordHash: '', noPassword: false, role: '', permType: 'READ', key: Buffer.alloc(0), rangeEnd: Buffer.alloc(0) };
    const write = async (op: Partial<AuthOp> & Pick<AuthOp, 'method'>): Promise<{ header: ResponseHeader }> => {
      await this.propose({ op: 'auth', auth: { ...base, ...op } });
      return { header: this.header() };
    };
    switch (method) {
      case 'AuthEnable':
        return write({ method: 'authEnable' });
      case 'AuthDisable':
        return write({ method: 'authDisable' });
      case 'Authenticate': {
        await this.linearizableBarrier();
        if (!auth.enabled) throw Errors.authNotEnabled();
        const name = str(req, 'name');
        const user = auth.users.get(name);
        if (!user || user.noPassword || !verifyPassword(str(req, 'password'), user.passwordHash)) throw AuthErrors.authFailed();
        const token = `${randomBytes(8).toString('hex')}.${this.applier.appliedIndex}`;
        this.tokens.set(token, { user: name, expires: this.now() + 300_000 });
        return { header: this.header(), token };
      }
      case 'UserAdd': {
        const name = str(req, 'name');
        if (name === '') throw AuthErrors.userEmpty();
        const options = field(req, 'options') as { no_password?: boolean; noPassword?: boolean } | null | undefined;
        const noPassword = Boolean(options?.no_password ?? options?.noPassword);
        const given = str(req, 'hashedPassword');
        const passwordHash = noPassword ? '' : given !== '' ? given : hashPassword(str(req, 'password'));
        return write({ method: 'userAdd', name, passwordHash, noPassword });
      }
      case 'UserDelete':
        return write({ method: 'userDelete', name: str(req, 'name') });
      case 'UserChangePassword': {
        const given = str(req, 'hashedPassword');
        return write({ method: 'userChangePassword', name: str(req, 'name'), passwordHash: given !== '' ? given : hashPassword(str(req, 'password')) });
      }
      case 'UserGrantRole':
        return write({ method: 'userGrantRole', name: str(req, 'user'), role: str(req, 'role') });
      case 'UserRevokeRole':
        return write({ method: 'userRevokeRole', name: str(req, 'name'), role: str(req, 'role') });
      case 'RoleAdd':
        return write({ method: 'roleAdd', role: str(req, 'name') });
      case 'RoleDelete':
        return write({ method: 'roleDelete', role: str(req, 'role') });
      case 'RoleGrantPermission': {
        const perm = (field(req, 'perm') ?? {}) as Record<string, unknown>;
        return write({ method: 'roleGrantPermission', role: str(req, 'name'), permType: permTypeOf(perm.permType), key: buf(perm, 'key'), rangeEnd: buf(perm, 'range_end', 'rangeEnd') });
      }
      case 'RoleRevokePermission':
        return write({ method: 'roleRevokePermission', role: str(req, 'role'), key: buf(req, 'key'), rangeEnd: buf(req, 'range_end', 'rangeEnd') });
      case 'UserGet': {
        await this.linearizableBarrier();
        const u = auth.users.get(str(req, 'name'));
        if (!u) throw AuthErrors.userNotFound();
        return { header: this.header(), roles: [...u.roles] };
      }
      case 'UserList':
        await this.linearizableBarrier();
        return { header: this.header(), users: [...auth.users.keys()].sort() };
      case 'RoleGet': {
        await this.linearizableBarrier();
        const role = str(req, 'role');
        const r = auth.roles.get(role);
        if (!r) throw AuthErrors.roleNotFound();
        return { header: this.header(), perm: r.perms.map((p) => ({ permType: p.permType, key: p.key, range_end: p.rangeEnd })) };
      }
      case 'RoleList':
        await this.linearizableBarrier();
        return { header: this.header(), roles: [...auth.roles.keys()].sort() };
      default:
        throw new EtcdError(GrpcCode.UNIMPLEMENTED, `unknown auth method ${method}`);
    }
  }

  // ---------------------------------------------------------------- health and metrics

  async healthProblem(opts: { excludeAlarms: AlarmType[]; serializable: boolean }): Promise<string | undefined> {
    if (this.stopped) return 'RAFT NO LEADER';
    for (const a of this.applier.alarmList()) {
      if (opts.excludeAlarms.includes(a.alarm)) continue;
      return `ALARM ${a.alarm}`;
    }
    if (!opts.serializable && this.leaderId() === 0n) return 'RAFT NO LEADER';
    try {
      const key = Buffer.from('health');
      await this.rangeUnguarded(
        { key, rangeEnd: Buffer.alloc(0), limit: 1, revision: 0, sortOrder: 'NONE', sortTarget: 'KEY', serializable: opts.serializable, keysOnly: true, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 },
      );
    } catch (err) {
      return `RANGE ERROR:${err instanceof Error ? err.message : String(err)}`;
    }
    return undefined;
  }

  metricsText(): string {
    return this.metrics.render();
  }

  /** State for tests and the status line: applied index, revision, snapshot index. */
  debugState(): { appliedIndex: number; revision: number; snapshotIndex: number; walSegments: string[]; walSyncs: number; waiters: number; snapshotsInstalled: number } {
    return {
      snapshotsInstalled: this.snapshotsInstalled,
      walSyncs: this.wal.stats.syncs,
      appliedIndex: this.applier.appliedIndex,
      revision: this.applier.store.currentRevision,
      snapshotIndex: this.snapshotIndex,
      walSegments: this.wal.segmentFiles(),
      waiters: this.waiters.size,
    };
  }

  /** Resolves once every snapshot save started so far has finished. */
  async snapshotsSettled(): Promise<void> {
    while (this.snapshotInFlight) await this.snapshotInFlight;
  }

  /** Resolves once the store's slabs are tidied up after the compactions applied so far. */
  async slabsTidied(): Promise<void> {
    while (this.tidyInFlight) await this.tidyInFlight;
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Graceful stop: refuse new requests, let the batch in flight become
   * durable and applied, close watch streams, sync and close the WAL,
   * release the data-dir lock.
   */
  async close(): Promise<void> {
    if (this.stopped && this.fatalError === undefined && this.closedOnce) return;
    this.closedOnce = true;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.compactor?.stop();
    await this.replicated.close().catch(() => undefined);
    await this.transport.close().catch(() => undefined);
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(Errors.stopped());
      this.waiters.delete(id);
    }
    for (const w of this.appliedWaiters.splice(0)) w.reject(Errors.stopped());
    this.watch.stop();
    await this.snapshotsSettled().catch(() => undefined);
    try {
      await this.wal.close();
    } finally {
      await this.dataDir.release();
      this.log.info('stopped server', { 'local-member-id': idToHex(this.memberId) });
    }
  }

  private closedOnce = false;

  /**
   * Simulates a crash for tests: timers stop and the process "dies" with
   * whatever the WAL has already synced; anything buffered but not synced is
   * lost. The data-dir lock is released so the same process can reopen it.
   */
  async crash(): Promise<void> {
    this.closedOnce = true;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.compactor?.stop();
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(Errors.stopped());
      this.waiters.delete(id);
    }
    for (const w of this.appliedWaiters.splice(0)) w.reject(Errors.stopped());
    this.watch.stop();
    this.replicated.halt();
    await this.transport.close().catch(() => undefined);
    await this.dataDir.release();
  }
}

/** The members --initial-cluster describes, with the IDs etcd computes for them. */
export function initialMembers(cfg: Pick<EtcdConfig, 'initialCluster' | 'initialClusterToken'>): Member[] {
  return [...cfg.initialCluster].map(([name, urls]) => ({
    id: computeMemberId(urls, cfg.initialClusterToken),
    name,
    peerURLs: [...urls].sort(),
    clientURLs: [],
    isLearner: false,
  }));
}

/** The Raft configuration change a membership record makes (carrying the record as its context). */
function confChangeOf(request: InternalRequest, record: Uint8Array): ConfChange | undefined {
  switch (request.op) {
    case 'memberAdd':
      return { type: request.member.isLearner ? 'addLearner' : 'addNode', nodeId: nodeIdFromBigInt(request.member.id), context: record };
    case 'memberRemove':
      return { type: 'removeNode', nodeId: nodeIdFromBigInt(request.id), context: record };
    case 'memberPromote':
      return { type: 'promote', nodeId: nodeIdFromBigInt(request.id), context: record };
    default:
      return undefined;
  }
}

function isReadOnlyTxn(t: TxnRequest): boolean {
  const ro = (ops: TxnRequest['success']): boolean => ops.every((op) => op.type === 'range' || (op.type === 'txn' && isReadOnlyTxn(op.txn)));
  return ro(t.success) && ro(t.failure);
}

function allRangesSerializable(t: TxnRequest): boolean {
  const ok = (ops: TxnRequest['success']): boolean =>
    ops.every((op) => (op.type === 'range' ? op.range.serializable : op.type === 'txn' ? allRangesSerializable(op.txn) : true));
  return ok(t.success) && ok(t.failure);
}
