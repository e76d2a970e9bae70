// --target: `<number>w/s`, `<number>r/s` or `<number>ops/s`, per node.
// Per node means the cluster's measured throughput divided by the member
// count: a 3-member cluster passes `1000w/s` at 3000 writes/s or more. This
// reads etcd's published "1000 writes/s per node" the way a capacity figure
// is read (more members, more clients served), not as a per-member rate,
// since every write goes through the leader anyway.

export type TargetUnit = 'w' | 'r' | 'ops';

export interface Target {
  perNode: number;
  unit: TargetUnit;
  /** As given, for messages. */
  text: string;
}

export class TargetSyntaxError extends Error {
  override readonly name = 'TargetSyntaxError';
}

const TARGET_RE = /^(\d+(?:\.\d+)?|\.\d+)(?:e(\d+))?\s*(w|r|ops)\/s$/i;

export function parseTarget(text: string): Target {
  const m = TARGET_RE.exec(text.trim());
  if (!m) throw new TargetSyntaxError(`--target must look like 1000w/s, 500r/s or 2000ops/s (a number per node, then w/s, r/s or ops/s), got "${text}"`);
  const perNode = Number(m[1]) * 10 ** Number(m[2] ?? 0);
  if (!Number.isFinite(perNode) || perNode <= 0) throw new TargetSyntaxError(`--target must be a positive rate, got "${text}"`);
  return { perNode, unit: m[3]!.toLowerCase() as TargetUnit, text: text.trim() };
}

export function unitLabel(unit: TargetUnit): string {
  return unit === 'w' ? 'writes/s' : unit === 'r' ? 'reads/s' : 'ops/s';
}

/** Successful completions per second, by what a target can count. */
export interface Throughputs {
  writes: number;
  reads: number;
  /** All successful requests; for watch-fanout, events delivered. */
  ops: number;
}

export interface TargetVerdict {
  target: Target;
  nodes: number;
  /** Cluster-wide throughput in the target's unit. */
  measured: number;
  measuredPerNode: number;
  /** target.perNode × nodes: the cluster-wide rate needed to pass. */
  required: number;
  pass: boolean;
}

export function measuredFor(unit: TargetUnit, t: Throughputs): number {
  return unit === 'w' ? t.writes : unit === 'r' ? t.reads : t.ops;
}

export function evaluateTarget(target: Target, throughput: Throughputs, nodes: number): TargetVerdict {
  if (!Number.isInteger(nodes) || nodes < 1) throw new RangeError(`nodes must be a positive integer, got ${nodes}`);
  const measured = measuredFor(target.unit, throughput);
  const measuredPerNode = measured / nodes;
  return { target, nodes, measured, measuredPerNode, required: target.perNode * nodes, pass: measuredPerNode >= target.perNode };
}

export function formatVerdict(v: TargetVerdict): string {
  const unit = unitLabel(v.target.unit);
  const cmp = v.pass ? '≥' : '<';
  return `target ${v.target.text} per node: measured ${fmtRate(v.measured)} ${unit} over ${v.nodes} node${v.nodes === 1 ? '' : 's'} = ${fmtRate(v.measuredPerNode)} ${unit} per node ${cmp} ${fmtRate(v.target.perNode)} (cluster needs ${fmtRate(v.required)}): ${v.pass ? 'PASS' : 'FAIL'}`;
}

export function fmtRate(x: number): string {
  if (x >= 100) return Math.round(x).toString();
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}
