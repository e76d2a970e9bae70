// `faultline bench`: launch a cluster (or take --endpoints), drive one load,
// sample the members, and report. With --vs the same load runs again on a
// fresh cluster of the other server and the two are compared. Every process
// started is torn down on every way out, Ctrl-C included.
import { randomBytes, randomInt } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CleanupRegistry, installProcessHooks } from '../cleanup.js';
import { Cluster, loopbackLayout } from '../cluster/cluster.js';
import { ProcessGuard, reapLeftovers } from '../cluster/guard.js';
import { findFreePortBlock } from '../cluster/ports.js';
import { CouldNotRun, packageVersion, resolveServer, type ResolvedServer } from '../server.js';
import { createRunDir, writeJson } from '../store.js';
import type { BenchOptions, Db } from './args.js';
import { openConns, type Conn } from './conns.js';
import { renderBenchReport } from './html.js';
import { driveLoad, Recorder, type Kind } from './load.js';
import { makeIssuer, needsPreload, PRELOAD_LIMIT, preloadKeys } from './ops.js';
import { ProcSampler, type SampledProcess } from './proc.js';
import {
  compareRuns,
  fmtMs,
  formatComparison,
  formatRun,
  loadDescription,
  primaryUnit,
  throughputsOf,
  timelineOf,
  usageSummary,
  type BenchResults,
  type BenchRunResult,
} from './results.js';
import { evaluateTarget, fmtRate } from './target.js';
import { WatcherSet } from './watch.js';

export interface BenchIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  installHooks: boolean;
}

export interface BenchOutcome {
  exitCode: number;
  results: BenchResults;
}

const STARTUP_TIMEOUT_MS = 30_000;
/** After the writers stop, how long watchers get to receive the last events. */
const WATCH_GRACE_MS = 3_000;

export function benchDirName(opts: Pick<BenchOptions, 'op' | 'db' | 'endpoints'>): string {
  return `bench-${opts.op}-${opts.endpoints ? 'endpoints' : opts.db}`;
}

export async function runBench(opts: BenchOptions, io: BenchIo, command: string[] = []): Promise<BenchOutcome> {
  const cleanup = new CleanupRegistry();
  const interrupt = new AbortController();
  const human = !opts.json;
  const say = (msg: string) => {
    if (human) io.out.write(`${msg}\n`);
  };
  const hooks = io.installHooks
    ? installProcessHooks(
        cleanup,
        (sig) => {
          io.err.write(`faultline: ${sig} received; stopping the benchmark and cleaning up (again to force)\n`);
          interrupt.abort();
        },
        (m) => io.err.write(`${m}\n`),
      )
    : undefined;

  const results: BenchResults = {
    faultline: packageVersion(),
    command: ['faultline', 'bench', ...command],
    startedAt: new Date().toISOString(),
    verdict: 'none',
    exitCode: 0,
    reportDir: null,
    report: null,
    runs: [],
    comparison: null,
  };

  try {
    const plan: (Db | 'endpoints')[] = opts.endpoints ? ['endpoints'] : [opts.db, ...(opts.vs ? [opts.vs] : [])];
    // Resolve every server first: a missing etcd for --vs should stop us before the first run, not after it.
    const servers = new Map<Db, ResolvedServer>();
    for (const label of plan) if (label !== 'endpoints') servers.set(label, await resolveServer(label, opts.etcdBin));

    const benchDir = createRunDir(opts.store, benchDirName(opts));
    results.reportDir = benchDir;
    const liveDir = join(opts.store, '.live');
    for (const dead of reapLeftovers(liveDir)) {
      if (dead.killed.length) say(`faultline: killed ${dead.killed.length} member process(es) left by an earlier run: ${dead.killed.join(', ')}`);
    }
    const guard = new ProcessGuard(liveDir, `bench-${randomBytes(3).toString('hex')}-${process.pid}`);
    cleanup.add('process guard', () => guard.close());

    say(`faultline bench: ${loadDescription(opts)}; results in ${relative(process.cwd(), benchDir) || benchDir}`);
    for (const label of plan) {
      if (interrupt.signal.aborted) break;
      const run = await runOne(label, label === 'endpoints' ? undefined : servers.get(label)!, opts, { benchDir, guard, cleanup, interrupt: interrupt.signal, say, progress: human && !opts.quiet });
      results.runs.push(run);
      say(`\n${formatRun(run)}\n`);
    }

    const [first, second] = results.runs;
    if (first && second) {
      const ours = first.label === 'ours' ? first : second;
      const etcd = first.label === 'ours' ? second : first;
      results.comparison = compareRuns(ours, etcd, primaryUnit(opts.op, opts.target?.unit));
      say(formatComparison(results.comparison));
    }
    if (interrupt.signal.aborted) {
      results.verdict = 'error';
      results.error = 'interrupted';
      results.exitCode = 3;
    } else if (first?.target) {
      results.verdict = first.target.pass ? 'pass' : 'fail';
      results.exitCode = first.target.pass ? 0 : 1;
    }
    writeOutputs(results, benchDir);
    say(`\nreport: ${results.report}`);
    if (results.exitCode === 3) io.err.write('faultline: interrupted; partial results written\n');
    if (opts.json) io.out.write(`${JSON.stringify(results, null, 2)}\n`);
    return { exitCode: results.exitCode, results };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    results.verdict = 'error';
    results.exitCode = 3;
    results.error = msg;
    const errors = await cleanup.runAll();
    io.err.write(`faultline: ${err instanceof CouldNotRun ? '' : 'error: '}${msg}\n`);
    if (!(err instanceof CouldNotRun) && err instanceof Error && err.stack) io.err.write(`${err.stack}\n`);
    for (const e of errors) io.err.write(`faultline: cleanup: ${e}\n`);
    if (results.reportDir) {
      try {
        writeOutputs(results, results.reportDir);
        io.err.write(`faultline: logs in ${results.reportDir}\n`);
      } catch {
        // the store itself may be the problem
      }
    }
    if (opts.json) io.out.write(`${JSON.stringify(results, null, 2)}\n`);
    return { exitCode: 3, results };
  } finally {
    await cleanup.runAll();
    hooks?.dispose();
  }
}

