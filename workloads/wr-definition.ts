// The wr workload's entry in the registry: read/write-register transactions,
// checked Elle-style with etcd's revisions as the version order.
import { checkRwRegister } from '../checkers/elle/index.js';
import { elleWorkloadCheck } from './append-definition.js';
import type { WorkloadDefinition } from './registry.js';
import { WrWorkload } from './wr.js';

export const wrDefinition: WorkloadDefinition = {
  name: 'wr',
  summary: 'Elle read/write-register transactions with unique values; etcd revisions give the version order',
  create: (o) => new WrWorkload({ rng: o.rng, opsPerKey: o.opsPerKey, serializable: o.serializable }),
  check: (history, { budget }) => elleWorkloadCheck('wr', checkRwRegister(history, { budget })),
};
