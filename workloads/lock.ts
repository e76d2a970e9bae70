// The lock workloads, after jepsen.etcd's lock-set and lock-etcd-set: each
// worker takes a lease-based lock with etcd's lock recipe, increments a
// counter inside the critical section, and releases.
//
// Recipe (as etcd's concurrency package): grant a lease and keep it alive;
// create /lock/<lease> under it with Txn(If CREATE(key) == 0 Then Put); the
// holder is the key with the lowest create revision under the prefix, so
// wait for the nearest older key to be deleted (watching it), re-check, and
// make sure our own key still exists. Its create revision is the fencing token.
//
// mode 'etcd': the counter lives in etcd and the write is fenced: one Txn
// that puts the new value only if our lock key still has our create revision.
// mode 'memory': the counter lives in this process and nothing fences the
// write; a holder whose lease expired (its member paused) cannot know it
// lost the lock before it writes.
import { classifyError, describeError } from '../harness/client/errors.js';
import type { EtcdClient } from '../harness/client/etcd-client.js';
import type { Rng } from '../harness/random.js';
import { decodeValue } from './register.js';
import type { Completion, Invocation, Workload } from './types.js';
import { prefixEnd } from './watch-session.js';
import type { LockIncr, LockRead, LockValue } from './lock-types.js';

export type LockMode = 'etcd' | 'memory';

export interface LockWorkloadOptions {
  rng: Rng;
  mode: LockMode;
  ttlS?: number;
  /** Time spent inside the critical section between read and write. */
  holdMs?: [number, number];
  /** Give up acquiring after this long. */
  acquireTimeoutMs?: number;
  prefix?: string;
  counterKey?: string;
}

const ORIGIN = process.hrtime.bigint();
export const monoNs = (): number => Number(process.hrtime.bigint() - ORIGIN);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class LostLock extends Error {}

export class LockWorkload implements Workload<LockValue> {
  readonly name: string;
  /** The in-memory counter of mode 'memory'. */
  private counter = 0;
  private readonly prefix: string;
  private readonly counterKey: string;
  private readonly ttlS: number;
  private readonly holdMs: [number, number];
  private readonly acquireTimeoutMs: number;

  constructor(private readonly opts: LockWorkloadOptions) {
    this.name = opts.mode === 'etcd' ? 'lock' : 'lock-memory';
    this.prefix = opts.prefix ?? '/lock/';
    this.counterKey = opts.counterKey ?? '/lock-counter';
    this.ttlS = opts.ttlS ?? 2;
    this.holdMs = opts.holdMs ?? (opts.mode === 'memory' ? [500, 4500] : [0, 300]);
    this.acquireTimeoutMs = opts.acquireTimeoutMs ?? 15_000;
  }

  next(): Invocation<LockValue> {
    return { f: 'incr', value: {} };
  }

  finalReads(): Invocation<LockValue>[] {
    return [{ f: 'read', value: {} }];
  }

  async invoke(client: EtcdClient, op: Invocation<LockValue>): Promise<Completion<LockValue>> {
    if (op.f === 'read') return this.read(client);
    if (op.f === 'incr') return this.incr(client);
    return { type: 'fail', value: op.value, error: `unknown lock op ${op.f}` };
  }

  private async read(client: EtcdClient): Promise<Completion<LockValue>> {
    if (this.opts.mode === 'memory') return { type: 'ok', value: { value: this.counter } satisfies LockRead };
    try {
      const res = await client.range(this.counterKey);
      const kv = res.kvs[0];
      return { type: 'ok', value: { value: kv ? decodeValue(kv.value) : 0 }, revision: res.header.revision };
    } catch (err) {
      return { type: 'fail', value: {}, error: describeError(err) };
    }
  }

  private async incr(client: EtcdClient): Promise<Completion<LockValue>> {
    const v: LockIncr = { stage: 'lease' };
    let lease: string;
    try {
      lease = (await client.leaseGrant(this.ttlS)).id;
    } catch (err) {
      return { type: 'fail', value: v, error: describeError(err) };
    }
    v.lease = lease;
    const keepAlive = this.keepAlive(client, lease, () => (v.leaseLost = true));
    try {
      v.stage = 'acquire';
      const key = `${this.prefix}${BigInt(lease).toString(16)}`;
      v.lockKey = key;
      const created = await client.txn(
        [{ result: 'EQUAL', target: 'CREATE', key: Buffer.from(key), create_revision: 0 }],
        [{ request_put: { key: Buffer.from(key), value: Buffer.alloc(0), lease } }],
        [{ request_range: { key: Buffer.from(key) } }],
      );
      const token = created.succeeded ? created.header.revision : (created.responses[0]?.kvs?.[0]?.createRevision ?? 0);
      if (!token) throw new LostLock('lock key vanished right after creation');
      v.token = token;
      v.stage = 'wait';
      await this.waitForTurn(client, key, token, Date.now() + this.acquireTimeoutMs);
      v.stage = 'critical';
      return this.opts.mode === 'memory' ? await this.criticalMemory(v) : await this.criticalEtcd(client, v, key, token);
    } catch (err) {
      // Nothing was written: the counter write is the only effect, and it was not reached.
      return { type: 'fail', value: v, error: err instanceof LostLock ? err.message : describeError(err) };
    } finally {
      keepAlive.stop();
      try {
        await client.leaseRevoke(lease);
      } catch (err) {
        v.releaseError = describeError(err);
      }
    }
  }

