// A thin etcd v3 client over @grpc/grpc-js, bound to one member. Deliberately
// dumb: no retries of any kind (a retried non-idempotent write corrupts the
// history, etcd#18424), no endpoint switching, one deadline per call. Errors
// surface as grpc ServiceErrors for the caller to classify.
import * as grpc from '@grpc/grpc-js';
import { loadEtcdProtos } from '../../etcd/proto/load.js';

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

interface RawHeader {
  revision?: string;
  member_id?: string;
  raft_term?: string;
}
interface RawKv {
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

  async status(timeoutMs?: number): Promise<StatusResult> {
    const res = await this.call<{ header: RawHeader; leader: string; version: string; raftIndex: string }>(this.maintenance, 'Status', {}, timeoutMs);
    return { header: header(res.header), leader: hexId(res.leader), version: res.version, raftIndex: Number(res.raftIndex) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.maintenance.close();
    this.kv.close();
  }
}

/** "http://127.0.0.1:2379" → "127.0.0.1:2379" */
export function grpcTarget(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
}
