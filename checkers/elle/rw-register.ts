// Elle's read/write-register inference. Written values are unique per key, so
// a read names the write it observed. The version order of each key comes
// from etcd when the history has it: a txn's header revision is the
// mod_revision of everything it wrote, and a read records the mod_revision of
// the version it saw, which also places writes whose txn never answered.
// Without revisions (histories from elsewhere) the order is what Elle infers
// with no extra assumptions: the initial nil precedes every write, and a txn
// that read v and then wrote v' puts v before v'.
//   ww  T wrote v, T' wrote the next version
//   wr  T wrote v, T' read v
//   rw  T read v, T' wrote the next version
// Non-cycle anomalies: internal, G1a (read of a failed txn's write), G1b
// (read of a value its txn overwrote before committing), garbage reads and
// lost updates.

import type { Op } from '../../harness/history.js';
import { AnomalyLog } from '../result.js';
import { finishElle, type ElleOptions, type ElleResult } from './analysis.js';
import { EdgeList, RW, WR, WW } from './graph.js';
import { citeOp, collectTxns, isWrMop, showValue, type Txn, type WrMop } from './txn.js';

interface KeyData {
  name: string;
  /** value → seq of the txn that wrote it. */
  writer: Map<number, number>;
  /** Values overwritten by their own txn before it committed. */
  intermediate: Set<number>;
  /** seq → the revision of its write, as learned from its completion or from reads. */
  revisionOf: Map<number, number>;
  /** External reads of committed txns. */
  readers: number[];
  values: (number | null)[];
  /** Txns that read the key and then wrote it. */
  rmwSeq: number[];
  rmwRead: (number | null)[];
  /** The last value each txn wrote, seq → value. */
  finalWrite: Map<number, number>;
}

export function checkRwRegister(history: readonly Op[], opts: ElleOptions): ElleResult {
  const started = Date.now();
  const txns = collectTxns<WrMop>(history, isWrMop);
  const log = new AnomalyLog(opts.maxPerType ?? 20);
  const keys: KeyData[] = [];
  const keyIds = new Map<string, number>();
  const keyOf = (name: string): KeyData => {
    let id = keyIds.get(name);
    if (id === undefined) {
      id = keys.length;
      keyIds.set(name, id);
      keys.push({ name, writer: new Map(), intermediate: new Set(), revisionOf: new Map(), readers: [], values: [], rmwSeq: [], rmwRead: [], finalWrite: new Map() });
    }
    return keys[id]!;
  };
  const all = txns.all;
  for (const op of txns.malformed) log.add({ type: 'malformed', ops: [op], explanation: `op ${op.index} is a txn whose value is not a list of [w k v] / [r k v] micro-ops` });

  for (const t of all) {
    for (const m of t.mops) {
      if (m[0] !== 'w') continue;
      const k = keyOf(m[1]);
      const prior = k.writer.get(m[2]);
      if (prior !== undefined && prior !== t.seq) {
        const other = all[prior]!;
        log.add({ type: 'duplicate-writes', key: k.name, ops: [citeOp(other), citeOp(t)], explanation: `${k.name}: value ${m[2]} written by two txns (ops ${citeOp(other).index} and ${citeOp(t).index}); values must be unique, so the later one is ignored` });
        continue;
      }
      k.writer.set(m[2], t.seq);
      const prev = k.finalWrite.get(t.seq);
      if (prev !== undefined) k.intermediate.add(prev);
      k.finalWrite.set(t.seq, m[2]);
      if (t.outcome === 'ok' && t.revision !== undefined) k.revisionOf.set(t.seq, t.revision);
    }
  }
  let withRevisions = false;
  // Per txn: each key's value as its own micro-ops so far imply. One map,
  // cleared per txn: allocating one per txn showed up as GC time.
  const known = new Map<string, number | null>();
  for (const t of all) {
    if (t.outcome !== 'ok') continue;
    known.clear();
    const mops = t.mops;
    for (let i = 0; i < mops.length; i++) {
      const m = mops[i]!;
      if (m[0] === 'w') {
        known.set(m[1], m[2]);
        continue;
      }
      const value = m[2];
      if (known.has(m[1])) {
        if (known.get(m[1]) !== value) {
          log.add({ type: 'internal', key: m[1], ops: [citeOp(t)], explanation: `op ${citeOp(t).index} read ${m[1]} = ${showValue(value)} at micro-op ${i + 1}, but its own earlier micro-ops imply ${showValue(known.get(m[1]))}` });
        }
        continue;
      }
      known.set(m[1], value);
      const k = keyOf(m[1]);
      k.readers.push(t.seq);
      k.values.push(value);
      if (m.length === 4 && value !== null) {
        withRevisions = true;
        const w = k.writer.get(value);
        if (w !== undefined && !k.revisionOf.has(w)) k.revisionOf.set(w, m[3]);
      }
      for (let j = i + 1; j < mops.length; j++) {
        const later = mops[j]!;
        if (later[0] === 'w' && later[1] === m[1]) {
          k.rmwSeq.push(t.seq);
          k.rmwRead.push(value);
          break;
        }
      }
    }
  }
  if (!withRevisions) withRevisions = all.some((t) => t.outcome === 'ok' && t.revision !== undefined && t.mops.some((m) => m[0] === 'w'));

  const edges = new EdgeList(Math.max(1024, all.length * 8));
  keys.forEach((k, keyId) => inferKey(keyId, k, all, edges, log, withRevisions));
  return finishElle({ flavor: 'rw-register', txns, keys: keys.map((k) => k.name), edges, log, historyLength: history.length }, opts, started);
}