  /** Waits until no older lock key exists, then checks ours is still there (etcd#11456). */
  private async waitForTurn(client: EtcdClient, key: string, token: number, deadline: number): Promise<void> {
    const end = Buffer.from(prefixEnd(this.prefix), 'latin1');
    for (;;) {
      if (Date.now() > deadline) throw new LostLock('gave up waiting for the lock');
      const older = await client.rangeWith(this.prefix, { rangeEnd: end, maxCreateRevision: token - 1, sortOrder: 'DESCEND', sortTarget: 'CREATE', limit: 1 });
      const pred = older.kvs[0];
      if (!pred) break;
      await waitDeleted(client, pred.key, older.header.revision + 1, deadline - Date.now());
    }
    const mine = await client.range(key);
    if (mine.kvs[0]?.createRevision !== token) throw new LostLock('lock key gone (lease expired) while waiting');
  }

  private async criticalMemory(v: LockIncr): Promise<Completion<LockValue>> {
    v.enteredNs = monoNs();
    const read = this.counter;
    await sleep(this.opts.rng.between(this.holdMs[0], this.holdMs[1]));
    this.counter = read + 1;
    v.leftNs = monoNs();
    v.read = read;
    v.wrote = read + 1;
    return { type: 'ok', value: v };
  }

  private async criticalEtcd(client: EtcdClient, v: LockIncr, key: string, token: number): Promise<Completion<LockValue>> {
    v.enteredNs = monoNs();
    const res = await client.range(this.counterKey);
    const kv = res.kvs[0];
    const read = kv ? decodeValue(kv.value) : 0;
    v.read = read;
    v.wrote = read + 1;
    await sleep(this.opts.rng.between(this.holdMs[0], this.holdMs[1]));
    try {
      const w = await client.txn(
        [{ result: 'EQUAL', target: 'CREATE', key: Buffer.from(key), create_revision: token }],
        [{ request_put: { key: Buffer.from(this.counterKey), value: Buffer.from(String(read + 1)) } }],
      );
      v.leftNs = monoNs();
      if (!w.succeeded) return { type: 'fail', value: v, revision: w.header.revision, error: 'fenced: lock key gone, write refused' };
      v.counterRevision = w.header.revision;
      return { type: 'ok', value: v, revision: w.header.revision, memberId: w.header.memberId };
    } catch (err) {
      v.leftNs = monoNs();
      const outcome = classifyError(err, false);
      return { type: outcome.type, value: v, error: outcome.error };
    }
  }

  /** Keeps the lease alive every TTL/3 over one KeepAlive stream, as etcd's clients do. */
  private keepAlive(client: EtcdClient, lease: string, onLost: () => void): { stop(): void } {
    let stream: ReturnType<EtcdClient['leaseKeepAliveStream']> | undefined;
    try {
      stream = client.leaseKeepAliveStream();
    } catch {
      return { stop() {} };
    }
    const s = stream;
    s.on('data', (res: { TTL: string }) => {
      if (Number(res.TTL) <= 0) onLost();
    });
    s.on('error', () => {});
    const send = () => {
      try {
        s.write({ ID: lease });
      } catch {
        // stream closed
      }
    };
    send();
    const timer = setInterval(send, (this.ttlS * 1000) / 3);
    return {
      stop() {
        clearInterval(timer);
        s.cancel();
      },
    };
  }
}

/** Resolves once `key` is deleted (a DELETE event from `fromRev` on); rejects on timeout or stream error. */
function waitDeleted(client: EtcdClient, key: Buffer, fromRev: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = client.watchStream();
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.cancel();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new LostLock('gave up waiting for the lock')), Math.max(1, timeoutMs));
    stream.on('data', (res: { canceled: boolean; compact_revision: string; events: { type: string }[] }) => {
      // A compacted start means the key changed long ago: re-check from the top.
      if (res.canceled) return finish();
      if ((res.events ?? []).some((e) => e.type === 'DELETE')) finish();
    });
    stream.on('error', (err: unknown) => finish(new Error(describeError(err))));
    stream.on('end', () => finish(new Error('watch stream ended')));
    stream.write({ create_request: { key, start_revision: fromRev } });
  });
}
