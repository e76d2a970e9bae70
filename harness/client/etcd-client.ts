// A thin etcd v3 client over @grpc/grpc-js, bound to one member. Deliberately
// dumb: no retries of any kind (a retried non-idempotent write corrupts the
// history, etcd#18424), no endpoint switching, one deadline per call. Errors
// surface as grpc ServiceErrors for the caller to classify.
import * as grpc from '@grpc/grpc-js';
import { loadEtcdProtos } from '../../etcd/proto/grpc-object.js';

export interface ResponseHeader {
  revision: number;
  /** member_id in hex, as etcdctl prints it. */
  memberId: string;
  raftTerm: number;
}

export interface KvRecord {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
}

export interface RangeResult {
  header: ResponseHeader;
  kvs: KvRecord[];
}

export interface TxnResult {
  header: ResponseHeader;
  succeeded: boolean;
}

export interface StatusResult {
  header: ResponseHeader;
  /** Leader's member id in hex; "0" when the member knows no leader. */
  leader: string;
  version: string;
  raftIndex: number;
}

export interface RawHeader {
  revision?: string;
  member_id?: string;
  raft_term?: string;
}
export interface RawKv {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
}

type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;
type UnaryMethod = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<unknown>) => grpc.ClientUnaryCall;

/** Channel options that turn off every form of automatic retry and keep reconnects quick after a restart. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.enable_retries': 0,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
};

export function hexId(decimal: string | undefined): string {
  if (!decimal) return '0';
  try {
    return BigInt(decimal).toString(16);
  } catch {
    return decimal;
  }
}

function header(raw: RawHeader | undefined): ResponseHeader {
  return {
    revision: Number(raw?.revision ?? 0),
    memberId: hexId(raw?.member_id),
    raftTerm: Number(raw?.raft_term ?? 0),
  };
}

export function decodeKv(raw: RawKv): KvRecord {
  return kv(raw);
}

export function decodeHeader(raw: RawHeader | undefined): ResponseHeader {
  return header(raw);
}

function kv(raw: RawKv): KvRecord {
  return {
    key: raw.key,
    value: raw.value,
    createRevision: Number(raw.create_revision),
    modRevision: Number(raw.mod_revision),
    version: Number(raw.version),
  };
}

function serviceCtor(name: string): grpc.ServiceClientConstructor {
  const pkg = loadEtcdProtos().etcdserverpb as grpc.GrpcObject;
  return pkg[name] as grpc.ServiceClientConstructor;
}

/** A compare or request op in proto field names (keepCase), as etcd's Txn takes it. */
export type RawCompare = Record<string, unknown>;
export type RawRequestOp = Record<string, unknown>;

export interface RawResponseOp {
  response_range?: { header?: RawHeader; kvs?: RawKv[]; more?: boolean; count?: string };
  response_put?: { header?: RawHeader };
  response_delete_range?: { header?: RawHeader; deleted?: string };
  response?: string;
}

export interface TxnFullResult extends TxnResult {
  /** Each op's response; range responses carry their kvs decoded. */
  responses: { kvs?: KvRecord[]; deleted?: number }[];
}

export interface RangeOptions {
  rangeEnd?: Buffer;
  limit?: number;
  revision?: number;
  serializable?: boolean;
  /** Only keys whose create revision is at most this. */
  maxCreateRevision?: number;
  sortOrder?: 'NONE' | 'ASCEND' | 'DESCEND';
  sortTarget?: 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';
  timeoutMs?: number;
}

export interface RangeMoreResult extends RangeResult {
  more: boolean;
  count: number;
}

/** A WatchResponse as the loader decodes it (int64 as decimal strings, enums as names). */
export interface RawWatchEvent {
  type: 'PUT' | 'DELETE' | string;
  kv?: RawKv;
  prev_kv?: RawKv | null;
}
export interface RawWatchResponse {
  header?: RawHeader;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: RawWatchEvent[];
}

export interface HashKvResult {
  header: ResponseHeader;
  hash: number;
  compactRevision: number;
}

export interface EtcdClientOptions {
  /** Deadline per call. */
  timeoutMs: number;
}

export class EtcdClient {
  private readonly kv: grpc.Client;
  private readonly maintenance: grpc.Client;
  private closed = false;

