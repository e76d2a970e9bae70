// The workloads `faultline run --workload NAME` knows. Each module adds one line.
import { registerDefinition } from './register-definition.js';
import { registerWorkload } from './registry.js';

registerWorkload(registerDefinition);

export { findWorkload, workloadNames, type WorkloadDefinition } from './registry.js';
