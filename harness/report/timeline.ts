// Shapes a history for the report: paired ops per process and the periods
// during which each fault was in effect.
import { pairOps, type Op } from '../history.js';

export interface TimelineOp {
  /** History index of the invocation and of the completion (-1: never completed). */
  i: number;
  c: number;
  p: number | string;
  f: string;
  /** ok | fail | info (info also for never completed). */
  t: string;
  /** Start and end, ms since the test began; end = null when never completed. */
  s: number;
  e: number | null;
  m?: string;
  v: string;
  err?: string;
  rev?: number;
}

export interface FaultPeriod {
  fault: string;
  startMs: number;
  /** null: still active when the history ended. */
  endMs: number | null;
  detail: string;
}

const ms = (ns: number) => Math.round(ns / 1e4) / 100;

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'object') return String(v);
  const o = v as Record<string, unknown>;
  if ('from' in o && 'to' in o) return `${String(o.key)}: ${String(o.from)}→${String(o.to)}`;
  if ('key' in o && 'value' in o) return `${String(o.key)}: ${o.value === null ? '∅' : String(o.value)}${o.modRevision !== undefined ? ` @${String(o.modRevision)}` : ''}`;
  return JSON.stringify(v);
}

export function timelineOps(history: readonly Op[]): TimelineOp[] {
  let paired;
  try {
    paired = pairOps(history.filter((o) => o.process !== 'nemesis'));
  } catch {
    return [];
  }
  return paired.map(({ invoke, complete }) => ({
    i: invoke.index,
    c: complete?.index ?? -1,
    p: invoke.process,
    f: invoke.f,
    t: complete?.type ?? 'info',
    s: ms(invoke.time),
    e: complete ? ms(complete.time) : null,
    ...(invoke.member ? { m: invoke.member } : {}),
    v: describeValue(complete?.value ?? invoke.value),
    ...(complete?.error ? { err: complete.error } : {}),
    ...(complete?.revision !== undefined ? { rev: complete.revision } : {}),
  }));
}

/** start-X ok … stop-X ok becomes one period of X. */
export function faultPeriods(history: readonly Op[]): FaultPeriod[] {
  const open = new Map<string, FaultPeriod>();
  const out: FaultPeriod[] = [];
  for (const op of history) {
    if (op.process !== 'nemesis' || op.type !== 'ok') continue;
    const m = /^(start|stop)-(.+)$/.exec(op.f);
    if (!m) continue;
    const fault = m[2]!;
    if (m[1] === 'start') {
      const period: FaultPeriod = { fault, startMs: ms(op.time), endMs: null, detail: describeValue(op.value) };
      open.set(fault, period);
      out.push(period);
    } else {
      const p = open.get(fault);
      if (p) p.endMs = ms(op.time);
      open.delete(fault);
    }
  }
  return out;
}
