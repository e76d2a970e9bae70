// The part both Elle-style checkers share once the data dependencies are
// inferred: add process and real-time order, search for cycles, name the
// anomalies, decide which consistency models survive, and summarise what was
// checked per guarantee.

import { AnomalyLog, type Anomaly, type Budget, type CheckResult, type Validity } from '../result.js';
import { findCycles } from './cycles.js';
import { explainCycle, type ExplainedCycle, type Flavor } from './explain.js';
import { Graph, type EdgeList } from './graph.js';
import { MODELS, modelVerdict, type Model, type ModelVerdict } from './models.js';
import { addOrderEdges, citeOp, type CollectedTxns, type Mop } from './txn.js';

export interface ElleOptions {
  budget: Budget;
  /** The model the history must satisfy to be valid; default strict-serializable (etcd's promise). */
  require?: Model;
  /** Anomalies listed per type (counts stay exact); default 20. */
  maxPerType?: number;
}

export interface ElleStats {
  txns: number;
  ok: number;
  info: number;
  fail: number;
  keys: number;
  mops: number;
  edges: Record<'ww' | 'wr' | 'rw' | 'process' | 'realtime', number>;
  /** Strongly connected components of ww/wr/rw, and of everything with process and real-time order. */
  dataComponents: number;
  fullComponents: number;
  cycles: number;
  malformed: number;
  checkMs: number;
}

export interface ElleResult extends CheckResult {
  checker: Flavor;
  /** Every anomaly type found (cycle and non-cycle), sorted. */
  anomalyTypes: string[];
  /** Exact count per anomaly type. */
  counts: Record<string, number>;
  models: ModelVerdict;
  required: Model;
  cycles: ExplainedCycle[];
  stats: ElleStats;
  /** One line per consistency model: the verdict and what was checked. */
  summary: string[];
  /** Why the verdict is unknown, when it is. */
  cause?: string;
}

export interface Inferred<M extends Mop> {
  flavor: Flavor;
  txns: CollectedTxns<M>;
  keys: readonly string[];
  edges: EdgeList;
  log: AnomalyLog;
  historyLength: number;
}

export function finishElle<M extends Mop>(inf: Inferred<M>, opts: ElleOptions, started: number): ElleResult {
  const { txns, edges, log } = inf;
  addOrderEdges(txns.nodes, inf.historyLength, edges);
  const graph = new Graph(txns.nodes.length, edges);
  const cycleLog = new AnomalyLog(opts.maxPerType ?? 20);
  const cycles: ExplainedCycle[] = [];
  let cause: string | undefined;
  const found = findCycles(graph, { budget: opts.budget });
  const dataComponents = found.dataComponents;
  const fullComponents = found.fullComponents;
  if (found.timedOut) cause = 'cycle-search-timeout';
  for (const c of found.cycles) {
    const explained = explainCycle(inf.flavor, c.type, c.edges, edges, txns.nodes, inf.keys);
    const anomaly: Anomaly = { type: c.type, ops: explained.txns.map((_, i) => citeOp(txns.nodes[edges.src[c.edges[i]!]!]!)), explanation: explained.explanation };
    const before = cycleLog.anomalies.length;
    cycleLog.add(anomaly);
    if (cycleLog.anomalies.length > before) cycles.push(explained);
  }

  const counts: Record<string, number> = { ...log.counts };
  for (const [k, v] of Object.entries(cycleLog.counts)) counts[k] = (counts[k] ?? 0) + v;
  const anomalyTypes = Object.keys(counts).sort();
  const models = modelVerdict(anomalyTypes);
  const required = opts.require ?? 'strict-serializable';
  const violated = !models.satisfied.includes(required);
  const valid: Validity = violated ? false : cause !== undefined ? 'unknown' : true;
  const outcomes = { ok: 0, info: 0, fail: 0 };
  let mops = 0;
  for (const t of txns.all) {
    outcomes[t.outcome]++;
    mops += t.mops.length;
  }
  const stats: ElleStats = {
    txns: txns.all.length,
    ...outcomes,
    keys: inf.keys.length,
    mops,
    edges: graph.counts(),
    dataComponents,
    fullComponents,
    cycles: cycles.length,
    malformed: txns.malformed.length,
    checkMs: Date.now() - started,
  };
  return {
    valid,
    anomalies: [...log.anomalies, ...cycleLog.anomalies],
    checker: inf.flavor,
    anomalyTypes,
    counts,
    models,
    required,
    cycles,
    stats,
    summary: summarise(models, counts, stats, cause),
    ...(cause !== undefined ? { cause } : {}),
  };
}

const CYCLE_TYPES = /^(G0|G1c|G-single|G-nonadjacent|G2-item)/;

// One formatter for every number: toLocaleString builds a new one per call.
const NUMBER_FORMAT = new Intl.NumberFormat('en-US');

function fmt(n: number): string {
  return NUMBER_FORMAT.format(n);
}

function summarise(models: ModelVerdict, counts: Record<string, number>, stats: ElleStats, cause: string | undefined): string[] {
  const scope = `${fmt(stats.txns)} txns (${fmt(stats.ok)} ok, ${fmt(stats.info)} indeterminate, ${fmt(stats.fail)} failed), ${fmt(stats.keys)} keys`;
  return MODELS.map((m) => {
    // The anomaly types that, each on its own, rule this model out.
    const found = Object.entries(counts).filter(([type]) => !modelVerdict([type]).satisfied.includes(m));
    const cycles = found.filter(([t]) => CYCLE_TYPES.test(t)).reduce((n, [, c]) => n + c, 0);
    const other = found.filter(([t]) => !CYCLE_TYPES.test(t));
    const orders = m === 'strict-serializable' ? 'ww/wr/rw + process + real-time' : 'ww/wr/rw';
    const holds = models.satisfied.includes(m) ? (cause ? 'unknown' : 'holds') : 'VIOLATED';
    const extra = other.length ? `, ${other.map(([t, c]) => `${fmt(c)} ${t}`).join(', ')}` : '';
    return `${m}: ${holds} (${scope}, ${fmt(cycles)} cycles in ${orders}${extra})`;
  });
}
