// Plain-language explanations of dependency cycles, one step per edge, as
// Elle's "T1 < T2, because ..." text: each step names the key and the values
// that prove the order, so the cycle can be checked against the history by hand.

import { PROCESS, REALTIME, RW, WR, WW, relName } from './graph.js';
import type { EdgeList } from './graph.js';
import type { Txn } from './txn.js';
import { citeOp, showMops } from './txn.js';

export type Flavor = 'list-append' | 'rw-register';

export interface CycleStep {
  /** History index of the earlier transaction's op (completion, or invocation when it never completed). */
  from: number;
  to: number;
  rel: 'ww' | 'wr' | 'rw' | 'process' | 'realtime';
  key?: string;
  text: string;
}

export interface ExplainedCycle {
  type: string;
  /** History indexes of the transactions on the cycle, in cycle order. */
  txns: number[];
  steps: CycleStep[];
  explanation: string;
}

function show(v: number): string {
  return Number.isNaN(v) ? 'nil' : String(v);
}

function stepText(flavor: Flavor, rel: number, a: string, b: string, key: string, va: number, vb: number, process: string): string {
  switch (rel) {
    case WW:
      return flavor === 'list-append'
        ? `${a} appended ${show(va)} to ${key} and ${b} appended ${show(vb)} right after it (ww)`
        : `${a} wrote ${key} = ${show(va)} and ${b} wrote the next version, ${show(vb)} (ww)`;
    case WR:
      return flavor === 'list-append' ? `${b} read ${key} ending in ${show(va)}, which ${a} appended (wr)` : `${b} read ${key} = ${show(va)}, which ${a} wrote (wr)`;
    case RW:
      if (flavor === 'list-append') {
        return Number.isNaN(va)
          ? `${a} read ${key} as empty, without ${show(vb)}, which ${b} appended first (rw)`
          : `${a} read ${key} ending in ${show(va)}, without ${show(vb)}, which ${b} appended next (rw)`;
      }
      return `${a} read ${key} = ${show(va)} and ${b} wrote the next version, ${show(vb)} (rw)`;
    case PROCESS:
      return `${a} completed before ${b} began, on the same process ${process} (process)`;
    case REALTIME:
      return `${a} completed before ${b} began (realtime)`;
    default:
      return `${a} precedes ${b}`;
  }
}

export function explainCycle(flavor: Flavor, type: string, cycle: readonly number[], edges: EdgeList, nodes: readonly Txn[], keys: readonly string[]): ExplainedCycle {
  const names = new Map<number, string>();
  const order: number[] = [];
  for (const e of cycle) {
    const s = edges.src[e]!;
    if (!names.has(s)) {
      names.set(s, `T${names.size + 1}`);
      order.push(s);
    }
  }
  const steps: CycleStep[] = cycle.map((e) => {
    const s = edges.src[e]!;
    const d = edges.dst[e]!;
    const rel = edges.rel[e]!;
    const keyId = edges.keyOf(e);
    const key = keyId >= 0 ? keys[keyId]! : undefined;
    const text = stepText(flavor, rel, names.get(s)!, names.get(d)!, key ?? '', edges.aOf(e), edges.bOf(e), String(nodes[s]!.process));
    return { from: citeOp(nodes[s]!).index, to: citeOp(nodes[d]!).index, rel: relName(rel), ...(key !== undefined ? { key } : {}), text };
  });
  const lets = order.map((id) => {
    const t = nodes[id]!;
    return `${names.get(id)} = op ${citeOp(t).index} (process ${String(t.process)}${t.outcome === 'info' ? ', indeterminate' : ''}) ${showMops(t.mops)}`;
  });
  const chain = [...order.map((id) => names.get(id)!), names.get(order[0]!)!].join(' < ');
  const explanation = `${type}: ${steps.map((s) => s.text).join('; ')}; so ${chain}, a cycle. Let ${lets.join(', ')}.`;
  return { type, txns: order.map((id) => citeOp(nodes[id]!).index), steps, explanation };
}
