// A deliberately naive executable spec of etcd's KV semantics, for model-based
// tests of MvccStore. It keeps every committed revision as a list of changes
// and recomputes the key space at any revision by replaying from the start.
// Keys and values are latin1 strings; nothing here is shared with the store.

import type {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  SortTarget,
  TxnRequest,
} from '../../../etcd/types.js';

export interface MKV {
  key: string;
  createRevision: number;
  modRevision: number;
  version: number;
  value: string;
  lease: bigint;
}

export interface MEvent {
  type: 'PUT' | 'DELETE';
  kv: MKV;
  prevKv?: MKV;
}

type Change = { key: string; put: true; value: string; lease: bigint } | { key: string; put: false };

export class ModelError extends Error {}

const MSG = {
  emptyKey: 'etcdserver: key is not provided',
  keyNotFound: 'etcdserver: key not found',
  valueProvided: 'etcdserver: value is provided',
  leaseProvided: 'etcdserver: lease is provided',
  tooManyOps: 'etcdserver: too many operations in txn request',
  duplicateKey: 'etcdserver: duplicate key given in txn request',
  compacted: 'etcdserver: mvcc: required revision has been compacted',
  futureRev: 'etcdserver: mvcc: required revision is a future revision',
  leaseNotFound: 'etcdserver: requested lease not found',
};
const fail = (m: keyof typeof MSG): never => {
  throw new ModelError(MSG[m]);
};

const s = (b: Buffer): string => b.toString('latin1');

export interface MRangeResp {
  revision: number;
  kvs: MKV[];
  more: boolean;
  count: number;
}
export type MResp =
  | { type: 'range'; range: MRangeResp }
  | { type: 'put'; put: { revision: number; prevKv?: MKV } }
  | { type: 'deleteRange'; deleteRange: { revision: number; deleted: number; prevKvs: MKV[] } }
  | { type: 'txn'; txn: MTxnResp };
export interface MTxnResp {
  revision: number;
  succeeded: boolean;
  responses: MResp[];
}

/** Is key in [begin, end) with etcd's end conventions ("" = just begin, "\0" = no upper bound)? */
function inRange(key: string, begin: string, end: string): boolean {
  if (end === '') return key === begin;
  if (end === '\0') return key >= begin;
  return key >= begin && key < end;
}

function applyChange(state: Map<string, MKV>, rev: number, c: Change): void {
  if (!c.put) {
    state.delete(c.key);
    return;
  }
  const old = state.get(c.key);
  state.set(c.key, {
    key: c.key,
    createRevision: old ? old.createRevision : rev,
    modRevision: rev,
    version: old ? old.version + 1 : 1,
    value: c.value,
    lease: c.lease,
  });
}

export class ReferenceModel {
  /** history[i] holds the changes committed at revision i + 2. */
  readonly history: Change[][] = [];
  compactRev = -1;
  readonly leases = new Set<bigint>();

  get currentRev(): number {
    return this.history.length + 1;
  }

  stateAt(rev: number): Map<string, MKV> {
    const state = new Map<string, MKV>();
    for (let r = 2; r <= rev; r++) for (const c of this.history[r - 2]!) applyChange(state, r, c);
    return state;
  }