function writeOutputs(results: BenchResults, dir: string): void {
  results.report = join(dir, 'report.html');
  writeJson(join(dir, 'results.json'), results);
  writeFileSync(results.report, renderBenchReport(results, `faultline bench — ${dir.split('/').slice(-2).join('/')}`));
}

interface RunContext {
  benchDir: string;
  guard: ProcessGuard;
  cleanup: CleanupRegistry;
  interrupt: AbortSignal;
  say: (msg: string) => void;
  progress: boolean;
}

interface Launched {
  endpoints: string[];
  cluster: Cluster | undefined;
  runDir: string | undefined;
  stop: () => Promise<void>;
}

async function launch(label: Db, server: ResolvedServer, opts: BenchOptions, ctx: RunContext): Promise<Launched> {
  const runDir = join(ctx.benchDir, label);
  const base = await findFreePortBlock(2 * opts.nodes, opts.basePort ?? 20000 + 10 * randomInt(1000));
  const layout = loopbackLayout(opts.nodes, base);
  const log = (m: string) => writeFileSync(join(runDir, 'faultline.log'), `${new Date().toISOString()} ${m}\n`, { flag: 'a' });
  const cluster = new Cluster({ layout, command: server.command, runDir, clusterToken: `faultline-bench-${randomBytes(3).toString('hex')}`, guard: ctx.guard, log });
  const killOnExit = () => cluster.killAllNow();
  process.once('exit', killOnExit);
  const unregister = ctx.cleanup.add(`${label} cluster`, async () => {
    await cluster.stopAll();
    process.off('exit', killOnExit);
  });
  ctx.say(`faultline: starting ${opts.nodes} × ${server.description} on ${layout.clientUrls.join(',')}`);
  cluster.startAll();
  try {
    await cluster.waitHealthy(STARTUP_TIMEOUT_MS, cluster.names, ctx.interrupt);
  } catch (err) {
    throw new CouldNotRun(`${label} cluster failed to start: ${err instanceof Error ? err.message : String(err)}`);
  }
  return {
    endpoints: layout.clientUrls,
    cluster,
    runDir,
    stop: async () => {
      await cluster.stopAll();
      process.off('exit', killOnExit);
      unregister();
      // WAL files are preallocated (64 MB each in etcd); logs stay.
      if (!opts.keepData) rmSync(join(runDir, 'data'), { recursive: true, force: true });
    },
  };
}

