// The set checker, after Jepsen's set-full. Unique elements are added to a
// set; reads return the whole set. Per element, once it is known to be in the
// set (its add was acknowledged, or for an indeterminate add, some read
// returned it) every read that begins afterwards must contain it:
//   lost        absent from the last read that began after it was known
//   stale       absent from such a read, but present in a later one
//   unexpected  a read returned an element no add offered, or one whose add failed
// and, per element, how long it took to become visible for good (from the
// add's invocation to the start of the first read after which every read has
// it), summarised as quantiles.

import { pairOps, type Op } from '../harness/history.js';
import { AnomalyLog, type CheckResult } from './result.js';

export interface SetAdd {
  key: string;
  element: number;
}

export interface SetRead {
  key: string;
  /** Filled on ok completions. */
  elements: number[] | null;
}

export type SetValue = SetAdd | SetRead;

export interface SetKeyResult {
  key: string;
  attempted: number;
  acknowledged: number;
  reads: number;
  lost: number[];
  stale: number[];
  unexpected: number[];
  /** Elements never read after they were known (too late in the run to judge). */
  neverRead: number;
}

export interface SetResult extends CheckResult {
  keys: SetKeyResult[];
  counts: Record<string, number>;
  /** Visibility latency in milliseconds over acknowledged elements that became stable. */
  latencyMs: { count: number; p50: number | null; p95: number | null; p99: number | null; max: number | null };
  summary: string;
}

interface AddInfo {
  element: number;
  outcome: 'ok' | 'fail' | 'info';
  invoke: Op;
  complete?: Op;
  start: number;
  /** Completion position, +Infinity when none. */
  end: number;
}

interface ReadInfo {
  op: Op;
  start: number;
  end: number;
  startTime: number;
  elements: Set<number>;
}

