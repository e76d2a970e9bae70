// Runs the checkers on a history and shapes results.json: the verdict, each
// checker's result (without bulky internals), anomalies, op counts.
import type { Anomaly, Validity } from '../checkers/result.js';
import { findWorkload } from '../workloads/index.js';
import type { Op } from './history.js';

export interface OpCountSummary {
  total: number;
  ok: number;
  fail: number;
  info: number;
  /** Invocations that never completed (counted as info by the checkers). */
  open: number;
  byF: Record<string, { ok: number; fail: number; info: number }>;
}

export interface ReportedAnomaly {
  type: string;
  key?: string;
  explanation: string;
  /** History indexes of the ops involved. */
  opIndexes: number[];
  ops: Op[];
}

export interface CheckSummary {
  valid: Validity;
  /** Why the verdict is unknown, when it is. */
  reason?: string;
  checkers: Record<string, unknown>;
  anomalies: ReportedAnomaly[];
  anomalyCounts: Record<string, number>;
  opCounts: OpCountSummary;
  checkMs: number;
}

export function countOps(history: readonly Op[]): OpCountSummary {
  const counts: OpCountSummary = { total: 0, ok: 0, fail: 0, info: 0, open: 0, byF: {} };
  const open = new Map<Op['process'], Op>();
  for (const op of history) {
    if (op.process === 'nemesis') continue;
    if (op.type === 'invoke') {
      open.set(op.process, op);
      continue;
    }
    open.delete(op.process);
    counts.total++;
    counts[op.type]++;
    const byF = (counts.byF[op.f] ??= { ok: 0, fail: 0, info: 0 });
    byF[op.type]++;
  }
  counts.open = open.size;
  return counts;
}

function reportAnomaly(a: Anomaly): ReportedAnomaly {
  return {
    type: a.type,
    ...(a.key !== undefined ? { key: a.key } : {}),
    explanation: a.explanation,
    opIndexes: a.ops.map((o) => o.index),
    ops: a.ops,
  };
}

/** Keeps the end of long op lists (linearization prefixes) so results.json stays readable. */
function trimOps(value: unknown, keep = 20): unknown {
  if (Array.isArray(value)) {
    const looksLikeOps = value.length > keep && value.every((v) => typeof v === 'object' && v !== null && 'index' in v && 'type' in v);
    const list = looksLikeOps ? value.slice(-keep) : value;
    return list.map((v) => trimOps(v, keep));
  }
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = trimOps(v, keep);
    return out;
  }
  return value;
}

export function checkHistory(history: readonly Op[], opts: { timeoutS: number; workload: string }): CheckSummary {
  const started = Date.now();
  const opCounts = countOps(history);
  try {
    const def = findWorkload(opts.workload);
    if (!def) throw new Error(`unknown workload "${opts.workload}"`);
    const r = def.check(history, { budget: { deadline: started + opts.timeoutS * 1000, now: () => Date.now() } });
    const anomalyCounts: Record<string, number> = {};
    for (const a of r.anomalies) anomalyCounts[a.type] = (anomalyCounts[a.type] ?? 0) + 1;
    for (const [k, v] of Object.entries(r.anomalyCounts ?? {})) anomalyCounts[k] = Math.max(anomalyCounts[k] ?? 0, v);
    let valid: Validity = r.valid;
    let reason = r.reason;
    if (valid === true && opCounts.ok === 0) {
      valid = 'unknown';
      reason = 'no operation succeeded, so there is nothing to check';
    }
    return {
      valid,
      ...(reason ? { reason } : {}),
      checkers: trimOps(r.checkers) as Record<string, unknown>,
      anomalies: r.anomalies.map(reportAnomaly),
      anomalyCounts,
      opCounts,
      checkMs: Date.now() - started,
    };
  } catch (err) {
    return {
      valid: 'unknown',
      reason: `checker error: ${err instanceof Error ? err.message : String(err)}`,
      checkers: {},
      anomalies: [],
      anomalyCounts: {},
      opCounts,
      checkMs: Date.now() - started,
    };
  }
}

export function exitCodeFor(valid: Validity): number {
  return valid === true ? 0 : valid === false ? 1 : 2;
}
