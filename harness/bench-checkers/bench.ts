// `faultline bench-checkers`: the checkers' speed on large generated
// histories, measured the same way on any machine. Each case generates its
// history first (not timed), forces a GC when it can, then runs the checker
// once on the main thread while a worker samples RSS.

import { cpus, loadavg } from 'node:os';
import { checkListAppend, checkRwRegister } from '../../checkers/elle/index.js';
import type { ElleResult } from '../../checkers/elle/index.js';
import { checkLinearizable } from '../../checkers/linearizable.js';
import type { LinearizableResult } from '../../checkers/linearizable.js';
import type { Budget, Validity } from '../../checkers/result.js';
import { simulate } from '../../checkers/sim/elle-sim.js';
import { benchHistory, pathologicalHistory } from '../../checkers/sim/register-sim.js';
import type { Op } from '../history.js';
import type { BenchCheckersOptions, CaseName } from './args.js';
import { gcFunction, RssSampler } from './memory.js';
import type { Measured } from './memory.js';

/** Targets, from the project's requirements for checker speed. */
export const TXNS_PER_S_TARGET = 100_000;
export const LINEARIZABLE_MS_TARGET = 2000;
export const LINEARIZABLE_MB_TARGET = 500;
/** How far past its budget the pathological check may end. */
export const BUDGET_SLACK_MS = 1000;

/** The Elle histories mirror `faultline run --workload append|wr` defaults: 3 active keys, each retired after 200 writes. */
const ELLE_ACTIVE_KEYS = 3;
const ELLE_WRITES_PER_KEY = 200;
/** The pathological history: keys, concurrent writers and readers per key. */
const PATHOLOGICAL = { keys: 4, writers: 40, readers: 10 };
/** Budget for the cases that must finish: generous, so a regression shows as slow rather than hung forever. */
const GENEROUS_BUDGET_MS = 10 * 60_000;
const MB = 1_000_000;

export type Verdict = 'valid' | 'invalid' | 'unknown' | 'error';

export interface CaseReport {
  name: CaseName;
  /** The function measured. */
  checker: string;
  /** What the history holds; counts only. */
  history: Record<string, number>;
  /** The same, as a sentence. */
  historyText: string;
  generateMs: number;
  checkMs: number;
  cpuMs: number;
  /** Work per second of wall time (what the targets use), and per second of the process's CPU time. */
  throughput: { value: number; unit: 'txns/s' | 'ops/s' | 'steps/s'; perCpuSecond: number };
  memory: { rssBeforeMB: number; peakRssMB: number; heapUsedBeforeMB: number; heapUsedAfterMB: number };
  verdict: Verdict;
  /** Why the verdict is unknown or an error. */
  cause?: string;
  target: { text: string; met: boolean };
}

export interface BenchCheckersReport {
  command: 'bench-checkers';
  node: string;
  platform: string;
  cpu: string;
  cpus: number;
  /** 1-minute load average when the run began; other work on the machine slows every figure. */
  loadAverage: number;
  seed: number;
  gc: 'forced before each check' | 'not available';
  memoryMethod: string;
  cases: CaseReport[];
  met: boolean;
}

interface Generated {
  history: Op[];
  /** Shape parameters to report with the history's counts. */
  extra: Record<string, number>;
}

interface Checked {
  verdict: Validity;
  cause?: string;
  /** Units of work for the throughput figure. */
  units: number;
  history: Record<string, number>;
  historyText: string;
}

interface CaseDef {
  checker: string;
  unit: CaseReport['throughput']['unit'];
  generate(o: BenchCheckersOptions): Generated;
  /** Runs the checker, which is all that is timed, and returns how to summarise its result afterwards. */
  check(history: Op[], o: BenchCheckersOptions): () => Checked;
  target(o: BenchCheckersOptions, r: Omit<CaseReport, 'target'>): { text: string; met: boolean };
}

const nf = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const fmt = (n: number): string => nf.format(n);
const mb = (bytes: number): number => Math.round((bytes / MB) * 10) / 10;
const budgetFrom = (ms: number): Budget => ({ deadline: performance.now() + ms, now: () => performance.now() });

function elleChecked(r: ElleResult, events: number): Checked {
  const s = r.stats;
  return {
    verdict: r.valid,
    ...(r.cause !== undefined ? { cause: r.cause } : {}),
    units: s.txns,
    history: { events, txns: s.txns, ok: s.ok, info: s.info, fail: s.fail, mops: s.mops, keys: s.keys },
    historyText: `${fmt(s.txns)} txns (${fmt(s.ok)} ok, ${fmt(s.info)} info, ${fmt(s.fail)} fail), ${fmt(s.mops)} micro-ops over ${fmt(s.keys)} keys`,
  };
}

function registerChecked(r: LinearizableResult, history: readonly Op[]): Checked {
  let ops = 0;
  let info = 0;
  const open = new Set<Op['process']>();
  for (const op of history) {
    if (op.type === 'invoke') {
      ops++;
      open.add(op.process);
    } else {
      if (op.type === 'info') info++;
      open.delete(op.process);
    }
  }
  info += open.size;
  const keys = r.keys.linearizable.length + r.keys.notLinearizable.length + r.keys.unknown.length;
  return {
    verdict: r.valid,
    ...(r.cause !== undefined ? { cause: r.cause } : {}),
    units: ops,
    history: { events: history.length, ops, info, keys, steps: r.steps },
    historyText: `${fmt(ops)} ops (${fmt(info)} info) over ${fmt(keys)} keys`,
  };
}

