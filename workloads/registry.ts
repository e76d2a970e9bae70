// Every workload the harness can run, by name. A definition pairs the
// operations clients perform (create) with the checker that judges their
// history (check), so `faultline run --workload NAME` and `faultline analyze`
// need nothing workload-specific. Workload modules register themselves in
// workloads/index.ts.

import type { Anomaly, Budget, Validity } from '../checkers/result.js';
import type { Op } from '../harness/history.js';
import type { Rng } from '../harness/random.js';
import type { Workload } from './types.js';

export interface WorkloadOptions {
  rng: Rng;
  /** Rotate to a fresh key (or key set) after this many operations. */
  opsPerKey: number;
  /** Clients read with serializable consistency (expected to be stale). */
  serializable: boolean;
  concurrency: number;
}

export interface WorkloadCheck {
  valid: Validity;
  /** Why the verdict is unknown, when it is. */
  reason?: string;
  /** Per-checker details for results.json (each with what it covered). */
  checkers: Record<string, unknown>;
  anomalies: Anomaly[];
  /** Anomaly counts where a checker reports more than it lists. */
  anomalyCounts?: Record<string, number>;
}

export interface WorkloadDefinition {
  readonly name: string;
  /** One line for --help. */
  readonly summary: string;
  create(opts: WorkloadOptions): Workload;
  check(history: readonly Op[], opts: { budget: Budget }): WorkloadCheck;
}

const definitions = new Map<string, WorkloadDefinition>();

export function registerWorkload(def: WorkloadDefinition): void {
  if (definitions.has(def.name)) throw new Error(`workload ${def.name} is registered twice`);
  definitions.set(def.name, def);
}

export function workloadNames(): string[] {
  return [...definitions.keys()].sort();
}

export function findWorkload(name: string): WorkloadDefinition | undefined {
  return definitions.get(name);
}
