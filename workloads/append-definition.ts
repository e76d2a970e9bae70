// The append workload's entry in the registry: Elle's list-append
// transactions, checked for the strongest consistency model they satisfy
// (etcd promises strict serializability).
import { checkListAppend, type ElleResult } from '../checkers/elle/index.js';
import { AppendWorkload } from './append.js';
import type { WorkloadCheck, WorkloadDefinition } from './registry.js';

export const appendDefinition: WorkloadDefinition = {
  name: 'append',
  summary: 'Elle list-append transactions over a few rotating keys (guarded read-modify-write Txns)',
  create: (o) => new AppendWorkload({ rng: o.rng, opsPerKey: o.opsPerKey, serializable: o.serializable }),
  check: (history, { budget }) => elleWorkloadCheck('append', checkListAppend(history, { budget })),
};

/**
 * Shapes an Elle-style result for results.json: the verdict, the models that
 * hold, a line per guarantee, and the explained cycles (anomalies listed once).
 */
export function elleWorkloadCheck(name: string, r: ElleResult): WorkloadCheck {
  const { anomalies, cycles, ...rest } = r;
  return {
    valid: r.valid,
    ...(r.valid === 'unknown' ? { reason: `${name}: ${r.cause ?? 'undecided'}` } : {}),
    checkers: { [name]: { ...rest, cycles: cycles.map((c) => ({ type: c.type, txns: c.txns, steps: c.steps })) } },
    anomalies,
    anomalyCounts: r.counts,
  };
}