function elleTarget(_o: BenchCheckersOptions, r: Omit<CaseReport, 'target'>): { text: string; met: boolean } {
  return { text: `>= ${fmt(TXNS_PER_S_TARGET)} txns/s and valid`, met: r.throughput.value >= TXNS_PER_S_TARGET && r.verdict === 'valid' };
}

const CASES: Record<CaseName, CaseDef> = {
  append: {
    checker: 'checkListAppend',
    unit: 'txns/s',
    generate: (o) => ({
      history: simulate('append', { seed: o.seed, txns: o.txns, processes: o.processes, keys: ELLE_ACTIVE_KEYS, maxWritesPerKey: ELLE_WRITES_PER_KEY }),
      extra: { processes: o.processes },
    }),
    check: (h) => {
      const r = checkListAppend(h, { budget: budgetFrom(GENEROUS_BUDGET_MS) });
      return () => elleChecked(r, h.length);
    },
    target: elleTarget,
  },
  wr: {
    checker: 'checkRwRegister',
    unit: 'txns/s',
    generate: (o) => ({
      history: simulate('wr', { seed: o.seed, txns: o.txns, processes: o.processes, keys: ELLE_ACTIVE_KEYS, maxWritesPerKey: ELLE_WRITES_PER_KEY, revisions: true }),
      extra: { processes: o.processes },
    }),
    check: (h) => {
      const r = checkRwRegister(h, { budget: budgetFrom(GENEROUS_BUDGET_MS) });
      return () => elleChecked(r, h.length);
    },
    target: elleTarget,
  },
  linearizable: {
    checker: 'checkLinearizable',
    unit: 'ops/s',
    generate: (o) => ({ history: benchHistory(o.ops, o.keys, o.processes, o.infoPercent, undefined, o.seed), extra: { processes: o.processes } }),
    check: (h) => {
      const r = checkLinearizable(h, { budget: budgetFrom(GENEROUS_BUDGET_MS) });
      return () => registerChecked(r, h);
    },
    target: (_o, r) => ({
      text: `< ${fmt(LINEARIZABLE_MS_TARGET)} ms, < ${LINEARIZABLE_MB_TARGET} MB peak RSS and valid`,
      met: r.checkMs < LINEARIZABLE_MS_TARGET && r.memory.peakRssMB < LINEARIZABLE_MB_TARGET && r.verdict === 'valid',
    }),
  },
  pathological: {
    checker: 'checkLinearizable',
    unit: 'steps/s',
    generate: (o) => ({
      history: pathologicalHistory({ ...PATHOLOGICAL, seed: o.seed }),
      extra: { writersPerKey: PATHOLOGICAL.writers, readersPerKey: PATHOLOGICAL.readers },
    }),
    check: (h, o) => {
      const r = checkLinearizable(h, { budget: budgetFrom(o.budgetS * 1000) });
      return () => ({ ...registerChecked(r, h), units: r.steps });
    },
    target: (o, r) => ({
      text: `"unknown" within the ${fmt(o.budgetS * 1000)} ms budget + ${fmt(BUDGET_SLACK_MS)} ms`,
      met: r.verdict === 'unknown' && r.checkMs <= o.budgetS * 1000 + BUDGET_SLACK_MS,
    }),
  },
};

const VERDICT: Record<string, Verdict> = { true: 'valid', false: 'invalid', unknown: 'unknown' };

function describeHistory(name: CaseName, o: BenchCheckersOptions, checked: Checked): string {
  switch (name) {
    case 'append':
    case 'wr':
      return `${checked.historyText} (${ELLE_ACTIVE_KEYS} active at a time, each retired after ${ELLE_WRITES_PER_KEY} writes), ${fmt(o.processes)} processes`;
    case 'linearizable':
      return `${checked.historyText}, ${fmt(o.processes)} processes`;
    case 'pathological':
      return `${checked.historyText}: per key ${PATHOLOGICAL.writers} concurrent writes (every third indeterminate) and ${PATHOLOGICAL.readers} concurrent reads, then reads a, b, a`;
  }
}

