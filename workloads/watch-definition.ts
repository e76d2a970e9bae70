// The watch workload's entry in the registry.
import { checkWatch } from '../checkers/watch.js';
import type { WorkloadDefinition } from './registry.js';
import { WatchWorkload } from './watch.js';

export const watchDefinition: WorkloadDefinition = {
  name: 'watch',
  summary: 'writers put unique values under a prefix; watchers reconnect from their last revision; checks the six watch guarantees, prev_kv and compaction cancels',
  create: (o) => new WatchWorkload({ rng: o.rng, concurrency: o.concurrency }),
  check(history) {
    const r = checkWatch(history);
    return {
      valid: r.valid,
      checkers: { watch: { valid: r.valid, summary: r.summary, coverage: r.coverage, counts: r.counts } },
      anomalies: r.anomalies,
      anomalyCounts: r.counts,
    };
  },
};
