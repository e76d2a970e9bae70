// The benchmark's gRPC connections: each one its own channel with its own
// subchannel pool, so N connections really are N TCP connections (grpc-js
// otherwise shares one subchannel between channels to the same address).
// Requests go out raw, as proto objects, with no decoding beyond what the
// loader does: the client must cost as little as possible.
import * as grpc from '@grpc/grpc-js';
import { loadEtcdProtos } from '../../etcd/proto/grpc-object.js';
import { grpcTarget } from '../client/etcd-client.js';

type Callback = (err: grpc.ServiceError | null, res?: unknown) => void;
type UnaryFn = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => grpc.ClientUnaryCall;

const CONN_OPTIONS: grpc.ChannelOptions = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.enable_retries': 0,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.keepalive_time_ms': 30_000,
};

function service(name: string): grpc.ServiceClientConstructor {
  const pkg = loadEtcdProtos().etcdserverpb as grpc.GrpcObject;
  return pkg[name] as grpc.ServiceClientConstructor;
}

/** The message a watch stream receives (proto field names; only what the benchmark reads). */
export interface RawWatchResponse {
  created?: boolean;
  canceled?: boolean;
  cancel_reason?: string;
  events?: { type?: string; kv?: { key?: Buffer; value?: Buffer } }[];
}

export interface RawTxnResponse {
  header?: { revision?: string };
  succeeded?: boolean;
  responses?: { response_range?: { kvs?: { mod_revision?: string }[] } }[];
}

export class Conn {
  private readonly kv: grpc.Client;
  private readonly watchClient: grpc.Client;
  private readonly putFn: UnaryFn;
  private readonly rangeFn: UnaryFn;
  private readonly txnFn: UnaryFn;

  constructor(
    readonly endpoint: string,
    readonly index: number,
    private readonly timeoutMs: number,
  ) {
    const creds = grpc.credentials.createInsecure();
    this.kv = new (service('KV'))(grpcTarget(endpoint), creds, CONN_OPTIONS);
    this.watchClient = new (service('Watch'))(grpcTarget(endpoint), creds, { ...CONN_OPTIONS, channelOverride: this.kv.getChannel() });
    const methods = this.kv as unknown as Record<string, UnaryFn>;
    this.putFn = methods.Put!;
    this.rangeFn = methods.Range!;
    this.txnFn = methods.Txn!;
  }

  waitReady(deadlineMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.kv.waitForReady(Date.now() + deadlineMs, (err) => (err ? reject(new Error(`connection ${this.index} to ${this.endpoint}: ${err.message}`)) : resolve()));
    });
  }

  private unary<T>(fn: UnaryFn, req: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      fn.call(this.kv, req, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  put(key: Buffer, value: Buffer): Promise<unknown> {
    return this.unary(this.putFn, { key, value });
  }

  range(key: Buffer, serializable: boolean): Promise<unknown> {
    return this.unary(this.rangeFn, { key, serializable });
  }

  /** If the key's mod revision is still `modRevision`, put; otherwise read it (to learn the new one). */
  cas(key: Buffer, modRevision: string, value: Buffer): Promise<RawTxnResponse> {
    return this.unary<RawTxnResponse>(this.txnFn, {
      compare: [{ result: 'EQUAL', target: 'MOD', key, mod_revision: modRevision }],
      success: [{ request_put: { key, value } }],
      failure: [{ request_range: { key } }],
    });
  }

  /** A bidirectional Watch stream (one watch per stream in this benchmark). */
  watchStream(): grpc.ClientDuplexStream<object, RawWatchResponse> {
    const fn = (this.watchClient as unknown as Record<string, (meta?: grpc.Metadata) => grpc.ClientDuplexStream<object, RawWatchResponse>>).Watch!;
    return fn.call(this.watchClient);
  }

  close(): void {
    this.watchClient.close();
    this.kv.close();
  }
}

/** Opens `count` connections spread round-robin over the endpoints and waits until all are connected. */
export async function openConns(endpoints: readonly string[], count: number, timeoutMs: number, readyTimeoutMs = 10_000): Promise<Conn[]> {
  const conns = Array.from({ length: count }, (_, i) => new Conn(endpoints[i % endpoints.length]!, i, timeoutMs));
  try {
    await Promise.all(conns.map((c) => c.waitReady(readyTimeoutMs)));
  } catch (err) {
    for (const c of conns) c.close();
    throw err;
  }
  return conns;
}

/** gRPC status names for the error table (grpc.status maps both ways). */
export function grpcCodeName(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return (grpc.status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
  return 'CLIENT_ERROR';
}
