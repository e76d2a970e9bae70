// The workloads `faultline run --workload NAME` knows. Each module adds one line.
import { registerDefinition } from './register-definition.js';
import { registerWorkload } from './registry.js';

registerWorkload(registerDefinition);
registerWorkload((await import('./append-definition.js')).appendDefinition);
registerWorkload((await import('./wr-definition.js')).wrDefinition);
registerWorkload((await import('./bank-definition.js')).bankDefinition);
registerWorkload((await import('./set-definition.js')).setDefinition);
registerWorkload((await import('./watch-definition.js')).watchDefinition);
registerWorkload((await import('./lock-definition.js')).lockDefinition);
registerWorkload((await import('./lock-definition.js')).lockMemoryDefinition);
registerWorkload((await import('./kubernetes-definition.js')).kubernetesDefinition);

export { findWorkload, workloadNames, type WorkloadDefinition } from './registry.js';
