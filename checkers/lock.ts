// Checks the lock workloads: mutual exclusion judged by fencing tokens (the
// lock key's create revision), lost increments, and — for the in-memory
// counter, which nothing fences — holders overlapping in real time.

import type { Op, ProcessId } from '../harness/history.js';
import type { LockIncr, LockRead } from '../workloads/lock-types.js';
import { AnomalyLog } from './result.js';
import type { CheckResult } from './result.js';

export type LockCheckMode = 'etcd' | 'memory';

export interface LockCheckResult extends CheckResult {
  counts: Record<string, number>;
  coverage: {
    acquisitions: number;
    fencedOut: number;
    unknown: number;
    realTimePairs: number;
    overlaps: number;
    finalValue: number | null;
  };
  summary: Record<string, string>;
}

/** Why a lease-based lock alone cannot protect a resource that does not check the token. */
export const UNFENCED_LOCK_EXPLANATION =
  'a lease-based lock without fencing cannot guarantee mutual exclusion under process pauses or clock issues: ' +
  "a holder whose lease expired (its member paused, its keepalives unanswered) still believes it holds the lock when it writes; " +
  "only a fencing token — the lock key's create revision, checked in the same Txn as the write — lets the resource refuse the stale holder";

interface Held {
  invoke: Op;
  op: Op<LockIncr>;
  v: LockIncr & { token: number; read: number; wrote: number };
}

export function checkLock(history: readonly Op[], opts: { mode: LockCheckMode; maxPerType?: number }): LockCheckResult {
  const log = new AnomalyLog(opts.maxPerType ?? 100);
  const invokes = new Map<ProcessId, Op>();
  const held: Held[] = [];
  let fencedOut = 0;
  let unknown = 0;
  let finalValue: number | null = null;
  let finalOp: Op | undefined;
  for (const op of history) {
    if (op.process === 'nemesis') continue;
    if (op.type === 'invoke') {
      invokes.set(op.process, op);
      continue;
    }
    const invoke = invokes.get(op.process) ?? op;
    invokes.delete(op.process);
    if (op.f === 'incr') {
      const v = op.value as LockIncr;
      if (op.type === 'ok' && v.token !== undefined && v.read !== undefined && v.wrote !== undefined) {
        held.push({ invoke, op: op as Op<LockIncr>, v: v as Held['v'] });
      } else if (op.type === 'info') unknown++;
      else if (op.type === 'fail' && (op.error ?? '').startsWith('fenced')) fencedOut++;
    }
    if (op.f === 'read' && op.type === 'ok') {
      const value = (op.value as LockRead).value;
      if (value !== undefined && (finalValue === null || value > finalValue)) {
        finalValue = value;
        finalOp = op;
      }
    }
  }
  // Ops that never completed may still have written (etcd mode) or be mid-write.
  unknown += invokes.size;

  // Tokens are unique and follow real time: a holder that finished before another began has the smaller token.
  const byToken = [...held].sort((a, b) => a.v.token - b.v.token);
  for (let i = 1; i < byToken.length; i++) {
    const a = byToken[i - 1]!;
    const b = byToken[i]!;
    if (a.v.token === b.v.token) {
      log.add({ type: 'fencing-token-reused', ops: [a.op, b.op], explanation: `two acquisitions (ops ${a.op.index} and ${b.op.index}) hold the same fencing token ${a.v.token}` });
    }
  }
  let realTimePairs = 0;
  const byCompletion = [...held].sort((a, b) => a.op.index - b.op.index);
  const byInvoke = [...held].sort((a, b) => a.invoke.index - b.invoke.index);
  let ci = 0;
  let maxDone: Held | undefined;
  for (const b of byInvoke) {
    while (ci < byCompletion.length && byCompletion[ci]!.op.index < b.invoke.index) {
      const c = byCompletion[ci++]!;
      if (!maxDone || c.v.token > maxDone.v.token) maxDone = c;
    }
    if (!maxDone) continue;
    realTimePairs++;
    if (maxDone.v.token >= b.v.token) {
      log.add({
        type: 'fencing-token-not-increasing',
        ops: [maxDone.op, b.op],
        explanation: `op ${b.op.index} acquired the lock with fencing token ${b.v.token} after op ${maxDone.op.index} had already finished holding it with token ${maxDone.v.token}; successive holders' tokens must strictly increase`,
      });
    }
  }

  // In lock order, each holder must see its predecessor's write.
  for (let i = 1; i < byToken.length; i++) {
    const a = byToken[i - 1]!;
    const b = byToken[i]!;
    if (b.v.read < a.v.wrote) {
      log.add({
        type: 'lost-update',
        ops: [a.op, b.op],
        explanation: `holder with token ${b.v.token} (op ${b.op.index}) read ${b.v.read}, but the holder before it (token ${a.v.token}, op ${a.op.index}) had written ${a.v.wrote}; ${
          opts.mode === 'memory' ? UNFENCED_LOCK_EXPLANATION : 'a fenced write must never be lost'
        }`,
      });
    }
  }
  if (finalValue !== null && finalOp) {
    if (finalValue < held.length) {
      log.add({
        type: 'lost-update',
        ops: [finalOp],
        explanation: `the counter ends at ${finalValue} after ${held.length} acknowledged increments: ${held.length - finalValue} increment(s) lost`,
      });
    } else if (finalValue > held.length + unknown) {
      log.add({
        type: 'phantom-increment',
        ops: [finalOp],
        explanation: `the counter ends at ${finalValue}, more than the ${held.length} acknowledged plus ${unknown} possible increments`,
      });
    }
  }

  // Real-time overlap of critical sections: a violation only where nothing fences the write.
  let overlaps = 0;
  const byEntry = held.filter((h) => h.v.enteredNs !== undefined && h.v.leftNs !== undefined).sort((a, b) => a.v.enteredNs! - b.v.enteredNs!);
  let open: Held | undefined;
  for (const h of byEntry) {
    if (open && h.v.enteredNs! < open.v.leftNs!) {
      overlaps++;
      if (opts.mode === 'memory') {
        log.add({
          type: 'lock-overlap',
          ops: [open.op, h.op],
          explanation: `holders with fencing tokens ${open.v.token} (op ${open.op.index}) and ${h.v.token} (op ${h.op.index}) were inside the critical section at the same time${
            open.v.leaseLost || h.v.leaseLost ? ' (a lease was reported lost)' : ''
          }: mutual exclusion violated; ${UNFENCED_LOCK_EXPLANATION}`,
        });
      }
    }
    if (!open || h.v.leftNs! > open.v.leftNs!) open = h;
  }

  const summary: Record<string, string> = {
    mutualExclusion: `${held.length} acquisitions; fencing tokens strictly increasing over ${realTimePairs} real-time-ordered holders`,
    lostUpdates: `final counter ${finalValue ?? 'unread'} vs ${held.length} acknowledged increments (+${unknown} unknown)`,
    overlaps:
      opts.mode === 'memory'
        ? `${overlaps} overlapping critical sections (in-memory counter, unfenced)`
        : `${overlaps} overlapping holds in real time, harmless because ${fencedOut} stale holder write(s) were fenced out`,
  };
  return {
    valid: log.size === 0,
    anomalies: log.anomalies,
    counts: log.counts,
    coverage: { acquisitions: held.length, fencedOut, unknown, realTimePairs, overlaps, finalValue },
    summary,
  };
}
