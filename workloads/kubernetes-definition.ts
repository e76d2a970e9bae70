// The kubernetes workload's entry in the registry.
import { checkKubernetes } from '../checkers/kubernetes.js';
import type { WorkloadDefinition } from './registry.js';
import { KubernetesWorkload } from './kubernetes.js';

export const kubernetesDefinition: WorkloadDefinition = {
  name: 'kubernetes',
  summary: "kube-apiserver's storage patterns: conditional create/update/delete on mod revision, paginated lists, list + watch",
  create: (o) => new KubernetesWorkload({ rng: o.rng }),
  check(history) {
    const r = checkKubernetes(history);
    return {
      valid: r.valid,
      checkers: { kubernetes: { valid: r.valid, summary: r.summary, coverage: r.coverage, counts: r.counts } },
      anomalies: r.anomalies,
      anomalyCounts: r.counts,
    };
  },
};
