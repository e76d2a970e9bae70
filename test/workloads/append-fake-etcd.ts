// An in-memory stand-in for etcd's Txn, in proto field names, for the
// transactional workloads' unit tests: MOD compares, ranges that see the
// txn's own earlier puts, one revision per writing txn. Each call yields to
// the event loop first, so concurrent invocations interleave between their
// read and their guarded write, as against a real server.
import type { EtcdClient } from '../../harness/client/etcd-client.js';
import type { Op } from '../../harness/history.js';
import type { Workload } from '../../workloads/types.js';

interface Kv {
  value: Buffer;
  mod: number;
}

interface RawOp {
  request_range?: { key: Buffer };
  request_put?: { key: Buffer; value: Buffer };
}

export class FakeEtcd {
  readonly kvs = new Map<string, Kv>();
  revision = 1;
  /** Set to make the next calls throw this error (count = how many). */
  failNext: { error: Error; count: number } | undefined;

  client(): EtcdClient {
    return { txnRaw: (req: object) => this.txn(req as { compare: { key: Buffer; mod_revision: string }[]; success: RawOp[] }) } as unknown as EtcdClient;
  }

  private async txn(req: { compare: { key: Buffer; mod_revision: string }[]; success: RawOp[] }): Promise<unknown> {
    await new Promise((r) => setImmediate(r));
    if (this.failNext && this.failNext.count-- > 0) throw this.failNext.error;
    const ok = req.compare.every((c) => (this.kvs.get(c.key.toString())?.mod ?? 0) === Number(c.mod_revision));
    const header = () => ({ revision: String(this.revision), member_id: '10' });
    if (!ok) return { header: header(), succeeded: false, responses: [] };
    const writes = req.success.some((o) => o.request_put);
    const rev = writes ? this.revision + 1 : this.revision;
    const responses = req.success.map((o) => {
      if (o.request_put) {
        this.kvs.set(o.request_put.key.toString(), { value: o.request_put.value, mod: rev });
        return { response_put: {} };
      }
      const kv = this.kvs.get(o.request_range!.key.toString());
      return { response_range: { kvs: kv ? [{ key: o.request_range!.key, value: kv.value, mod_revision: String(kv.mod) }] : [] } };
    });
    this.revision = rev;
    return { header: header(), succeeded: true, responses };
  }
}

/** Runs `count` ops from `workers` concurrent workers against the fake and returns the history. */
export async function driveConcurrently<V>(w: Workload<V>, fake: FakeEtcd, workers: number, count: number): Promise<Op[]> {
  const history: Op[] = [];
  const record = (op: Omit<Op, 'index' | 'time'>) => history.push({ ...op, index: history.length, time: history.length });
  let left = count;
  await Promise.all(
    Array.from({ length: workers }, async (_, p) => {
      while (left-- > 0) {
        const op = w.next()!;
        record({ type: 'invoke', process: p, f: op.f, value: op.value });
        const c = await w.invoke(fake.client(), op);
        record({ type: c.type, process: p, f: op.f, value: c.value, ...(c.revision !== undefined ? { revision: c.revision } : {}) });
      }
    }),
  );
  return history;
}
