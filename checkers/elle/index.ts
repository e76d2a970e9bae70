// Elle-style transactional checkers: list-append and read/write registers.
export { checkListAppend } from './list-append.js';
export { checkRwRegister } from './rw-register.js';
export type { ElleOptions, ElleResult, ElleStats } from './analysis.js';
export type { CycleStep, ExplainedCycle, Flavor } from './explain.js';
export { MODELS, modelVerdict, impliedAnomalies } from './models.js';
export type { Model, ModelVerdict } from './models.js';
export type { AppendMop, Mop, WrMop } from './txn.js';
