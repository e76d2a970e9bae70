// Histories for the Elle-style checkers, for their tests and for
// `faultline bench-checkers`. A serial model: transactions run one at a time,
// each at a linearization point chosen inside its real-time interval, so the
// result is strict serializable by construction; some transactions fail
// (never applied) or end indeterminate (applied later or never). The same
// seed gives the same history.

import type { AppendMop, WrMop } from '../elle/txn.js';
import type { Op, ProcessId } from '../../harness/history.js';
import { createRng } from '../../harness/random.js';

export type Flavor = 'append' | 'wr';

export interface SimOptions {
  seed: number;
  txns: number;
  processes: number;
  keys: number;
  maxMops?: number;
  /** Chance a txn ends fail (not applied) or info (maybe applied). */
  failRate?: number;
  infoRate?: number;
  /** Retire a key for a fresh one after this many writes to it (default 200), as Elle's generators do. */
  maxWritesPerKey?: number;
  /** wr only: record header and mod revisions, as the etcd workload does. */
  revisions?: boolean;
}

interface Running {
  process: ProcessId;
  mops: (AppendMop | WrMop)[];
  applied: boolean;
  result?: (AppendMop | WrMop)[];
  revision?: number;
}

/** A strict-serializable history of list-append or rw-register txns. */
export function simulate(flavor: Flavor, o: SimOptions): Op[] {
  const rng = createRng(o.seed);
  const maxMops = o.maxMops ?? 4;
  const lists = new Map<string, number[]>();
  const regs = new Map<string, { value: number; mod: number }>();
  let revision = 1;
  const counter = new Map<string, number>();
  const fresh = (k: string): number => {
    const n = (counter.get(k) ?? 0) + 1;
    counter.set(k, n);
    return n;
  };
  const ops: Op[] = [];
  const emit = (op: Omit<Op, 'index' | 'time'>): void => {
    ops.push({ ...op, index: ops.length, time: ops.length * 1000 });
  };
  const running = new Map<number, Running>();
  const pending: Running[] = [];
  const procOf = Array.from({ length: o.processes }, (_, i) => i);
  let started = 0;

  const slots = Array.from({ length: o.keys }, (_, i) => `k${i}`);
  let nextKey = o.keys;
  const pickKey = (): string => {
    const i = rng.int(o.keys);
    if ((counter.get(slots[i]!) ?? 0) >= (o.maxWritesPerKey ?? 200)) slots[i] = `k${nextKey++}`;
    return slots[i]!;
  };
  const makeTxn = (): (AppendMop | WrMop)[] => {
    const n = 1 + rng.int(maxMops);
    const out: (AppendMop | WrMop)[] = [];
    const written = new Set<string>();
    for (let i = 0; i < n; i++) {
      const k = pickKey();
      if (rng.next() < 0.5) out.push(['r', k, null]);
      else if (flavor === 'append') out.push(['append', k, fresh(k)]);
      else if (!written.has(k)) {
        written.add(k);
        out.push(['w', k, fresh(k)]);
      } else out.push(['r', k, null]);
    }
    return out;
  };
  const apply = (r: Running): void => {
    r.applied = true;
    let wrote = false;
    const results = r.mops.map((m): AppendMop | WrMop => {
      if (m[0] === 'append') {
        const l = lists.get(m[1]);
        if (l) l.push(m[2]);
        else lists.set(m[1], [m[2]]);
        return m;
      }
      if (m[0] === 'w') {
        if (!wrote) revision++;
        wrote = true;
        regs.set(m[1], { value: m[2], mod: revision });
        return m;
      }
      if (flavor === 'append') return ['r', m[1], [...(lists.get(m[1]) ?? [])]];
      const cur = regs.get(m[1]);
      if (cur === undefined) return ['r', m[1], null];
      return o.revisions ? ['r', m[1], cur.value, cur.mod] : ['r', m[1], cur.value];
    });
    r.result = results;
    r.revision = revision;
  };

  let steps = 0;
  while ((started < o.txns || running.size > 0) && steps < o.txns * 50) {
    steps++;
    if (pending.length > 0 && rng.next() < 0.1) apply(pending.splice(rng.int(pending.length), 1)[0]!);
    const w = rng.int(o.processes);
    const r = running.get(w);
    if (r === undefined) {
      if (started >= o.txns) continue;
      started++;
      const mops = makeTxn();
      running.set(w, { process: procOf[w]!, mops, applied: false });
      emit({ type: 'invoke', process: procOf[w]!, f: 'txn', value: mops.map((m) => [...m]) });
      continue;
    }
    if (!r.applied && rng.next() < 0.5) {
      const roll = rng.next();
      if (roll < (o.failRate ?? 0.05)) {
        running.delete(w);
        emit({ type: 'fail', process: r.process, f: 'txn', value: r.mops.map((m) => [...m]), error: 'compare failed' });
        continue;
      }
      if (roll < (o.failRate ?? 0.05) + (o.infoRate ?? 0.03)) {
        running.delete(w);
        if (rng.next() < 0.5) pending.push(r);
        emit({ type: 'info', process: r.process, f: 'txn', value: r.mops.map((m) => [...m]), error: 'timeout' });
        procOf[w] = procOf[w]! + o.processes;
        continue;
      }
      apply(r);
      continue;
    }
    if (r.applied) {
      running.delete(w);
      const done: Omit<Op, 'index' | 'time'> = { type: 'ok', process: r.process, f: 'txn', value: r.result };
      if (flavor === 'wr' && o.revisions) done.revision = r.revision!;
      emit(done);
    }
  }
  return ops;
}