function runCase(name: CaseName, o: BenchCheckersOptions, sampler: RssSampler, gc: (() => void) | undefined): CaseReport {
  const def = CASES[name];
  gc?.();
  const genStart = performance.now();
  const { history, extra } = def.generate(o);
  const generateMs = performance.now() - genStart;
  gc?.();
  const m: Measured<(() => Checked) | Error> = sampler.measure((): (() => Checked) | Error => {
    try {
      return def.check(history, o);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  });
  const failed = m.result instanceof Error ? m.result : undefined;
  const checked: Checked =
    m.result instanceof Error ? { verdict: 'unknown', units: 0, history: { events: history.length }, historyText: `${fmt(history.length)} events` } : m.result();
  const base: Omit<CaseReport, 'target'> = {
    name,
    checker: def.checker,
    history: { ...checked.history, ...extra },
    historyText: describeHistory(name, o, checked),
    generateMs: Math.round(generateMs),
    checkMs: Math.round(m.wallMs * 10) / 10,
    cpuMs: Math.round(m.cpuMs),
    throughput: {
      value: m.wallMs > 0 ? Math.round((checked.units / m.wallMs) * 1000) : 0,
      unit: def.unit,
      perCpuSecond: m.cpuMs > 0 ? Math.round((checked.units / m.cpuMs) * 1000) : 0,
    },
    memory: { rssBeforeMB: mb(m.rssBefore), peakRssMB: mb(m.peakRss), heapUsedBeforeMB: mb(m.heapUsedBefore), heapUsedAfterMB: mb(m.heapUsedAfter) },
    verdict: failed ? 'error' : VERDICT[String(checked.verdict)]!,
    ...(failed ? { cause: `checker threw: ${failed.message}` } : checked.cause !== undefined ? { cause: checked.cause } : {}),
  };
  return { ...base, target: def.target(o, base) };
}

/** Wall time well above CPU time: other work on the machine held the CPU. */
function waited(r: CaseReport): boolean {
  return r.checkMs > 50 && r.checkMs > 1.25 * r.cpuMs;
}

export function formatCase(r: CaseReport): string {
  const verdict = r.cause !== undefined ? `${r.verdict} (${r.cause})` : r.verdict;
  return [
    `${r.name} — ${r.checker}`,
    `  history     ${r.historyText}; ${fmt(r.history.events ?? 0)} events, generated in ${fmt(r.generateMs)} ms (not counted)`,
    `  check       ${fmt(r.checkMs)} ms wall, ${fmt(r.cpuMs)} ms CPU`,
    `  throughput  ${fmt(r.throughput.value)} ${r.throughput.unit} (${fmt(r.throughput.perCpuSecond)} per CPU second)`,
    `  memory      peak RSS ${r.memory.peakRssMB.toFixed(1)} MB (${r.memory.rssBeforeMB.toFixed(1)} MB before); heap used ${r.memory.heapUsedBeforeMB.toFixed(1)} MB before, ${r.memory.heapUsedAfterMB.toFixed(1)} MB after`,
    ...(waited(r) ? [`  note        wall time is ${(r.checkMs / r.cpuMs).toFixed(1)} × the CPU time: the process waited for a CPU, so the figures understate the checker`] : []),
    `  verdict     ${verdict}`,
    `  target      ${r.target.text}: ${r.target.met ? 'met' : 'MISSED'}`,
    '',
    '',
  ].join('\n');
}

function header(report: Omit<BenchCheckersReport, 'cases' | 'met'>): string {
  return [
    `faultline bench-checkers: node ${report.node} on ${report.platform}, ${report.cpus} × ${report.cpu}, load average ${report.loadAverage.toFixed(2)}, seed ${report.seed}`,
    `GC ${report.gc}; ${report.memoryMethod}.`,
    ...(report.loadAverage > report.cpus
      ? [`Note: the load average exceeds the ${report.cpus} CPUs; other work competes for them, so wall times run longer than the checkers need.`]
      : []),
    '',
    '',
  ].join('\n');
}

export interface BenchCheckersIo {
  out: NodeJS.WritableStream;
}

/** Runs the chosen cases; exit code 0 when every target is met, else 1. */
export async function runBenchCheckers(o: BenchCheckersOptions, io: BenchCheckersIo): Promise<{ exitCode: number; report: BenchCheckersReport }> {
  const gc = gcFunction();
  const sampler = await RssSampler.start(5);
  const cpu = cpus();
  const head: Omit<BenchCheckersReport, 'cases' | 'met'> = {
    command: 'bench-checkers',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpu[0]?.model.trim() ?? 'unknown CPU',
    cpus: cpu.length,
    loadAverage: Math.round(loadavg()[0]! * 100) / 100,
    seed: o.seed,
    gc: gc ? 'forced before each check' : 'not available',
    memoryMethod: `peak RSS: whole process, history included, sampled every ${sampler.intervalMs} ms by a worker thread during the check; heap used: V8 main heap just before and right after the check; MB = 10^6 bytes`,
  };
  if (!o.json) io.out.write(header(head));
  const cases: CaseReport[] = [];
  try {
    for (const name of o.cases) {
      const r = runCase(name, o, sampler, gc);
      cases.push(r);
      if (!o.json) io.out.write(formatCase(r));
      // Let the sampler's and the stream's callbacks run between cases.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    await sampler.stop();
  }
  const met = cases.every((c) => c.target.met);
  const report: BenchCheckersReport = { ...head, cases, met };
  if (o.json) io.out.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const missed = cases.filter((c) => !c.target.met).map((c) => c.name);
    io.out.write(missed.length === 0 ? `All ${cases.length} targets met.\n` : `${missed.length} of ${cases.length} targets missed: ${missed.join(', ')}.\n`);
  }
  return { exitCode: met ? 0 : 1, report };
}