function inferKey(keyId: number, k: KeyData, all: readonly Txn<WrMop>[], edges: EdgeList, log: AnomalyLog, withRevisions: boolean): void {
  const nodeOf = (value: number): number => {
    const seq = k.writer.get(value);
    return seq === undefined ? -1 : all[seq]!.id;
  };
  // Reads: wr edges and the non-cycle anomalies.
  for (let i = 0; i < k.readers.length; i++) {
    const v = k.values[i]!;
    if (v === null) continue;
    const t = all[k.readers[i]!]!;
    const seq = k.writer.get(v);
    if (seq === undefined) {
      log.add({ type: 'garbage-read', key: k.name, ops: [citeOp(t)], explanation: `op ${citeOp(t).index} read ${k.name} = ${v}, which no txn wrote` });
      continue;
    }
    const w = all[seq]!;
    if (w.outcome === 'fail') {
      log.add({ type: 'G1a', key: k.name, ops: [citeOp(t), citeOp(w)], explanation: `aborted read: op ${citeOp(t).index} read ${k.name} = ${v}, written by op ${citeOp(w).index}, which failed` });
      continue;
    }
    if (w.id === t.id) continue;
    if (k.intermediate.has(v)) {
      log.add({ type: 'G1b', key: k.name, ops: [citeOp(t), citeOp(w)], explanation: `intermediate read: op ${citeOp(t).index} read ${k.name} = ${v}, which op ${citeOp(w).index} overwrote in the same txn` });
    }
    edges.add(w.id, t.id, WR, keyId, v);
  }

  // Version order: (from, to) pairs of values, from = NaN for the initial nil.
  const pairs: [number, number][] = [];
  if (withRevisions) {
    const placed: [number, number][] = [];
    for (const [seq, rev] of k.revisionOf) {
      const t = all[seq]!;
      const v = k.finalWrite.get(seq);
      if (t.outcome !== 'fail' && v !== undefined) placed.push([rev, v]);
    }
    placed.sort((a, b) => a[0] - b[0]);
    let prev = Number.NaN;
    for (const [, v] of placed) {
      pairs.push([prev, v]);
      prev = v;
    }
  } else {
    for (const [seq, v] of k.finalWrite) if (all[seq]!.outcome !== 'fail') pairs.push([Number.NaN, v]);
    for (let i = 0; i < k.rmwSeq.length; i++) {
      const t = all[k.rmwSeq[i]!]!;
      const to = k.finalWrite.get(t.seq);
      const from = k.rmwRead[i]!;
      if (from !== null && to !== undefined) pairs.push([from, to]);
    }
  }
  // Readers by value (NaN stands for nil).
  const readersOf = new Map<number, number[]>();
  for (let i = 0; i < k.readers.length; i++) {
    const v = k.values[i] ?? Number.NaN;
    const list = readersOf.get(v);
    if (list) list.push(all[k.readers[i]!]!.id);
    else readersOf.set(v, [all[k.readers[i]!]!.id]);
  }
  for (const [from, to] of pairs) {
    const wTo = nodeOf(to);
    if (wTo < 0) continue;
    if (!Number.isNaN(from)) {
      const wFrom = nodeOf(from);
      if (wFrom >= 0 && wFrom !== wTo) edges.add(wFrom, wTo, WW, keyId, from, to);
    }
    for (const r of readersOf.get(from) ?? []) if (r !== wTo) edges.add(r, wTo, RW, keyId, from, to);
  }

  // Lost update: two committed txns read the same version and both wrote the key.
  const byValue = new Map<number, number>();
  for (let i = 0; i < k.rmwSeq.length; i++) {
    const v = k.rmwRead[i] ?? Number.NaN;
    const other = byValue.get(v);
    if (other === undefined) {
      byValue.set(v, k.rmwSeq[i]!);
      continue;
    }
    const a = all[other]!;
    const b = all[k.rmwSeq[i]!]!;
    log.add({ type: 'lost-update', key: k.name, ops: [citeOp(a), citeOp(b)], explanation: `lost update: ops ${citeOp(a).index} and ${citeOp(b).index} both read ${k.name} = ${showValue(k.rmwRead[i])} and both wrote it, so one write was made without seeing the other` });
  }
}