export function checkSet(history: readonly Op[], opts: { maxPerType?: number } = {}): SetResult {
  const log = new AnomalyLog(opts.maxPerType ?? 50);
  const position = new Map<Op, number>();
  history.forEach((op, i) => position.set(op, i));
  const adds = new Map<string, Map<number, AddInfo>>();
  const reads = new Map<string, ReadInfo[]>();
  const ops = history.filter((o) => o.process !== 'nemesis' && (o.f === 'add' || o.f === 'read') && typeof (o.value as { key?: unknown } | null)?.key === 'string');
  for (const { invoke, complete } of pairOps(ops)) {
    const outcome = complete === undefined || complete.type === 'invoke' ? 'info' : complete.type;
    const key = (invoke.value as SetValue).key;
    const start = position.get(invoke)!;
    const end = complete ? position.get(complete)! : Number.POSITIVE_INFINITY;
    if (invoke.f === 'add') {
      const element = (invoke.value as SetAdd).element;
      let byKey = adds.get(key);
      if (!byKey) adds.set(key, (byKey = new Map()));
      byKey.set(element, { element, outcome, invoke, ...(complete ? { complete } : {}), start, end });
      continue;
    }
    if (outcome !== 'ok' || complete === undefined) continue;
    const elements = (complete.value as SetRead).elements;
    if (!Array.isArray(elements)) continue;
    let list = reads.get(key);
    if (!list) reads.set(key, (list = []));
    list.push({ op: complete, start, end, startTime: invoke.time, elements: new Set(elements) });
  }

  const latencies: number[] = [];
  const keyResults: SetKeyResult[] = [];
  for (const key of [...new Set([...adds.keys(), ...reads.keys()])].sort()) {
    const byKey = adds.get(key) ?? new Map<number, AddInfo>();
    const rs = (reads.get(key) ?? []).sort((a, b) => a.start - b.start);
    const res: SetKeyResult = { key, attempted: byKey.size, acknowledged: 0, reads: rs.length, lost: [], stale: [], unexpected: [], neverRead: 0 };
    keyResults.push(res);
    // Unexpected elements: reported once per element, at the first read showing it.
    const reported = new Set<number>();
    for (const r of rs) {
      for (const e of r.elements) {
        const add = byKey.get(e);
        if ((add === undefined || add.outcome === 'fail') && !reported.has(e)) {
          reported.add(e);
          res.unexpected.push(e);
          log.add({
            type: 'unexpected',
            key,
            ops: add ? [r.op, add.complete ?? add.invoke] : [r.op],
            explanation: add ? `read ${r.op.index} of ${key} contains ${e}, whose add (op ${add.invoke.index}) failed` : `read ${r.op.index} of ${key} contains ${e}, which was never added`,
          });
        }
      }
    }
    for (const add of byKey.values()) {
      if (add.outcome === 'fail') continue;
      if (add.outcome === 'ok') res.acknowledged++;
      const e = add.element;
      // Known: acknowledged, or first returned by a read.
      let known = add.outcome === 'ok' ? add.end : Number.POSITIVE_INFINITY;
      for (const r of rs) if (r.end < known && r.elements.has(e)) known = r.end;
      if (!Number.isFinite(known)) continue;
      let after = 0;
      let lastAbsent: ReadInfo | undefined;
      let lastAbsentIdx = -1;
      let present = 0;
      let idx = 0;
      for (const r of rs) {
        idx++;
        if (r.start <= known) continue;
        after++;
        if (r.elements.has(e)) present++;
        else {
          lastAbsent = r;
          lastAbsentIdx = idx;
        }
      }
      if (after === 0) {
        res.neverRead++;
        continue;
      }
      const cite = add.complete ?? add.invoke;
      if (lastAbsent !== undefined) {
        const laterPresent = rs.slice(lastAbsentIdx).some((r) => r.elements.has(e));
        if (!laterPresent) {
          res.lost.push(e);
          log.add({ type: 'lost', key, ops: [cite, lastAbsent.op], explanation: `${key}: element ${e} (add op ${add.invoke.index}, ${add.outcome === 'ok' ? 'acknowledged' : 'seen by a read'}) is missing from read ${lastAbsent.op.index}, which began afterwards, and from every read after it` });
        } else {
          res.stale.push(e);
          log.add({ type: 'stale', key, ops: [cite, lastAbsent.op], explanation: `${key}: element ${e} (add op ${add.invoke.index}) is missing from read ${lastAbsent.op.index}, which began after it was known, but later reads have it` });
        }
      }
      // Stable visibility: the first read (after the add began) from which on every read has the element.
      if (add.outcome === 'ok' && present > 0) {
        let stable: ReadInfo | undefined;
        for (let i = rs.length - 1; i >= 0; i--) {
          const r = rs[i]!;
          if (r.start < add.start || !r.elements.has(e)) break;
          stable = r;
        }
        if (stable) latencies.push(Math.max(0, (stable.startTime - add.invoke.time) / 1e6));
      }
    }
    res.lost.sort((a, b) => a - b);
    res.stale.sort((a, b) => a - b);
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number): number | null => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]! : null);
  const latencyMs = { count: latencies.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: latencies.length ? latencies[latencies.length - 1]! : null };
  const sum = (f: (k: SetKeyResult) => number): number => keyResults.reduce((n, k) => n + f(k), 0);
  const valid = log.size === 0;
  return {
    valid,
    anomalies: log.anomalies,
    keys: keyResults,
    counts: log.counts,
    latencyMs,
    summary: `set: ${valid ? 'holds' : 'VIOLATED'} (${sum((k) => k.attempted)} adds, ${sum((k) => k.acknowledged)} acknowledged, ${sum((k) => k.reads)} reads over ${keyResults.length} keys; lost ${sum((k) => k.lost.length)}, stale ${sum((k) => k.stale.length)}, unexpected ${sum((k) => k.unexpected.length)}, never read ${sum((k) => k.neverRead)}; visible after p50 ${fmtMs(latencyMs.p50)}, p99 ${fmtMs(latencyMs.p99)})`,
  };
}

function fmtMs(v: number | null): string {
  return v === null ? '-' : `${v.toFixed(1)} ms`;
}