async function runOne(label: Db | 'endpoints', server: ResolvedServer | undefined, opts: BenchOptions, ctx: RunContext): Promise<BenchRunResult> {
  const launched: Launched =
    label === 'endpoints' || !server
      ? { endpoints: opts.endpoints ?? [], cluster: undefined, runDir: undefined, stop: async () => undefined }
      : await launch(label, server, opts, ctx);

  let conns: Conn[];
  try {
    conns = await openConns(launched.endpoints, opts.conns, opts.requestTimeoutMs);
  } catch (err) {
    throw new CouldNotRun(`cannot connect to ${launched.endpoints.join(',')}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const closeConns = () => {
    for (const c of conns) c.close();
  };
  const unregisterConns = ctx.cleanup.add(`${label} connections`, closeConns);

  let preloadedKeys = 0;
  if (needsPreload(opts.op)) {
    ctx.say(`faultline: [${label}] preloading ${Math.min(opts.keySpace, PRELOAD_LIMIT)} keys`);
    preloadedKeys = await preloadKeys(opts, conns, 64, ctx.interrupt);
  }

  const recorder = new Recorder(performance.now());
  let watchers: WatcherSet | undefined;
  if (opts.op === 'watch-fanout') {
    try {
      watchers = await WatcherSet.open(conns, opts.watchers, recorder);
    } catch (err) {
      throw new CouldNotRun(`[${label}] cannot open ${opts.watchers} watchers: ${err instanceof Error ? err.message : String(err)}`);
    }
    ctx.cleanup.add(`${label} watchers`, () => watchers?.close());
  }

  const procs: SampledProcess[] = (launched.cluster?.members ?? []).map((m) => ({ name: m.name, pid: () => m.pid }));
  procs.push({ name: 'client', pid: () => process.pid });
  const sampler = new ProcSampler(procs);
  const issuer = makeIssuer(opts, conns);

  const startMs = performance.now();
  recorder.begin(startMs);
  sampler.start();
  const stopProgress = ctx.progress ? startProgress(label, recorder, ctx.say) : undefined;
  const outcome = await driveLoad({
    clients: opts.clients,
    rate: opts.rate,
    durationMs: opts.durationS * 1000,
    maxOutstanding: opts.maxOutstanding,
    issue: issuer.issue,
    recorder,
    signal: ctx.interrupt,
    drainTimeoutMs: opts.requestTimeoutMs + 1000,
  });
  let watch: BenchRunResult['watch'];
  if (watchers) {
    const expected = recorder.ok.write * opts.watchers;
    await watchers.waitFor(expected, WATCH_GRACE_MS);
    watchers.close();
    watch = {
      watchers: opts.watchers,
      puts: recorder.ok.write,
      expectedEvents: expected,
      deliveredEvents: watchers.delivered,
      missingEvents: Math.max(0, expected - watchers.delivered),
      eventsPerSec: 0,
    };
  }
  stopProgress?.();
  const usage = sampler.stop();
  const unexpectedExits = launched.cluster?.unexpectedExits() ?? [];
  closeConns();
  unregisterConns();
  await launched.stop();

  const elapsedS = Math.max(1e-3, (Math.max(outcome.endMs, recorder.lastAt) - outcome.startMs) / 1000);
  const throughput = throughputsOf(recorder, elapsedS, opts.op);
  if (watch) watch.eventsPerSec = throughput.ops;
  const byKind: Partial<Record<Kind, ReturnType<Recorder['latency']['summary']>>> = {};
  for (const k of ['read', 'write', 'event'] as const) if (recorder.byKind[k].count > 0) byKind[k] = recorder.byKind[k].summary();
  const latency = opts.op === 'watch-fanout' ? recorder.byKind.event : recorder.latency;
  const memberUsage = usage.filter((u) => u.name !== 'client').map(usageSummary);
  const clientUsage = usage.find((u) => u.name === 'client');
  return {
    label,
    server: server?.version ?? 'external',
    nodes: opts.nodes,
    endpoints: launched.endpoints,
    op: opts.op,
    clients: opts.clients,
    conns: opts.conns,
    rate: opts.rate,
    durationS: opts.durationS,
    elapsedS: Math.round(elapsedS * 1000) / 1000,
    preloadedKeys,
    requests: {
      issued: outcome.issued,
      ok: recorder.ok.read + recorder.ok.write,
      errors: recorder.errorCount,
      dropped: recorder.dropped,
      abandoned: outcome.abandoned,
    },
    throughput,
    latencyUs: latency.summary(),
    latencyByKindUs: byKind,
    errors: Object.fromEntries(recorder.errors),
    ...(opts.op === 'txn-cas' ? { cas: issuer.cas } : {}),
    ...(watch ? { watch } : {}),
    members: memberUsage,
    client: clientUsage ? usageSummary(clientUsage) : null,
    timeline: timelineOf(recorder, elapsedS),
    ...(opts.target ? { target: evaluateTarget(opts.target, throughput, opts.nodes) } : {}),
    interrupted: ctx.interrupt.aborted,
    unexpectedExits,
    ...(launched.runDir ? { runDir: launched.runDir } : {}),
  };
}

/** One line a second (the second that just ended); the returned function prints the rest and stops. */
function startProgress(label: string, rec: Recorder, say: (m: string) => void): () => void {
  let shown = 0;
  const show = (upTo: number) => {
    while (shown < upTo) {
      const b = rec.seconds[shown];
      shown++;
      if (!b) {
        say(`  [${label}] ${String(shown).padStart(3)} s  nothing completed`);
        continue;
      }
      say(
        `  [${label}] ${String(shown).padStart(3)} s  ${fmtRate(b.ok).padStart(6)}/s  p50 ${fmtMs(b.latency.percentile(50))} ms  p99 ${fmtMs(b.latency.percentile(99))} ms  errors ${b.errors}${b.dropped ? `  dropped ${b.dropped}` : ''}`,
      );
    }
  };
  const timer = setInterval(() => show(Math.floor((performance.now() - rec.origin) / 1000)), 250);
  timer.unref();
  return () => {
    clearInterval(timer);
    show(Math.min(rec.seconds.length, Math.floor((performance.now() - rec.origin) / 1000)));
  };
}
