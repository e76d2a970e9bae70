// All checkers of the register workload, composed into one verdict.

import type { Op } from '../harness/history.js';
import { checkLinearizableCalls } from './linearizable.js';
import type { LinearizableOptions, LinearizableResult } from './linearizable.js';
import { registerCalls } from './register-calls.js';
import type { RegisterF } from './register-calls.js';
import { combineValidity } from './result.js';
import type { CheckResult } from './result.js';
import { checkRevisions } from './revision-monotonic.js';
import type { RevisionResult } from './revision-monotonic.js';
import { checkStaleReadsCalls } from './stale-read.js';
import type { StaleReadResult } from './stale-read.js';

export interface RegisterCheckOptions extends LinearizableOptions {
  /** Anomalies kept per type by the revision-based checkers; default 100. */
  maxPerType?: number;
}

export interface OpCounts {
  ok: number;
  fail: number;
  /** Includes invocations that never completed. */
  info: number;
}

export interface RegisterCheckResult extends CheckResult {
  linearizable: LinearizableResult;
  staleReads: StaleReadResult;
  revisions: RevisionResult;
  counts: Record<RegisterF, OpCounts>;
}

export function checkRegister(history: readonly Op[], opts: RegisterCheckOptions): RegisterCheckResult {
  const calls = registerCalls(history);
  const counts: Record<RegisterF, OpCounts> = {
    read: { ok: 0, fail: 0, info: 0 },
    write: { ok: 0, fail: 0, info: 0 },
    cas: { ok: 0, fail: 0, info: 0 },
  };
  for (const call of calls) counts[call.f][call.outcome]++;

  // The cheap checks first: their anomalies are the easiest to read.
  const revisions = checkRevisions(history, { maxPerType: opts.maxPerType });
  const staleReads = checkStaleReadsCalls(calls, { maxPerType: opts.maxPerType });
  const linearizable = checkLinearizableCalls(calls, opts);
  return {
    valid: combineValidity([linearizable.valid, staleReads.valid, revisions.valid]),
    anomalies: [...revisions.anomalies, ...staleReads.anomalies, ...linearizable.anomalies],
    linearizable,
    staleReads,
    revisions,
    counts,
  };
}

export { checkLinearizable, checkLinearizableCalls } from './linearizable.js';
export type { LinearizableOptions, LinearizableResult, LinearizationFailure } from './linearizable.js';
export { checkStaleReads, checkStaleReadsCalls } from './stale-read.js';
export type { StaleReadOptions, StaleReadResult } from './stale-read.js';
export { checkRevisions } from './revision-monotonic.js';
export type { RevisionOptions, RevisionResult } from './revision-monotonic.js';
export { registerCalls } from './register-calls.js';
export type { Outcome, RegisterCall, RegisterF } from './register-calls.js';
export { AnomalyLog, combineValidity, unlimitedBudget } from './result.js';
export type { Anomaly, Budget, CheckResult, Validity } from './result.js';
