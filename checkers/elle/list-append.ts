// Elle's list-append inference. Appended elements are unique per key and
// every read returns the whole list, so each read is a prefix of the key's
// version order; the longest read is that order (when every read is a prefix
// of it). From it:
//   ww  T appended e, T' appended the element right after e
//   wr  T appended e, T' read a list ending in e
//   rw  T read a list of length n, T' appended element n+1
// plus the non-cycle anomalies: internal (a txn not seeing its own appends or
// reads), G1a (reading a failed txn's element), G1b (a list ending in an
// element that was not its txn's last append to that key), duplicate
// elements, incompatible orders (reads that are not prefixes of each other),
// garbage (elements nobody appended) and lost updates (two txns that read the
// same version of a key and both appended to it).

import type { Op } from '../../harness/history.js';
import { AnomalyLog, type Anomaly } from '../result.js';
import { finishElle, type ElleOptions, type ElleResult } from './analysis.js';
import { EdgeList, RW, WR, WW } from './graph.js';
import { citeOp, collectTxns, isAppendMop, showValue, type AppendMop, type Txn } from './txn.js';

interface KeyData {
  name: string;
  /** element → seq of the txn that appended it. */
  writer: Map<number, number>;
  /** Elements that were not the last append of their txn to this key. */
  intermediate: Set<number>;
  /** External reads of committed txns: seq and list. */
  readers: number[];
  reads: number[][];
  /** Txns that read the key and then appended to it: seq and length read. */
  rmwSeq: number[];
  rmwLen: number[];
  /** Order of the key's first append and first external read among all keys' (Infinity: none). */
  firstAppend: number;
  firstRead: number;
}

export function checkListAppend(history: readonly Op[], opts: ElleOptions): ElleResult {
  const started = Date.now();
  const txns = collectTxns<AppendMop>(history, isAppendMop);
  const log = new AnomalyLog(opts.maxPerType ?? 20);
  const keys: KeyData[] = [];
  const keyByName = new Map<string, KeyData>();
  const keyOf = (name: string): KeyData => {
    let k = keyByName.get(name);
    if (k === undefined) {
      k = { name, writer: new Map(), intermediate: new Set(), readers: [], reads: [], rmwSeq: [], rmwLen: [], firstAppend: Infinity, firstRead: Infinity };
      keyByName.set(name, k);
      keys.push(k);
    }
    return k;
  };
  const all = txns.all;
  for (const op of txns.malformed) log.add({ type: 'malformed', ops: [op], explanation: `op ${op.index} is a txn whose value is not a list of [append k v] / [r k list] micro-ops` });

  // One pass over every txn's micro-ops (they are the bulk of the history's
  // memory, so each pass costs): the appends of every txn, failed ones
  // included, and the external reads of committed txns (a key's first read,
  // if the txn has not appended to it yet). Internal consistency is checked
  // afterwards so its anomalies still follow the duplicate appends.
  const internal: Txn<AppendMop>[] = [];
  let appendedKeys = 0;
  let readKeys = 0;
  for (const t of all) {
    const mops = t.mops;
    const committed = t.outcome === 'ok';
    if (committed && touchesAKeyTwice(mops)) internal.push(t);
    for (let i = 0; i < mops.length; i++) {
      const m = mops[i]!;
      if (m[0] === 'append') {
        const k = keyOf(m[1]);
        if (k.firstAppend === Infinity) k.firstAppend = appendedKeys++;
        const e = m[2];
        const prior = k.writer.get(e);
        if (prior !== undefined && prior !== t.seq) {
          const other = all[prior]!;
          log.add({ type: 'duplicate-appends', key: k.name, ops: [citeOp(other), citeOp(t)], explanation: `${k.name}: element ${e} appended by two txns (ops ${citeOp(other).index} and ${citeOp(t).index}); elements must be unique, so the later one is ignored` });
          continue;
        }
        k.writer.set(e, t.seq);
        // Not the txn's last append to this key: an intermediate element.
        for (let j = i + 1; j < mops.length; j++) {
          const later = mops[j]!;
          if (later[0] === 'append' && later[1] === m[1]) {
            k.intermediate.add(e);
            break;
          }
        }
        continue;
      }
      if (!committed) continue;
      let external = true;
      for (let j = 0; j < i && external; j++) if (mops[j]![1] === m[1]) external = false;
      if (!external) continue;
      const k = keyOf(m[1]);
      if (k.firstRead === Infinity) k.firstRead = readKeys++;
      const list = m[2] ?? [];
      k.readers.push(t.seq);
      k.reads.push(list);
      for (let j = i + 1; j < mops.length; j++) {
        const later = mops[j]!;
        if (later[0] === 'append' && later[1] === m[1]) {
          k.rmwSeq.push(t.seq);
          k.rmwLen.push(list.length);
          break;
        }
      }
    }
  }
  for (const t of internal) checkInternal(t, log);
  // Key ids as a writers-then-readers pass would number them: appended keys
  // by first append, then keys only read by first read. Edge order, and so
  // which cycle is reported, follows from them.
  keys.sort((x, y) => (x.firstAppend !== y.firstAppend ? x.firstAppend - y.firstAppend : x.firstRead - y.firstRead));

  const edges = new EdgeList(Math.max(1024, all.length * 8));
  for (let keyId = 0; keyId < keys.length; keyId++) inferKey(keyId, keys[keyId]!, all, edges, log);

  return finishElle({ flavor: 'list-append', txns, keys: keys.map((k) => k.name), edges, log, historyLength: history.length }, opts, started);
}

