// The benchmark's results as data (results.json, --json) and as text.
import type { BenchOp, BenchOptions, Db } from './args.js';
import type { PercentileSummary } from './histogram.js';
import type { Kind, Recorder } from './load.js';
import type { CasStats } from './ops.js';
import type { ProcessUsage } from './proc.js';
import { fmtRate, formatVerdict, measuredFor, unitLabel, type TargetUnit, type TargetVerdict, type Throughputs } from './target.js';

const MIB = 1024 * 1024;

export interface UsageSummary {
  name: string;
  pid: number | null;
  cpuAvgPercent: number;
  cpuMaxPercent: number;
  rssMaxMiB: number;
  rssEndMiB: number;
  /** Once a second: [seconds since load start, CPU % of one core, RSS MiB]. */
  points: [number, number, number][];
}

export interface SecondSummary {
  t: number;
  /** Seconds this bucket covers: 1, except a shorter last one. */
  spanS: number;
  ok: number;
  reads: number;
  writes: number;
  events: number;
  errors: number;
  dropped: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface WatchSummary {
  watchers: number;
  puts: number;
  expectedEvents: number;
  deliveredEvents: number;
  /** Events that did not arrive within the grace period after the writers stopped. */
  missingEvents: number;
  eventsPerSec: number;
}

export interface BenchRunResult {
  /** What ran: the launched server ("ours", "etcd") or "endpoints". */
  label: Db | 'endpoints';
  server: string;
  nodes: number;
  endpoints: string[];
  op: BenchOp;
  clients: number;
  conns: number;
  rate: number;
  durationS: number;
  elapsedS: number;
  preloadedKeys: number;
  requests: { issued: number; ok: number; errors: number; dropped: number; abandoned: number };
  throughput: Throughputs;
  /** Request latency; for watch-fanout, event delivery latency. Microseconds. */
  latencyUs: PercentileSummary;
  latencyByKindUs: Partial<Record<Kind, PercentileSummary>>;
  errors: Record<string, number>;
  cas?: CasStats;
  watch?: WatchSummary;
  members: UsageSummary[];
  client: UsageSummary | null;
  timeline: SecondSummary[];
  target?: TargetVerdict;
  interrupted: boolean;
  unexpectedExits: string[];
  runDir?: string;
}

export interface Ratio {
  ours: number;
  etcd: number;
  /** ours / etcd; null when etcd's figure is zero. */
  ratio: number | null;
}

export interface Comparison {
  unit: TargetUnit;
  throughput: Ratio;
  p99Ms: Ratio;
  /** Peak RSS per member, mean over members. */
  rssMiB: Ratio;
}

export interface BenchResults {
  faultline: string;
  command: string[];
  startedAt: string;
  /** "pass" / "fail" from --target on the first run; "none" without a target; "error" when it could not run. */
  verdict: 'pass' | 'fail' | 'none' | 'error';
  exitCode: number;
  reportDir: string | null;
  report: string | null;
  runs: BenchRunResult[];
  comparison: Comparison | null;
  error?: string;
}

export function usageSummary(u: ProcessUsage): UsageSummary {
  return {
    name: u.name,
    pid: u.pid ?? null,
    cpuAvgPercent: round(u.cpuAvgPercent, 1),
    cpuMaxPercent: round(u.cpuMaxPercent, 1),
    rssMaxMiB: round(u.rssMaxBytes / MIB, 1),
    rssEndMiB: round(u.rssEndBytes / MIB, 1),
    points: u.points.map((p) => [round(p.t / 1000, 2), round(p.cpuPercent, 1), round(p.rssBytes / MIB, 1)]),
  };
}

export function timelineOf(rec: Recorder, elapsedS: number): SecondSummary[] {
  return rec.seconds.map((b, t) => ({
    t,
    spanS: Math.round(Math.max(0.001, Math.min(1, elapsedS - t)) * 1000) / 1000,
    ok: b.ok,
    reads: b.byKind.read,
    writes: b.byKind.write,
    events: b.byKind.event,
    errors: b.errors,
    dropped: b.dropped,
    p50Ms: b.latency.percentile(50) / 1000,
    p99Ms: b.latency.percentile(99) / 1000,
    maxMs: b.latency.max / 1000,
  }));
}

/** Throughputs over the measured window: successes per second. For watch-fanout, ops counts delivered events. */
export function throughputsOf(rec: Recorder, elapsedS: number, op: BenchOp): Throughputs {
  if (elapsedS <= 0) return { writes: 0, reads: 0, ops: 0 };
  const ops = op === 'watch-fanout' ? rec.ok.event : rec.ok.read + rec.ok.write;
  return { writes: rec.ok.write / elapsedS, reads: rec.ok.read / elapsedS, ops: ops / elapsedS };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function ratioOf(ours: number, etcd: number): Ratio {
  return { ours, etcd, ratio: etcd > 0 ? ours / etcd : null };
}

/** 0.98×, 5.82×, 12.3×, 150×; "n/a" when there is nothing to divide by. */
export function formatRatio(r: number | null): string {
  if (r === null || !Number.isFinite(r)) return 'n/a';
  if (r >= 100) return `${Math.round(r)}×`;
  if (r >= 10) return `${r.toFixed(1)}×`;
  return `${r.toFixed(2)}×`;
}

function meanRssMax(run: BenchRunResult): number {
  if (run.members.length === 0) return 0;
  return run.members.reduce((s, m) => s + m.rssMaxMiB, 0) / run.members.length;
}

/** The unit the comparison (and a target) counts in: the target's, else writes for write-only ops, reads for read-only ops, else ops. */
export function primaryUnit(op: BenchOp, target: TargetUnit | undefined): TargetUnit {
  if (target) return target;
  if (op === 'put' || op === 'txn-cas') return 'w';
  if (op === 'range' || op === 'range-serializable') return 'r';
  return 'ops';
}

export function compareRuns(ours: BenchRunResult, etcd: BenchRunResult, unit: TargetUnit): Comparison {
  return {
    unit,
    throughput: ratioOf(measuredFor(unit, ours.throughput), measuredFor(unit, etcd.throughput)),
    p99Ms: ratioOf(ours.latencyUs.p99 / 1000, etcd.latencyUs.p99 / 1000),
    rssMiB: ratioOf(meanRssMax(ours), meanRssMax(etcd)),
  };
}

export function formatComparison(c: Comparison): string {
  const unit = unitLabel(c.unit);
  return [
    'ours / etcd (same flags, fresh cluster each, one run each):',
    `  throughput   ${formatRatio(c.throughput.ratio).padEnd(7)} (ours ${fmtRate(c.throughput.ours)} ${unit}, etcd ${fmtRate(c.throughput.etcd)} ${unit}; above 1 = ours faster)`,
    `  p99 latency  ${formatRatio(c.p99Ms.ratio).padEnd(7)} (ours ${fmtMs(c.p99Ms.ours * 1000)} ms, etcd ${fmtMs(c.p99Ms.etcd * 1000)} ms; above 1 = ours slower)`,
    `  RSS/member   ${formatRatio(c.rssMiB.ratio).padEnd(7)} (ours ${c.rssMiB.ours.toFixed(1)} MiB, etcd ${c.rssMiB.etcd.toFixed(1)} MiB; peak, mean over members)`,
  ].join('\n');
}

export function fmtMs(us: number): string {
  const ms = us / 1000;
  if (ms < 1) return ms.toFixed(3);
  if (ms < 100) return ms.toFixed(2);
  return ms.toFixed(1);
}

export function loadDescription(o: Pick<BenchOptions, 'op' | 'clients' | 'conns' | 'rate' | 'durationS' | 'keySize' | 'valueSize' | 'keySpace' | 'sequentialKeys'>): string {
  const loop = o.rate > 0 ? `open loop at ${o.rate} req/s` : 'closed loop';
  return `${o.op}, ${o.clients} client${o.clients === 1 ? '' : 's'} over ${o.conns} conn${o.conns === 1 ? '' : 's'}, ${loop}, ${o.durationS} s, keys ${o.keySize} B over ${o.keySpace}${o.sequentialKeys ? ' (sequential)' : ''}, values ${o.valueSize} B`;
}

export function formatRun(r: BenchRunResult): string {
  const lines: string[] = [];
  const where = r.label === 'endpoints' ? r.endpoints.join(',') : `${r.nodes} × ${r.label === 'ours' ? 'faultline-etcd' : 'etcd'} (${r.server})`;
  lines.push(`${r.label === 'endpoints' ? 'endpoints' : r.label}: ${where}${r.interrupted ? ' (interrupted)' : ''}`);
  const q = r.requests;
  lines.push(`  requests    ${q.ok} ok, ${q.errors} errors, ${q.dropped} dropped${q.abandoned ? `, ${q.abandoned} still in flight at the end` : ''} in ${r.elapsedS.toFixed(2)} s${r.preloadedKeys ? ` (after preloading ${r.preloadedKeys} keys)` : ''}`);
  const t = r.throughput;
  const parts: string[] = [];
  if (r.op === 'watch-fanout') parts.push(`${fmtRate(t.ops)} events/s`, `${fmtRate(t.writes)} puts/s`);
  else {
    if (t.writes > 0 || r.op === 'put' || r.op === 'txn-cas') parts.push(`${fmtRate(t.writes)} writes/s`);
    if (t.reads > 0 || r.op === 'range' || r.op === 'range-serializable') parts.push(`${fmtRate(t.reads)} reads/s`);
    if (r.op === 'mixed') parts.push(`${fmtRate(t.ops)} ops/s`);
  }
  lines.push(`  throughput  ${parts.join(', ')} (${fmtRate(measuredFor(primaryUnit(r.op, r.target?.target.unit), t) / r.nodes)} per node)`);
  lines.push(`  latency ms  ${latencyLine(r.latencyUs)}${r.op === 'watch-fanout' ? '  (put start → event arrival)' : ''}`);
  for (const [kind, s] of Object.entries(r.latencyByKindUs)) {
    if (s && (r.op === 'mixed' || (r.op === 'watch-fanout' && kind === 'write'))) lines.push(`    ${kind.padEnd(8)}  ${latencyLine(s)}`);
  }
  const errs = Object.entries(r.errors).sort((a, b) => b[1] - a[1]);
  lines.push(`  errors      ${errs.length ? errs.map(([c, n]) => `${c} ${n}`).join(', ') : 'none'}`);
  if (r.cas) lines.push(`  cas         ${r.cas.succeeded} swapped, ${r.cas.failed} lost the race`);
  if (r.watch) {
    const w = r.watch;
    lines.push(`  watch       ${w.watchers} watchers, ${w.puts} puts, ${w.deliveredEvents}/${w.expectedEvents} events delivered${w.missingEvents ? ` (${w.missingEvents} missing)` : ''}`);
  }
  for (const m of r.members) lines.push(`  ${m.name.padEnd(10)}  ${usageLine(m)}`);
  if (r.members.length === 0) lines.push('  members     not sampled (no local pids with --endpoints)');
  if (r.client) lines.push(`  ${'client'.padEnd(10)}  ${usageLine(r.client)} (this process)`);
  for (const e of r.unexpectedExits) lines.push(`  exited: ${e}`);
  if (r.target) lines.push(`  ${formatVerdict(r.target)}`);
  return lines.join('\n');
}

function latencyLine(s: PercentileSummary): string {
  return `p50 ${fmtMs(s.p50)}  p90 ${fmtMs(s.p90)}  p99 ${fmtMs(s.p99)}  p99.9 ${fmtMs(s.p999)}  max ${fmtMs(s.max)}  (n=${s.count})`;
}

function usageLine(u: UsageSummary): string {
  return `pid ${u.pid ?? '?'}  cpu avg ${u.cpuAvgPercent.toFixed(0)} % (max ${u.cpuMaxPercent.toFixed(0)} %)  rss max ${u.rssMaxMiB.toFixed(1)} MiB, end ${u.rssEndMiB.toFixed(1)} MiB`;
}
