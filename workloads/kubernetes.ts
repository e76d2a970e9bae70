// The kubernetes workload: kube-apiserver's storage patterns against a few
// pods under /registry/pods/default/.
//   Create:            Txn(If MOD(key) == 0, Then Put)
//   GuaranteedUpdate:  read (or trust a cached copy), then
//                      Txn(If MOD(key) == rv, Then Put, Else Get), retrying on the Else
//   Delete:            the same loop with Then Delete
//   List:              pages of `limit` from the first page's revision,
//                      continuing at lastKey + "\0" with revision fixed
//   List + Watch:      watch from the list's revision + 1, then a list at
//                      the revision the watch reached, to compare
import { classifyError, describeError } from '../harness/client/errors.js';
import type { EtcdClient, KvRecord } from '../harness/client/etcd-client.js';
import type { Rng } from '../harness/random.js';
import type { Completion, Invocation, Workload } from './types.js';
import { prefixEnd, runWatchSession } from './watch-session.js';
import type { KubeGet, KubeItem, KubeList, KubeListWatch, KubeValue, KubeWatchEvent, KubeWrite } from './kubernetes-types.js';

export interface KubeWorkloadOptions {
  rng: Rng;
  prefix?: string;
  objects?: number;
  pageLimit?: number;
  maxRetries?: number;
  maxWatchMs?: number;
}

export function encodeObject(uid: number, basedOn: number): string {
  return JSON.stringify({ uid, basedOn });
}

/** -1 fields for bytes that are not one of ours, so checkers flag them. */
export function decodeObject(value: Buffer): { uid: number; basedOn: number } {
  try {
    const o = JSON.parse(value.toString('utf8')) as { uid?: unknown; basedOn?: unknown };
    return { uid: typeof o.uid === 'number' ? o.uid : -1, basedOn: typeof o.basedOn === 'number' ? o.basedOn : -1 };
  } catch {
    return { uid: -1, basedOn: -1 };
  }
}

export function toItem(kv: KvRecord): KubeItem {
  return { key: kv.key.toString('utf8'), modRevision: kv.modRevision, ...decodeObject(kv.value) };
}

class NotFound extends Error {}

export class KubernetesWorkload implements Workload<KubeValue> {
  readonly name = 'kubernetes';
  readonly prefix: string;
  private readonly keys: string[];
  private nextUid = 1;
  /** The last version this process saw per key: kube's watch cache, possibly stale. */
  private readonly cache = new Map<string, { modRevision: number }>();
  private readonly pageLimit: number;
  private readonly maxRetries: number;
  private readonly maxWatchMs: number;

  constructor(private readonly opts: KubeWorkloadOptions) {
    this.prefix = opts.prefix ?? '/registry/pods/default/';
    this.keys = Array.from({ length: opts.objects ?? 8 }, (_, i) => `${this.prefix}pod-${i}`);
    this.pageLimit = opts.pageLimit ?? 3;
    this.maxRetries = opts.maxRetries ?? 5;
    this.maxWatchMs = opts.maxWatchMs ?? 2000;
  }

  next(): Invocation<KubeValue> {
    const rng = this.opts.rng;
    const key = rng.pick(this.keys);
    const roll = rng.next();
    if (roll < 0.1) return { f: 'get', value: { key } satisfies KubeGet };
    if (roll < 0.18) return { f: 'list', value: {} satisfies KubeList };
    if (roll < 0.23) return { f: 'list-watch', value: { durationMs: Math.round(rng.between(100, this.maxWatchMs)) } satisfies KubeListWatch };
    if (roll < 0.35) return { f: 'create', value: { key, uid: this.nextUid++ } satisfies KubeWrite };
    if (roll < 0.43) return { f: 'delete', value: { key } satisfies KubeWrite };
    return { f: 'update', value: { key, uid: this.nextUid++ } satisfies KubeWrite };
  }

  finalReads(): Invocation<KubeValue>[] {
    return [{ f: 'list-watch', value: { durationMs: 1000, final: true } satisfies KubeListWatch }];
  }

  async invoke(client: EtcdClient, op: Invocation<KubeValue>): Promise<Completion<KubeValue>> {
    switch (op.f) {
      case 'get':
        return this.get(client, op.value as KubeGet);
      case 'list':
        return this.listOp(client);
      case 'list-watch':
        return this.listWatch(client, op.value as KubeListWatch);
      case 'create':
        return this.create(client, op.value as KubeWrite);
      case 'update':
      case 'delete':
        return this.guaranteed(client, op.f, op.value as KubeWrite);
      default:
        return { type: 'fail', value: op.value, error: `unknown kubernetes op ${op.f}` };
    }
  }

  private remember(item: KubeItem): void {
    const c = this.cache.get(item.key);
    if (!c || c.modRevision < item.modRevision) this.cache.set(item.key, { modRevision: item.modRevision });
  }

  private async get(client: EtcdClient, v: KubeGet): Promise<Completion<KubeValue>> {
    try {
      const res = await client.range(v.key);
      const kv = res.kvs[0];
      const item = kv ? toItem(kv) : null;
      if (item) this.remember(item);
      return { type: 'ok', value: { key: v.key, item }, revision: res.header.revision, memberId: res.header.memberId };
    } catch (err) {
      return { type: 'fail', value: v, error: describeError(err) };
    }
  }