function touchesAKeyTwice(mops: readonly AppendMop[]): boolean {
  for (let i = 1; i < mops.length; i++) for (let j = 0; j < i; j++) if (mops[i]![1] === mops[j]![1]) return true;
  return false;
}

function checkInternal(t: Txn<AppendMop>, log: AnomalyLog): void {
  // Per key: the list last read (null: never read) and the appends since.
  const base = new Map<string, readonly number[] | null>();
  const tail = new Map<string, number[]>();
  for (let i = 0; i < t.mops.length; i++) {
    const m = t.mops[i]!;
    const key = m[1];
    if (m[0] === 'append') {
      const list = tail.get(key) ?? [];
      list.push(m[2]);
      tail.set(key, list);
      continue;
    }
    const read = m[2] ?? [];
    const b = base.get(key) ?? null;
    const own = tail.get(key) ?? [];
    // The expected list is the earlier read followed by the appends since;
    // compared piecewise, since building it copies a whole list per read.
    const ok = b !== null ? read.length === b.length + own.length && startsWith(read, b) && endsWith(read, own) : endsWith(read, own);
    if (!ok) {
      const want = b !== null ? showValue([...b, ...own]) : `a list ending in ${showValue(own)}`;
      log.add({ type: 'internal', key, ops: [citeOp(t)], explanation: `op ${citeOp(t).index} read ${key} = ${showValue(read)} at micro-op ${i + 1}, but its own earlier micro-ops imply ${want}` });
    }
    base.set(key, read);
    tail.set(key, []);
  }
}

