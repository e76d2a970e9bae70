// The register workload's entry in the registry: independent CAS registers,
// checked for linearizability, stale reads and revision monotonicity.

import { checkRegister } from '../checkers/index.js';
import type { WorkloadDefinition } from './registry.js';
import { RegisterWorkload } from './register.js';

export const registerDefinition: WorkloadDefinition = {
  name: 'register',
  summary: 'independent keys, each a register with read, write and compare-and-set',
  create: (o) => new RegisterWorkload({ rng: o.rng, opsPerKey: o.opsPerKey, serializable: o.serializable }),
  check(history, { budget }) {
    const r = checkRegister(history, { budget });
    const { anomalies: _l, ...linearizable } = r.linearizable;
    const { anomalies: _s, ...staleReads } = r.staleReads;
    const { anomalies: _r, ...revisions } = r.revisions;
    const anomalyCounts: Record<string, number> = {};
    for (const part of [r.staleReads.counts, r.revisions.counts]) {
      for (const [k, v] of Object.entries(part)) anomalyCounts[k] = Math.max(anomalyCounts[k] ?? 0, v);
    }
    return {
      valid: r.valid,
      ...(r.valid === 'unknown'
        ? { reason: `linearizability undecided (${r.linearizable.cause ?? 'budget'}) for keys ${r.linearizable.keys.unknown.join(', ')}` }
        : {}),
      checkers: { linearizable, staleReads, revisions, counts: r.counts },
      anomalies: r.anomalies,
      anomalyCounts,
    };
  },
};
