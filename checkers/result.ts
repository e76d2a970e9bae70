// Shared result shapes for every checker. A checker never throws on a bad
// history it can still reason about: it reports anomalies instead.

import type { Op } from '../harness/history.js';

/** 'unknown': the checker ran out of time or memory before reaching a verdict. */
export type Validity = true | false | 'unknown';

export interface Anomaly {
  type: string;
  key?: string;
  /** The operations involved: each op's completion, or its invocation when it never completed. */
  ops: Op[];
  /** One sentence a person can read. */
  explanation: string;
}

export interface CheckResult {
  valid: Validity;
  anomalies: Anomaly[];
}

/**
 * A time budget. The checker compares `now()` against `deadline` now and then,
 * so tests can pass a counter instead of a clock and stay deterministic.
 */
export interface Budget {
  deadline: number;
  now: () => number;
}

/** A budget that never runs out; only for histories known to be small. */
export const unlimitedBudget: Budget = { deadline: Number.POSITIVE_INFINITY, now: () => 0 };

/** false wins over 'unknown', which wins over true. */
export function combineValidity(values: readonly Validity[]): Validity {
  if (values.includes(false)) return false;
  if (values.includes('unknown')) return 'unknown';
  return true;
}

/**
 * Collects anomalies, keeping at most `perType` of each type so that one
 * fault that taints every later op does not produce a million entries; the
 * counts stay exact.
 */
export class AnomalyLog {
  readonly anomalies: Anomaly[] = [];
  readonly counts: Record<string, number> = {};
  constructor(private readonly perType = 100) {}

  add(anomaly: Anomaly): void {
    const seen = this.counts[anomaly.type] ?? 0;
    this.counts[anomaly.type] = seen + 1;
    if (seen < this.perType) this.anomalies.push(anomaly);
  }

  get size(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
}
