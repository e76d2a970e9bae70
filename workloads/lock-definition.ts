// The lock workloads' entries in the registry: `lock` (counter in etcd,
// fenced by the lock key's create revision; must be valid on a correct
// etcd) and `lock-memory` (counter in the harness, unfenced; expected to
// fail under pause).
import { checkLock, UNFENCED_LOCK_EXPLANATION, type LockCheckMode } from '../checkers/lock.js';
import type { WorkloadDefinition } from './registry.js';
import { LockWorkload } from './lock.js';

function definition(name: string, mode: LockCheckMode, summary: string): WorkloadDefinition {
  return {
    name,
    summary,
    create: (o) => new LockWorkload({ rng: o.rng, mode }),
    check(history) {
      const r = checkLock(history, { mode });
      const explain = mode === 'memory' && r.valid === false ? { why: UNFENCED_LOCK_EXPLANATION } : {};
      return {
        valid: r.valid,
        checkers: { lock: { valid: r.valid, mode, summary: r.summary, coverage: r.coverage, counts: r.counts, ...explain } },
        anomalies: r.anomalies,
        anomalyCounts: r.counts,
      };
    },
  };
}

export const lockDefinition = definition('lock', 'etcd', 'etcd lock recipe guarding a counter in etcd, each write fenced by the lock key\'s create revision');
export const lockMemoryDefinition = definition('lock-memory', 'memory', 'etcd lock recipe guarding an in-memory counter without fencing (expected to fail under pause)');