  /** A paginated list at one revision: the first page fixes it. */
  async list(client: EtcdClient, revision?: number): Promise<{ revision: number; items: KubeItem[]; pages: number }> {
    const end = Buffer.from(prefixEnd(this.prefix), 'latin1');
    const first = await client.rangeWith(this.prefix, { rangeEnd: end, limit: this.pageLimit, ...(revision !== undefined ? { revision } : {}) });
    const rev = revision ?? first.header.revision;
    const items = first.kvs.map(toItem);
    let more = first.more;
    let pages = 1;
    while (more && items.length > 0) {
      const from = Buffer.concat([Buffer.from(items[items.length - 1]!.key), Buffer.from([0])]);
      const page = await client.rangeWith(from, { rangeEnd: end, limit: this.pageLimit, revision: rev });
      items.push(...page.kvs.map(toItem));
      more = page.more;
      pages++;
    }
    for (const i of items) this.remember(i);
    return { revision: rev, items, pages };
  }

  private async listOp(client: EtcdClient): Promise<Completion<KubeValue>> {
    try {
      const l = await this.list(client);
      return { type: 'ok', value: l satisfies KubeList, revision: l.revision };
    } catch (err) {
      return { type: 'fail', value: {}, error: describeError(err) };
    }
  }

  private async listWatch(client: EtcdClient, v: KubeListWatch): Promise<Completion<KubeValue>> {
    let out: KubeListWatch = { ...v };
    try {
      const l = await this.list(client);
      out = { ...out, revision: l.revision, items: l.items };
      const session = await runWatchSession(client, {
        key: this.prefix,
        rangeEnd: prefixEnd(this.prefix),
        start: l.revision + 1,
        durationMs: v.durationMs,
        prevKv: false,
        progressEveryMs: Math.min(300, Math.max(50, Math.floor(v.durationMs / 2))),
        // A final list-watch ends as soon as the watch confirms it is at the list's revision.
        ...(v.final ? { until: l.revision } : {}),
        decode: (b) => decodeObject(b).uid,
      });
      const events: KubeWatchEvent[] = [];
      let watchedTo = l.revision;
      for (const r of session.responses) {
        if (r.progress) watchedTo = Math.max(watchedTo, r.rev);
        for (const e of r.events ?? []) {
          events.push(e.type === 'put' ? { type: 'put', key: e.key, rev: e.rev, uid: e.value ?? -1 } : { type: 'delete', key: e.key, rev: e.rev });
          watchedTo = Math.max(watchedTo, e.rev);
        }
      }
      out = { ...out, events, watchedTo };
      if (session.error || session.canceled) out.watchError = session.error ?? session.cancelReason ?? 'canceled';
      const check = await this.list(client, watchedTo);
      out.checkItems = check.items;
      return { type: 'ok', value: out, revision: l.revision };
    } catch (err) {
      // A list that completed is still a fact worth keeping; without it the op failed.
      if (out.items) return { type: 'ok', value: out, revision: out.revision, error: describeError(err) };
      return { type: 'fail', value: out, error: describeError(err) };
    }
  }

  private async create(client: EtcdClient, v: KubeWrite): Promise<Completion<KubeValue>> {
    try {
      const res = await client.txn(
        [{ result: 'EQUAL', target: 'MOD', key: Buffer.from(v.key), mod_revision: 0 }],
        [{ request_put: { key: Buffer.from(v.key), value: Buffer.from(encodeObject(v.uid!, 0)) } }],
      );
      if (!res.succeeded) return { type: 'fail', value: v, revision: res.header.revision, error: 'already exists' };
      this.remember({ key: v.key, modRevision: res.header.revision, uid: v.uid!, basedOn: 0 });
      return { type: 'ok', value: { ...v, basedOn: 0, modRevision: res.header.revision }, revision: res.header.revision, memberId: res.header.memberId };
    } catch (err) {
      const o = classifyError(err, false);
      return { type: o.type, value: v, error: o.error };
    }
  }

  /** GuaranteedUpdate / conditional delete: compare on the mod revision read, retry with what the Else branch returns. */
  private async guaranteed(client: EtcdClient, f: 'update' | 'delete', v: KubeWrite): Promise<Completion<KubeValue>> {
    let attempts = 0;
    let writing = false;
    try {
      let rv: number;
      const cached = this.cache.get(v.key);
      if (cached && this.opts.rng.next() < 0.3) rv = cached.modRevision;
      else {
        const kv = (await client.range(v.key)).kvs[0];
        if (!kv) throw new NotFound('not found');
        rv = kv.modRevision;
      }
      const key = Buffer.from(v.key);
      for (;;) {
        attempts++;
        const then =
          f === 'update' ? [{ request_put: { key, value: Buffer.from(encodeObject(v.uid!, rv)) } }] : [{ request_delete_range: { key } }];
        writing = true;
        const res = await client.txn([{ result: 'EQUAL', target: 'MOD', key, mod_revision: rv }], then, [{ request_range: { key } }]);
        writing = false;
        if (res.succeeded) {
          if (f === 'update') this.remember({ key: v.key, modRevision: res.header.revision, uid: v.uid!, basedOn: rv });
          else this.cache.delete(v.key);
          return { type: 'ok', value: { ...v, basedOn: rv, modRevision: res.header.revision, attempts }, revision: res.header.revision, memberId: res.header.memberId };
        }
        const current = res.responses[0]?.kvs?.[0];
        if (!current) throw new NotFound('not found');
        this.remember(toItem(current));
        rv = current.modRevision;
        if (attempts >= this.maxRetries) return { type: 'fail', value: { ...v, attempts }, error: 'conflict: too many retries' };
      }
    } catch (err) {
      if (err instanceof NotFound) return { type: 'fail', value: { ...v, attempts }, error: err.message };
      // Only a Txn in flight can have taken effect; a failed read means nothing was written.
      const o = classifyError(err, !writing);
      return { type: o.type, value: { ...v, attempts }, error: o.error };
    }
  }
}
