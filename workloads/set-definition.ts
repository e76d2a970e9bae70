// The set workload's entry in the registry: CAS-loop adds of unique elements,
// checked like Jepsen's set-full (lost, stale, unexpected, visibility latency).
import { checkSet } from '../checkers/set.js';
import type { WorkloadDefinition } from './registry.js';
import { SetWorkload } from './set.js';

export const setDefinition: WorkloadDefinition = {
  name: 'set',
  summary: 'unique elements added to a set by a compare-and-set loop; checked for lost, stale and unexpected elements',
  create: (o) => new SetWorkload({ rng: o.rng, opsPerKey: o.opsPerKey, serializable: o.serializable }),
  check(history) {
    const r = checkSet(history);
    const { anomalies, valid, ...rest } = r;
    return { valid, checkers: { set: rest }, anomalies, anomalyCounts: r.counts };
  },
};