  /** @param target host:port (no scheme) */
  constructor(
    readonly target: string,
    private readonly opts: EtcdClientOptions,
  ) {
    const creds = grpc.credentials.createInsecure();
    this.kv = new (serviceCtor('KV'))(target, creds, CHANNEL_OPTIONS);
    // Maintenance shares the KV client's channel so one connection serves both.
    this.maintenance = new (serviceCtor('Maintenance'))(target, creds, { ...CHANNEL_OPTIONS, channelOverride: this.kv.getChannel() });
  }

  private call<T>(client: grpc.Client, method: string, req: object, timeoutMs = this.opts.timeoutMs): Promise<T> {
    if (this.closed) return Promise.reject(new Error('client closed'));
    const fn = (client as unknown as Record<string, UnaryMethod>)[method];
    if (!fn) return Promise.reject(new Error(`no such method ${method}`));
    return new Promise<T>((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(err);
        else resolve(res as T);
      });
    });
  }

  async range(key: string, opts: { serializable?: boolean; timeoutMs?: number } = {}): Promise<RangeResult> {
    const res = await this.call<{ header: RawHeader; kvs: RawKv[] }>(
      this.kv,
      'Range',
      { key: Buffer.from(key), serializable: opts.serializable ?? false },
      opts.timeoutMs,
    );
    return { header: header(res.header), kvs: (res.kvs ?? []).map(kv) };
  }

  async put(key: string, value: string): Promise<{ header: ResponseHeader }> {
    const res = await this.call<{ header: RawHeader }>(this.kv, 'Put', { key: Buffer.from(key), value: Buffer.from(value) });
    return { header: header(res.header) };
  }

  /** Txn(If(VALUE(key) == expected) Then(Put(key, next))): a compare-and-set. */
  async compareAndSet(key: string, expected: string, next: string): Promise<TxnResult> {
    const res = await this.call<{ header: RawHeader; succeeded: boolean }>(this.kv, 'Txn', {
      compare: [{ result: 'EQUAL', target: 'VALUE', key: Buffer.from(key), value: Buffer.from(expected) }],
      success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(next) } }],
      failure: [],
    });
    return { header: header(res.header), succeeded: Boolean(res.succeeded) };
  }

  /**
   * A Txn given and answered in proto field names (int64 as decimal strings),
   * for workloads that build their own compares and ops.
   */
  txnRaw<T = unknown>(req: object): Promise<T> {
    return this.call<T>(this.kv, 'Txn', req);
  }

  async status(timeoutMs?: number): Promise<StatusResult> {
    const res = await this.call<{ header: RawHeader; leader: string; version: string; raftIndex: string }>(this.maintenance, 'Status', {}, timeoutMs);
    return { header: header(res.header), leader: hexId(res.leader), version: res.version, raftIndex: Number(res.raftIndex) };
  }

  private extraClients: { watch?: grpc.Client; lease?: grpc.Client } = {};

  /** Watch and Lease stubs share the KV client's channel, created on first use. */
  private service(name: 'Watch' | 'Lease'): grpc.Client {
    const key = name === 'Watch' ? 'watch' : 'lease';
    const existing = this.extraClients[key];
    if (existing) return existing;
    const c = new (serviceCtor(name))(this.target, grpc.credentials.createInsecure(), { ...CHANNEL_OPTIONS, channelOverride: this.kv.getChannel() });
    this.extraClients[key] = c;
    return c;
  }

  /** Range with the options kube-apiserver and the lock recipe use. */
  async rangeWith(key: Buffer | string, opts: RangeOptions = {}): Promise<RangeMoreResult> {
    const req: Record<string, unknown> = { key: Buffer.from(key) };
    if (opts.rangeEnd) req.range_end = opts.rangeEnd;
    if (opts.limit !== undefined) req.limit = opts.limit;
    if (opts.revision !== undefined) req.revision = opts.revision;
    if (opts.serializable) req.serializable = true;
    if (opts.maxCreateRevision !== undefined) req.max_create_revision = opts.maxCreateRevision;
    if (opts.sortOrder) req.sort_order = opts.sortOrder;
    if (opts.sortTarget) req.sort_target = opts.sortTarget;
    const res = await this.call<{ header: RawHeader; kvs: RawKv[]; more: boolean; count: string }>(this.kv, 'Range', req, opts.timeoutMs);
    return { header: header(res.header), kvs: (res.kvs ?? []).map(kv), more: Boolean(res.more), count: Number(res.count ?? 0) };
  }

  /** A general Txn; compares and ops are given in proto field names. */
  async txn(compare: RawCompare[], success: RawRequestOp[], failure: RawRequestOp[] = []): Promise<TxnFullResult> {
    const res = await this.call<{ header: RawHeader; succeeded: boolean; responses: RawResponseOp[] }>(this.kv, 'Txn', { compare, success, failure });
    return {
      header: header(res.header),
      succeeded: Boolean(res.succeeded),
      responses: (res.responses ?? []).map((r) => {
        if (r.response_range) return { kvs: (r.response_range.kvs ?? []).map(kv) };
        if (r.response_delete_range) return { deleted: Number(r.response_delete_range.deleted ?? 0) };
        return {};
      }),
    };
  }

  async deleteKey(key: string): Promise<{ header: ResponseHeader; deleted: number }> {
    const res = await this.call<{ header: RawHeader; deleted: string }>(this.kv, 'DeleteRange', { key: Buffer.from(key) });
    return { header: header(res.header), deleted: Number(res.deleted ?? 0) };
  }

  async compact(revision: number, physical = false): Promise<{ header: ResponseHeader }> {
    const res = await this.call<{ header: RawHeader }>(this.kv, 'Compact', { revision, physical });
    return { header: header(res.header) };
  }

  async hashKV(revision: number, timeoutMs?: number): Promise<HashKvResult> {
    const res = await this.call<{ header: RawHeader; hash: number; compact_revision: string }>(this.maintenance, 'HashKV', { revision }, timeoutMs);
    return { header: header(res.header), hash: Number(res.hash), compactRevision: Number(res.compact_revision ?? 0) };
  }

  /** Lease ids stay decimal strings: they are int64 and may exceed 2^53. */
  async leaseGrant(ttlS: number): Promise<{ header: ResponseHeader; id: string; ttl: number }> {
    const res = await this.call<{ header: RawHeader; ID: string; TTL: string; error: string }>(this.service('Lease'), 'LeaseGrant', { TTL: ttlS, ID: 0 });
    if (res.error) throw new Error(`lease grant: ${res.error}`);
    return { header: header(res.header), id: res.ID, ttl: Number(res.TTL) };
  }

  async leaseRevoke(id: string): Promise<{ header: ResponseHeader }> {
    const res = await this.call<{ header: RawHeader }>(this.service('Lease'), 'LeaseRevoke', { ID: id });
    return { header: header(res.header) };
  }

  /** The KeepAlive stream; the caller writes {ID} and reads {ID, TTL} (TTL 0: the lease is gone). */
  leaseKeepAliveStream(): grpc.ClientDuplexStream<{ ID: string }, { header?: RawHeader; ID: string; TTL: string }> {
    const c = this.service('Lease') as unknown as {
      LeaseKeepAlive(meta: grpc.Metadata): grpc.ClientDuplexStream<{ ID: string }, { header?: RawHeader; ID: string; TTL: string }>;
    };
    return c.LeaseKeepAlive(new grpc.Metadata());
  }

  /**
   * A raw Watch stream. `hasleader` makes a member without a leader cancel
   * the stream instead of leaving it silent, as etcdctl and kube do.
   */
  watchStream(): grpc.ClientDuplexStream<object, RawWatchResponse> {
    if (this.closed) throw new Error('client closed');
    const meta = new grpc.Metadata();
    meta.set('hasleader', 'true');
    const c = this.service('Watch') as unknown as { Watch(meta: grpc.Metadata): grpc.ClientDuplexStream<object, RawWatchResponse> };
    return c.Watch(meta);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.extraClients.watch?.close();
    this.extraClients.lease?.close();
    this.maintenance.close();
    this.kv.close();
  }
}

/** "http://127.0.0.1:2379" → "127.0.0.1:2379" */
export function grpcTarget(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
}
