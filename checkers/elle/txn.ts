// Transactions as the Elle-style checkers see them: the micro-operations of
// one f = 'txn' operation, its outcome, and where it sits in the history.
// Committed (ok) and indeterminate (info) transactions are graph nodes with
// dense integer ids; failed ones are kept aside, only to recognise reads of
// their writes (G1a).

import type { Op, ProcessId } from '../../harness/history.js';
import { EdgeList, PROCESS, REALTIME } from './graph.js';

/** List-append micro-ops: append an element to a key's list, or read the whole list (null = absent key, same as empty). */
export type AppendMop = ['append', string, number] | ['r', string, number[] | null];
/**
 * Read/write-register micro-ops with unique written values. A read may carry
 * a fourth element: the mod_revision of the key it read (etcd's version
 * order), absent for histories from elsewhere.
 */
export type WrMop = ['w', string, number] | ['r', string, number | null] | ['r', string, number | null, number];
export type Mop = AppendMop | WrMop;

export type TxnOutcome = 'ok' | 'info' | 'fail';

export interface Txn<M extends Mop = Mop> {
  /** Graph node id (ok and info transactions); -1 for failed ones. */
  id: number;
  /** Position among all transactions, failed ones included. */
  seq: number;
  outcome: TxnOutcome;
  process: ProcessId;
  invoke: Op;
  complete?: Op;
  /** The completion's micro-ops when ok; otherwise the invocation's (reads unknown). */
  mops: readonly M[];
  /** header.revision of an ok completion. */
  revision?: number;
  /** Positions of invocation and completion in the history (completion +Infinity when missing). */
  start: number;
  end: number;
}

export interface CollectedTxns<M extends Mop> {
  /** Every transaction, by seq. */
  all: Txn<M>[];
  /** Graph nodes, by id. */
  nodes: Txn<M>[];
  /** txn operations whose value is not a list of micro-ops. */
  malformed: Op[];
}

function isMopList(value: unknown, valid: (m: unknown[]) => boolean): boolean {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) {
    const m: unknown = value[i];
    if (!Array.isArray(m) || typeof m[1] !== 'string' || !valid(m)) return false;
  }
  return true;
}

export function isAppendMop(m: unknown[]): boolean {
  return (m[0] === 'append' && m.length === 3 && typeof m[2] === 'number') || (m[0] === 'r' && m.length === 3 && (m[2] === null || Array.isArray(m[2])));
}

export function isWrMop(m: unknown[]): boolean {
  return (
    (m[0] === 'w' && m.length === 3 && typeof m[2] === 'number') ||
    (m[0] === 'r' && (m.length === 3 || (m.length === 4 && typeof m[3] === 'number')) && (m[2] === null || typeof m[2] === 'number'))
  );
}

/** The transactions of a history (f = 'txn'; other ops, e.g. the nemesis', are skipped). */
export function collectTxns<M extends Mop>(history: readonly Op[], valid: (m: unknown[]) => boolean): CollectedTxns<M> {
  const all: Txn<M>[] = [];
  const nodes: Txn<M>[] = [];
  const malformed: Op[] = [];
  const open = new Map<ProcessId, Txn<M>>();
  for (let pos = 0; pos < history.length; pos++) {
    const op = history[pos]!;
    if (op.process === 'nemesis' || op.f !== 'txn') continue;
    if (op.type === 'invoke') {
      if (!isMopList(op.value, valid)) {
        malformed.push(op);
        continue;
      }
      const txn: Txn<M> = { id: -1, seq: all.length, outcome: 'info', process: op.process, invoke: op, mops: op.value as M[], start: pos, end: Number.POSITIVE_INFINITY };
      all.push(txn);
      open.set(op.process, txn);
      continue;
    }
    const txn = open.get(op.process);
    if (txn === undefined) continue;
    open.delete(op.process);
    txn.complete = op;
    txn.end = pos;
    txn.outcome = op.type;
    if (op.type === 'ok') {
      if (!isMopList(op.value, valid) || (op.value as unknown[]).length !== txn.mops.length) malformed.push(op);
      else txn.mops = op.value as M[];
      if (op.revision !== undefined) txn.revision = op.revision;
    }
  }
  for (const txn of all) {
    if (txn.outcome === 'fail') continue;
    txn.id = nodes.length;
    nodes.push(txn);
  }
  return { all, nodes, malformed };
}

/**
 * Process order (consecutive transactions of one process) and real-time
 * order as a transitive reduction: the frontier holds committed transactions
 * with no committed real-time successor yet; each invocation gets an edge from
 * every frontier member, and a completion replaces its predecessors in the
 * frontier. Indeterminate transactions may take effect at any later time, so
 * they only receive edges.
 */
export function addOrderEdges(nodes: readonly Txn[], historyLength: number, edges: EdgeList): void {
  const lastOfProcess = new Map<ProcessId, number>();
  for (const t of nodes) {
    const prev = lastOfProcess.get(t.process);
    if (prev !== undefined) edges.add(prev, t.id, PROCESS);
    lastOfProcess.set(t.process, t.id);
  }
  // Events by history position: +id+1 for an invocation, -(id+1) for an ok completion.
  const event = new Int32Array(historyLength);
  for (const t of nodes) {
    event[t.start] = t.id + 1;
    if (t.outcome === 'ok' && Number.isFinite(t.end)) event[t.end] = -(t.id + 1);
  }
  const predStart = new Int32Array(nodes.length);
  const predEnd = new Int32Array(nodes.length);
  const inFrontier = new Uint8Array(nodes.length);
  let frontier: number[] = [];
  let stale = 0;
  for (let pos = 0; pos < historyLength; pos++) {
    const ev = event[pos]!;
    if (ev > 0) {
      const id = ev - 1;
      predStart[id] = edges.length;
      for (const f of frontier) if (inFrontier[f] === 1) edges.add(f, id, REALTIME);
      predEnd[id] = edges.length;
    } else if (ev < 0) {
      const id = -ev - 1;
      for (let e = predStart[id]!; e < predEnd[id]!; e++) {
        const p = edges.src[e]!;
        if (inFrontier[p] === 1) {
          inFrontier[p] = 0;
          stale++;
        }
      }
      inFrontier[id] = 1;
      frontier.push(id);
      if (stale > 32 && stale * 2 > frontier.length) {
        frontier = frontier.filter((f) => inFrontier[f] === 1);
        stale = 0;
      }
    }
  }
}

/** A transaction's micro-ops in Jepsen's notation, e.g. [[append x 3] [r y [1 2]]]. */
export function showMops(mops: readonly Mop[]): string {
  return `[${mops.map((m) => `[${m[0]} ${m[1]} ${showValue(m[2])}]`).join(' ')}]`;
}

export function showValue(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return `[${v.map(showValue).join(' ')}]`;
  return String(v);
}

/** The op to cite for a transaction: its completion, or its invocation when it never completed. */
export function citeOp(t: Txn): Op {
  return t.complete ?? t.invoke;
}