  private sortedIn(state: Map<string, MKV>, begin: string, end: string): MKV[] {
    return [...state.values()].filter((kv) => inRange(kv.key, begin, end)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Range as etcd's apply layer defines it; `own` is a txn's working state for current-revision reads. */
  private rangeWith(r: RangeRequest, viewRev: number, own?: Map<string, MKV>): MRangeResp {
    if (r.revision > viewRev) fail('futureRev');
    const rev = r.revision <= 0 ? viewRev : r.revision;
    if (rev < this.compactRev) fail('compacted');
    const state = r.revision <= 0 && own ? own : this.stateAt(rev);
    const all = this.sortedIn(state, s(r.key), s(r.rangeEnd));
    const count = all.length;
    if (r.countOnly) return { revision: viewRev, kvs: [], more: false, count };
    const filtered = r.minModRevision !== 0 || r.maxModRevision !== 0 || r.minCreateRevision !== 0 || r.maxCreateRevision !== 0;
    let kvs = r.sortOrder === 'NONE' && !filtered && r.limit > 0 ? all.slice(0, r.limit + 1) : all;
    kvs = kvs.filter(
      (kv) =>
        (r.maxModRevision === 0 || kv.modRevision <= r.maxModRevision) &&
        (r.minModRevision === 0 || kv.modRevision >= r.minModRevision) &&
        (r.maxCreateRevision === 0 || kv.createRevision <= r.maxCreateRevision) &&
        (r.minCreateRevision === 0 || kv.createRevision >= r.minCreateRevision),
    );
    const order = r.sortOrder === 'NONE' && r.sortTarget !== 'KEY' ? 'ASCEND' : r.sortOrder;
    if (order !== 'NONE') {
      const field = (kv: MKV, t: SortTarget): string | number =>
        t === 'KEY' ? kv.key : t === 'VALUE' ? kv.value : t === 'VERSION' ? kv.version : t === 'CREATE' ? kv.createRevision : kv.modRevision;
      const dir = order === 'ASCEND' ? 1 : -1;
      // Stable: equal elements stay in key order.
      kvs = kvs
        .map((kv, i) => ({ kv, i }))
        .sort((a, b) => {
          const x = field(a.kv, r.sortTarget);
          const y = field(b.kv, r.sortTarget);
          return x < y ? -dir : x > y ? dir : a.i - b.i;
        })
        .map((e) => e.kv);
    }
    let more = false;
    if (r.limit > 0 && kvs.length > r.limit) {
      kvs = kvs.slice(0, r.limit);
      more = true;
    }
    if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: '' }));
    return { revision: viewRev, kvs, more, count };
  }

  range(r: RangeRequest): MRangeResp {
    if (r.key.length === 0) fail('emptyKey');
    return this.rangeWith(r, this.currentRev);
  }

  compact(rev: number): void {
    if (rev <= this.compactRev) fail('compacted');
    if (rev > this.currentRev) fail('futureRev');
    this.compactRev = rev;
  }

  private checkPut(p: PutRequest): void {
    if (p.key.length === 0) fail('emptyKey');
    if (p.ignoreValue && p.value.length > 0) fail('valueProvided');
    if (p.ignoreLease && p.lease !== 0n) fail('leaseProvided');
  }

  private commit(changes: Change[]): number {
    if (changes.length > 0) this.history.push(changes);
    return this.currentRev;
  }

  put(p: PutRequest): { revision: number; prevKv?: MKV } {
    this.checkPut(p);
    if (p.lease !== 0n && !this.leases.has(p.lease)) fail('leaseNotFound');
    const work = this.stateAt(this.currentRev);
    const changes: Change[] = [];
    const resp = this.putIn(work, changes, p);
    this.commit(changes);
    return resp;
  }

  deleteRange(d: DeleteRangeRequest): { revision: number; deleted: number; prevKvs: MKV[] } {
    if (d.key.length === 0) fail('emptyKey');
    const work = this.stateAt(this.currentRev);
    const changes: Change[] = [];
    const resp = this.deleteIn(work, changes, d);
    this.commit(changes);
    return resp;
  }

  private putIn(work: Map<string, MKV>, changes: Change[], p: PutRequest): { revision: number; prevKv?: MKV } {
    const key = s(p.key);
    const prev = work.get(key);
    if ((p.ignoreValue || p.ignoreLease) && !prev) fail('keyNotFound');
    const c: Change = { key, put: true, value: p.ignoreValue ? prev!.value : s(p.value), lease: p.ignoreLease ? prev!.lease : p.lease };
    const rev = this.currentRev + 1;
    changes.push(c);
    applyChange(work, rev, c);
    return p.prevKv && prev ? { revision: rev, prevKv: prev } : { revision: rev };
  }

  private deleteIn(work: Map<string, MKV>, changes: Change[], d: DeleteRangeRequest): { revision: number; deleted: number; prevKvs: MKV[] } {
    const victims = this.sortedIn(work, s(d.key), s(d.rangeEnd));
    for (const kv of victims) {
      const c: Change = { key: kv.key, put: false };
      changes.push(c);
      applyChange(work, 0, c);
    }
    const revision = changes.length > 0 ? this.currentRev + 1 : this.currentRev;
    return { revision, deleted: victims.length, prevKvs: d.prevKv ? victims : [] };
  }

  // ---- Txn ----

  private validateTxn(t: TxnRequest, budget: number): void {
    const opc = Math.max(t.compare.length, t.success.length, t.failure.length);
    if (opc > budget) fail('tooManyOps');
    for (const c of t.compare) if (c.key.length === 0) fail('emptyKey');
    for (const op of [...t.success, ...t.failure]) {
      if (op.type === 'put') this.checkPut(op.put);
      else if (op.type === 'txn') this.validateTxn(op.txn, budget - opc);
      else if ((op.type === 'range' ? op.range.key : op.deleteRange.key).length === 0) fail('emptyKey');
    }
  }

  /** etcd's overlap rule, spelled out: returns [puts, deletes as [begin, end) with '' = unbounded]. */
  private dupCheck(ops: RequestOp[]): [Set<string>, [string, string][]] {
    const dels: [string, string][] = [];
    for (const op of ops) {
      if (op.type !== 'deleteRange') continue;
      const k = s(op.deleteRange.key);
      const e = s(op.deleteRange.rangeEnd);
      dels.push(e === '' ? [k, k + '\0'] : [k, e]);
    }
    // "\0" as an end is taken literally by etcd's interval tree, so [k, "\0") covers nothing.
    const hits = (k: string): boolean => dels.some(([b, e]) => b <= k && (e === '' || k < e));
    const puts = new Set<string>();
    for (const op of ops) {
      if (op.type !== 'txn') continue;
      const [tp, td] = this.dupCheck(op.txn.success);
      const [fp, fd] = this.dupCheck(op.txn.failure);
      for (const k of tp) {
        if (puts.has(k) || hits(k)) fail('duplicateKey');
        puts.add(k);
      }
      for (const k of fp) {
        if ((puts.has(k) && !tp.has(k)) || hits(k)) fail('duplicateKey');
        puts.add(k);
      }
      dels.push(...td, ...fd);
    }
    for (const op of ops) {
      if (op.type !== 'put') continue;
      const k = s(op.put.key);
      if (puts.has(k) || hits(k)) fail('duplicateKey');
      puts.add(k);
    }
    return [puts, dels];
  }

  private cmpOk(c: Compare, state: Map<string, MKV>): boolean {
    const kvs = this.sortedIn(state, s(c.key), s(c.rangeEnd));
    const one = (kv: MKV | undefined): boolean => {
      let d: number;
      if (c.target === 'VALUE') {
        const a = kv!.value;
        const b = s(c.value);
        d = a < b ? -1 : a > b ? 1 : 0;
      } else if (c.target === 'LEASE') {
        const a = kv ? kv.lease : 0n;
        d = a < c.lease ? -1 : a > c.lease ? 1 : 0;
      } else {
        const a = kv ? (c.target === 'VERSION' ? kv.version : c.target === 'CREATE' ? kv.createRevision : kv.modRevision) : 0;
        const b = c.target === 'VERSION' ? c.version : c.target === 'CREATE' ? c.createRevision : c.modRevision;
        d = Math.sign(a - b);
      }
      return c.result === 'EQUAL' ? d === 0 : c.result === 'NOT_EQUAL' ? d !== 0 : c.result === 'GREATER' ? d > 0 : d < 0;
    };
    if (kvs.length === 0) return c.target !== 'VALUE' && one(undefined);
    return kvs.every(one);
  }

  txn(t: TxnRequest, maxTxnOps: number): MTxnResp {
    this.validateTxn(t, maxTxnOps);
    this.dupCheck(t.success);
    this.dupCheck(t.failure);
    const before = this.stateAt(this.currentRev);
    const isWrite = [...t.success, ...t.failure].some((op) => op.type !== 'range');
    // Decide every branch up front against the pre-txn state, as etcd does.
    const branch = new Map<TxnRequest, RequestOp[]>();
    const decide = (x: TxnRequest): void => {
      const ops = x.compare.every((c) => this.cmpOk(c, before)) ? x.success : x.failure;
      branch.set(x, ops);
      for (const op of ops) if (op.type === 'txn') decide(op.txn);
    };
    decide(t);
    const chosen = (x: TxnRequest, visit: (op: RequestOp) => void): void => {
      for (const op of branch.get(x)!) {
        if (op.type === 'txn') chosen(op.txn, visit);
        else visit(op);
      }
    };
    if (isWrite) {
      chosen(t, (op) => {
        if (op.type !== 'put') return;
        if ((op.put.ignoreValue || op.put.ignoreLease) && !before.has(s(op.put.key))) fail('keyNotFound');
        if (op.put.lease !== 0n && !this.leases.has(op.put.lease)) fail('leaseNotFound');
      });
    }
    chosen(t, (op) => {
      if (op.type !== 'range' || op.range.revision === 0) return;
      if (op.range.revision > this.currentRev) fail('futureRev');
      if (op.range.revision < this.compactRev) fail('compacted');
    });

    const changes: Change[] = [];
    const work = new Map(before);
    const run = (x: TxnRequest, nested: boolean): MTxnResp => {
      const responses: MResp[] = [];
      for (const op of branch.get(x)!) {
        if (op.type === 'range') {
          const viewRev = changes.length > 0 ? this.currentRev + 1 : this.currentRev;
          responses.push({ type: 'range', range: this.rangeWith(op.range, viewRev, work) });
        } else if (op.type === 'put') responses.push({ type: 'put', put: this.putIn(work, changes, op.put) });
        else if (op.type === 'deleteRange') responses.push({ type: 'deleteRange', deleteRange: this.deleteIn(work, changes, op.deleteRange) });
        else responses.push({ type: 'txn', txn: run(op.txn, true) });
      }
      return { revision: nested ? 0 : -1, succeeded: branch.get(x) === x.success, responses };
    };
    const resp = run(t, false);
    resp.revision = this.commit(changes);
    return resp;
  }

  // ---- events ----

  /** Every event ever, oldest first, with the previous value when the key had one. */
  allEvents(): MEvent[] {
    const out: MEvent[] = [];
    const state = new Map<string, MKV>();
    this.history.forEach((changes, i) => {
      const rev = i + 2;
      for (const c of changes) {
        const prev = state.get(c.key);
        applyChange(state, rev, c);
        const ev: MEvent = c.put
          ? { type: 'PUT', kv: state.get(c.key)! }
          : { type: 'DELETE', kv: { key: c.key, createRevision: 0, modRevision: rev, version: 0, value: '', lease: 0n } };
        if (prev) ev.prevKv = prev;
        out.push(ev);
      }
    });
    return out;
  }

  /**
   * What replay from `start` yields: all events at revisions > compactRev, and
   * at exactly compactRev only the puts compaction kept (the key's newest
   * value at that revision), without prevKv.
   */
  eventsFrom(start: number): MEvent[] {
    if (start < this.compactRev) fail('compacted');
    const all = this.allEvents();
    return all.flatMap((ev, i) => {
      const rev = ev.kv.modRevision;
      if (rev < start) return [];
      if (rev > this.compactRev) return [ev];
      if (rev < this.compactRev || ev.type === 'DELETE') return [];
      const laterSameRev = all.slice(i + 1).some((o) => o.kv.modRevision === rev && o.kv.key === ev.kv.key);
      return laterSameRev ? [] : [{ type: ev.type, kv: ev.kv }];
    });
  }
}