function inferKey(keyId: number, k: KeyData, all: readonly Txn<AppendMop>[], edges: EdgeList, log: AnomalyLog): void {
  let longest = -1;
  for (let i = 0; i < k.reads.length; i++) if (longest === -1 || k.reads[i]!.length > k.reads[longest]!.length) longest = i;
  if (longest === -1) return;
  const order = k.reads[longest]!;
  const orderTxn = all[k.readers[longest]!]!;
  const n = order.length;

  // Readers that are not prefixes of the longest read disagree on the order.
  const compatible = new Uint8Array(k.reads.length);
  for (let i = 0; i < k.reads.length; i++) {
    const r = k.reads[i]!;
    let ok = r.length <= n;
    for (let j = 0; ok && j < r.length; j++) if (r[j] !== order[j]) ok = false;
    if (ok) compatible[i] = 1;
    else {
      const t = all[k.readers[i]!]!;
      log.add({ type: 'incompatible-order', key: k.name, ops: [citeOp(t), citeOp(orderTxn)], explanation: `${k.name}: op ${citeOp(t).index} read ${showValue(r)} and op ${citeOp(orderTxn).index} read ${showValue(order)}; neither is a prefix of the other, so they cannot come from one version order` });
      checkDuplicates(k.name, r, t, log);
    }
  }
  checkDuplicates(k.name, order, orderTxn, log);

  // Per position: the writer's graph id (-1 unknown or failed).
  const writerId = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    const e = order[p]!;
    const seq = k.writer.get(e);
    const w = seq === undefined ? undefined : all[seq]!;
    writerId[p] = w === undefined ? -1 : w.id;
    if (w === undefined || w.outcome === 'fail') {
      // Blame the first (shortest) read that shows it.
      let reader = longest;
      for (let i = 0; i < k.reads.length; i++) if (compatible[i] === 1 && k.reads[i]!.length > p && k.reads[i]!.length < k.reads[reader]!.length) reader = i;
      const t = all[k.readers[reader]!]!;
      const anomaly: Anomaly =
        w === undefined
          ? { type: 'garbage-read', key: k.name, ops: [citeOp(t)], explanation: `op ${citeOp(t).index} read ${k.name} containing ${e}, which no txn appended` }
          : { type: 'G1a', key: k.name, ops: [citeOp(t), citeOp(w)], explanation: `aborted read: op ${citeOp(t).index} read ${k.name} containing ${e}, appended by op ${citeOp(w).index}, which failed` };
      log.add(anomaly);
    }
    if (p > 0 && writerId[p]! >= 0 && writerId[p - 1]! >= 0) edges.add(writerId[p - 1]!, writerId[p]!, WW, keyId, order[p - 1]!, e);
  }

  for (let i = 0; i < k.reads.length; i++) {
    if (compatible[i] === 0) continue;
    const r = k.reads[i]!;
    const t = all[k.readers[i]!]!;
    const m = r.length;
    if (m > 0) {
      const w = writerId[m - 1]!;
      if (w >= 0 && w !== t.id) {
        edges.add(w, t.id, WR, keyId, r[m - 1]!);
        if (k.intermediate.has(r[m - 1]!)) {
          const wt = all[k.writer.get(r[m - 1]!)!]!;
          log.add({ type: 'G1b', key: k.name, ops: [citeOp(t), citeOp(wt)], explanation: `intermediate read: op ${citeOp(t).index} read ${k.name} ending in ${r[m - 1]}, but op ${citeOp(wt).index} appended more to ${k.name} after it in the same txn` });
        }
      }
    }
    if (m < n) {
      const w = writerId[m]!;
      if (w >= 0 && w !== t.id) edges.add(t.id, w, RW, keyId, m > 0 ? r[m - 1]! : Number.NaN, order[m]!);
    }
  }

  // Lost update: two committed txns read the same version and both appended.
  const byLen = new Map<number, number>();
  for (let i = 0; i < k.rmwSeq.length; i++) {
    const len = k.rmwLen[i]!;
    const other = byLen.get(len);
    if (other === undefined) {
      byLen.set(len, k.rmwSeq[i]!);
      continue;
    }
    const a = all[other]!;
    const b = all[k.rmwSeq[i]!]!;
    if (len <= n) {
      const seen = len === 0 ? 'empty' : `ending in ${order[len - 1]}`;
      log.add({ type: 'lost-update', key: k.name, ops: [citeOp(a), citeOp(b)], explanation: `lost update: ops ${citeOp(a).index} and ${citeOp(b).index} both read ${k.name} ${seen} and both appended to it, so one append was made without seeing the other` });
    }
  }
}

function checkDuplicates(key: string, list: readonly number[], t: Txn, log: AnomalyLog): void {
  const seen = new Set<number>();
  for (const e of list) {
    if (seen.has(e)) {
      log.add({ type: 'duplicate-elements', key, ops: [citeOp(t)], explanation: `op ${citeOp(t).index} read ${key} = ${showValue(list)}, which contains ${e} more than once` });
      return;
    }
    seen.add(e);
  }
}

function startsWith(a: readonly number[], prefix: readonly number[]): boolean {
  if (prefix.length > a.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

function endsWith(a: readonly number[], suffix: readonly number[]): boolean {
  if (suffix.length > a.length) return false;
  const off = a.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) if (a[off + i] !== suffix[i]) return false;
  return true;
}
