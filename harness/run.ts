// `faultline run`: one test from start to verdict. Builds the network and the
// cluster, runs the workload through warm-up, faults, heal, recovery and
// final reads while streaming the history to disk, checks it, and writes the
// run directory. Everything it starts is torn down on every way out.
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { RunOptions } from './cli/args.js';
import { checkHistory, exitCodeFor, type CheckSummary } from './check.js';
import { CleanupRegistry, installProcessHooks } from './cleanup.js';
import { createClock, sleep } from './clock.js';
import { EtcdClient, grpcTarget } from './client/etcd-client.js';
import { Cluster } from './cluster/cluster.js';
import { ProcessGuard, reapLeftovers } from './cluster/guard.js';
import { cleanupNetnsByPrefix, netnsPrefix } from '../nemesis/net/index.js';
import { planPhases, WorkerPool, type OpCounters } from './generator.js';
import { HistoryWriter } from './history-log.js';
import { Progress } from './progress.js';
import { createRng, randomSeed } from './random.js';
import { renderReport } from './report/html.js';
import { CouldNotRun, packageVersion, resolveServer } from './server.js';
import { createRunDir, FILES, updateLatest, writeJson } from './store.js';
import { setupNetwork, type NetworkSetup } from '../nemesis/network.js';
import { PartitionFault } from '../nemesis/partition.js';
import { KillFault } from '../nemesis/process/kill.js';
import { PauseFault } from '../nemesis/process/pause.js';
import { NemesisScheduler, type FaultStats } from '../nemesis/schedule.js';
import { SlowFault } from '../nemesis/slow.js';
import type { Fault } from '../nemesis/types.js';
import { findWorkload } from '../workloads/index.js';
import { memberNames } from './cluster/cluster.js';
import type { Op } from './history.js';
import { applyConvergence, checkConvergence, type ConvergenceResult } from '../checkers/convergence.js';

export interface RunIo {
  out: NodeJS.WriteStream;
  err: NodeJS.WritableStream;
  /** Install SIGINT/SIGTERM/crash handlers (off in tests that run in-process). */
  installHooks: boolean;
}

export interface NemesisSummary {
  faults: string[];
  mechanism: string;
  network: string;
  partitionKinds: string[];
  intervalS: number;
  stats: Record<string, FaultStats>;
  periods: number;
}

export interface Results extends CheckSummary {
  test: string;
  runDir: string;
  nemesis: NemesisSummary;
  unexpectedExits: string[];
  phasesMs: Record<string, number>;
  leftoverProcesses?: number[];
  /** Every member's revision and HashKV at a common revision after the final reads. */
  convergence?: ConvergenceResult;
}

export interface RunOutcome {
  exitCode: number;
  runDir: string | undefined;
  results?: Results;
}

export function defaultTestName(o: Pick<RunOptions, 'workload' | 'db' | 'nemesis' | 'serializable'>): string {
  return `${o.workload}-${o.db}-${o.nemesis.length ? o.nemesis.join('+') : 'none'}${o.serializable ? '-serializable' : ''}`;
}

const STARTUP_TIMEOUT_MS = 30_000;

export async function runTest(opts: RunOptions, io: RunIo): Promise<RunOutcome> {
  const seed = opts.seed ?? randomSeed();
  const rng = createRng(seed);
  const testName = opts.name ?? defaultTestName(opts);
  const cleanup = new CleanupRegistry();
  const interrupt = new AbortController();
  let progress: Progress | undefined;
  const say = (msg: string) => (progress ? progress.log(msg) : io.out.write(`${msg}\n`));
  const hooks = io.installHooks
    ? installProcessHooks(
        cleanup,
        (sig) => {
          say(`faultline: ${sig} received; stopping the run and cleaning up (again to force)`);
          interrupt.abort();
        },
        (m) => io.err.write(`${m}\n`),
      )
    : undefined;

  let runDir: string | undefined;
  try {
    const server = await resolveServer(opts.db, opts.etcdBin);
    const liveDir = join(opts.store, '.live');
    await reapDeadRuns(liveDir, say);

    runDir = createRunDir(opts.store, testName);
    const runId = randomBytes(3).toString('hex');
    const harnessLog = join(runDir, 'faultline.log');
    const log = (msg: string) => writeFileSync(harnessLog, `${new Date().toISOString()} ${msg}\n`, { flag: 'a' });
    const names = memberNames(opts.nodes);
    const faultsWanted = opts.nemesis;

    // The guard comes first so that whatever follows is recorded for the next run to reap.
    const guard = new ProcessGuard(liveDir, `${runId}-${process.pid}`);
    cleanup.add('process guard', () => guard.close());
    guard.note('netnsPrefix', netnsPrefix(runId));

    // Network next: it fixes the addresses members use.
    const portHint = opts.basePort ?? 20000 + 10 * rng.fork('ports').int(1000);
    const network: NetworkSetup = await setupNetwork({
      names,
      db: opts.db,
      net: opts.net,
      partition: faultsWanted.includes('partition'),
      slow: faultsWanted.includes('slow'),
      toxiproxyUrl: opts.toxiproxy,
      partitionKinds: opts.partitionKinds,
      runId,
      portHint,
      log: (m) => {
        log(m);
        say(`faultline: ${m}`);
      },
    });
    cleanup.add('network', () => network.close());

    const test = {
      name: testName,
      runDir,
      runId,
      startedAt: new Date().toISOString(),
      seed,
      options: { ...opts, seed },
      versions: { faultline: packageVersion(), node: process.version, server: server.version },
      server: server.description,
      members: network.layout.names.map((n, i) => ({ name: n, clientUrl: network.layout.clientUrls[i], peerUrl: network.layout.advertisePeerUrls[i] })),
      network: { mechanism: network.mechanismName, description: network.description, partitionKinds: network.partitionKinds },
    };
    writeJson(join(runDir, FILES.test), test);

    const cluster = new Cluster({
      layout: network.layout,
      command: server.command,
      commandFor: network.wrapperFor ? (name) => ({ ...server.command, wrapper: network.wrapperFor!(name) }) : undefined,
      runDir,
      clusterToken: `faultline-${runId}-${Date.now()}`,
      guard,
      log: (m) => {
        log(m);
        say(`faultline: ${m}`);
      },
    });
    cleanup.add('cluster', () => cluster.stopAll());
    // Last resort if the process exits without running cleanup (process.exit elsewhere).
    const killOnExit = () => cluster.killAllNow();
    process.once('exit', killOnExit);
    cleanup.add('exit hook', () => {
      process.off('exit', killOnExit);
    });

    say(`faultline: starting ${opts.nodes} × ${server.description}; run directory ${relative(process.cwd(), runDir) || runDir}`);
    cluster.startAll();
    try {
      await cluster.waitHealthy(STARTUP_TIMEOUT_MS, cluster.names, interrupt.signal);
    } catch (err) {
      throw new CouldNotRun(`cluster failed to start: ${err instanceof Error ? err.message : String(err)}`);
    }
    log(`cluster healthy; leader ${(await cluster.leader()) ?? 'unknown'}`);

    // History, workload, faults.
    const clock = createClock();
    const history = new HistoryWriter(join(runDir, FILES.history));
    cleanup.add('history', () => history.close());
    const workload = findWorkload(opts.workload)!.create({
      rng: rng.fork('workload'),
      opsPerKey: opts.opsPerKey,
      serializable: opts.serializable,
      concurrency: opts.concurrency,
    });
    const counters: OpCounters = { ok: 0, fail: 0, info: 0 };
    const pool = new WorkerPool({
      concurrency: opts.concurrency,
      members: cluster.names,
      rate: opts.rate,
      workload,
      history,
      clock,
      rng: rng.fork('workers'),
      connect: (member) => new EtcdClient(grpcTarget(cluster.member(member).spec.clientUrl), { timeoutMs: opts.opTimeoutMs }),
      counters,
    });
    cleanup.add('clients', () => pool.close());

    const env = { cluster, rng: rng.fork('nemesis'), log };
    const faults: Fault[] = [];
    for (const name of faultsWanted) {
      if (name === 'kill') faults.push(new KillFault(env));
      else if (name === 'pause') faults.push(new PauseFault(env));
      else if (name === 'partition') faults.push(new PartitionFault(env, network.mechanism!, network.partitionKinds));
      else if (name === 'slow') faults.push(new SlowFault(env, network.mechanism!));
    }
    const scheduler = new NemesisScheduler({ faults, intervalMs: opts.nemesisIntervalS * 1000, history, clock, rng: rng.fork('schedule'), log });

    let phase = 'warm-up';
    progress = new Progress(
      { elapsedMs: () => clock.elapsedMs(), phase: () => phase, counters: () => counters, faults: () => scheduler.active },
      io.out,
      !opts.quiet,
    );
    progress.start();

    const plan = planPhases(opts.timeLimitS, faults.length > 0);
    const workersStop = new AbortController();
    const stopWorkers = () => workersStop.abort();
    interrupt.signal.addEventListener('abort', stopWorkers, { once: true });
    const workersDone = pool.run(workersStop.signal);
    const phasesMs: Record<string, number> = {};
    const mark = (name: string, since: number) => (phasesMs[name] = Math.round(clock.elapsedMs() - since));

    let t = clock.elapsedMs();
    await sleep(plan.warmupMs, interrupt.signal);
    mark('warmup', t);
    if (faults.length > 0 && !interrupt.signal.aborted) {
      phase = 'faults';
      t = clock.elapsedMs();
      const faultsStop = new AbortController();
      const timer = setTimeout(() => faultsStop.abort(), plan.faultsMs);
      const onInt = () => faultsStop.abort();
      interrupt.signal.addEventListener('abort', onInt, { once: true });
      await scheduler.run(faultsStop.signal);
      clearTimeout(timer);
      mark('faults', t);
    } else {
      await sleep(plan.faultsMs, interrupt.signal);
    }
    phase = 'heal';
    t = clock.elapsedMs();
    await scheduler.healAll();
    await network.mechanism?.heal().catch((e: unknown) => log(`final heal: ${String(e)}`));
    // Members killed by the last fault are back; give them a moment before judging recovery.
    await cluster.waitHealthy(STARTUP_TIMEOUT_MS, cluster.names, interrupt.signal).catch((e: unknown) => {
      say(`faultline: after healing: ${e instanceof Error ? e.message : String(e)}`);
    });
    mark('heal', t);
    phase = 'recovery';
    t = clock.elapsedMs();
    await sleep(plan.recoveryMs, interrupt.signal);
    workersStop.abort();
    await workersDone;
    mark('recovery', t);
    let convergence: ConvergenceResult | undefined;
    if (!interrupt.signal.aborted) {
      phase = 'final reads';
      t = clock.elapsedMs();
      await pool.finalReads();
      mark('finalReads', t);
      t = clock.elapsedMs();
      const members = cluster.names.map((name) => ({ name, client: new EtcdClient(grpcTarget(cluster.member(name).spec.clientUrl), { timeoutMs: opts.opTimeoutMs }) }));
      try {
        convergence = await checkConvergence(members);
      } finally {
        for (const m of members) m.client.close();
      }
      mark('convergence', t);
    }
    progress.stop();
    const unexpectedExits = cluster.unexpectedExits();
    history.close();

    // Teardown before checking: the check can take a while, processes should not linger.
    say('faultline: stopping the cluster');
    const cleanupErrors = await cleanup.runAll();
    for (const e of cleanupErrors) say(`faultline: cleanup: ${e}`);

    if (interrupt.signal.aborted) {
      writeJson(join(runDir, FILES.results), { valid: 'unknown', reason: 'interrupted', test: testName });
      say(`faultline: interrupted; partial history in ${join(runDir, FILES.history)}`);
      return { exitCode: 3, runDir };
    }

    say(`faultline: checking ${history.ops.length} history records`);
    const summary = checkHistory(history.ops, { timeoutS: opts.checkTimeoutS, workload: opts.workload });
    const results: Results = {
      ...summary,
      test: testName,
      runDir,
      nemesis: {
        faults: faultsWanted,
        mechanism: network.mechanismName,
        network: network.description,
        partitionKinds: network.partitionKinds,
        intervalS: opts.nemesisIntervalS,
        stats: scheduler.stats,
        periods: history.ops.filter((o) => o.process === 'nemesis' && o.type === 'ok' && o.f.startsWith('start-')).length,
      },
      unexpectedExits,
      phasesMs,
    };
    if (convergence) applyConvergence(results, convergence);
    finishRun(runDir, opts.store, test.name, results, history.ops, {
      db: opts.db,
      server: server.version,
      nodes: opts.nodes,
      nemesis: faultsWanted.join(',') || 'none',
      network: network.mechanismName,
      seed,
      serializable: opts.serializable,
    });
    if (results.valid === true && !opts.keepData) {
      // WAL files are preallocated (64 MB each in etcd): only worth keeping for a post-mortem.
      rmSync(join(runDir, FILES.data), { recursive: true, force: true });
    }
    printVerdict(io.out, results, runDir);
    return { exitCode: exitCodeFor(results.valid), runDir, results };
  } catch (err) {
    progress?.stop();
    const errors = await cleanup.runAll();
    const msg = err instanceof Error ? err.message : String(err);
    io.err.write(`faultline: ${err instanceof CouldNotRun ? '' : 'error: '}${msg}\n`);
    if (!(err instanceof CouldNotRun) && err instanceof Error && err.stack) io.err.write(`${err.stack}\n`);
    for (const e of errors) io.err.write(`faultline: cleanup: ${e}\n`);
    if (runDir) {
      writeJson(join(runDir, FILES.results), { valid: 'unknown', reason: `could not run: ${msg}`, test: testName });
      io.err.write(`faultline: logs in ${runDir}\n`);
    }
    return { exitCode: 3, runDir };
  } finally {
    hooks?.dispose();
  }
}

/**
 * Kills members of runs whose harness died (SIGKILL, power loss) and removes
 * their network namespaces and rules.
 */
async function reapDeadRuns(liveDir: string, say: (m: string) => void): Promise<void> {
  for (const dead of reapLeftovers(liveDir)) {
    if (dead.killed.length) say(`faultline: killed ${dead.killed.length} member process(es) left by an earlier run: ${dead.killed.join(', ')}`);
    const prefix = dead.resources.netnsPrefix;
    if (prefix && process.getuid?.() === 0) {
      try {
        const removed = await cleanupNetnsByPrefix(prefix);
        const n = removed.namespaces.length + removed.links.length + removed.rules.length;
        if (n) say(`faultline: removed ${n} network leftover(s) of an earlier run (${prefix}*)`);
      } catch (err) {
        say(`faultline: could not remove network leftovers ${prefix}*: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

/** Writes results.json and index.html and points store/latest at the run. */
export function finishRun(runDir: string, store: string, testName: string, results: Results, history: readonly Op[], facts: Record<string, string | number | boolean>): void {
  writeJson(join(runDir, FILES.results), results);
  const html = renderReport({
    title: `${testName} — ${runDir.split('/').slice(-1)[0] ?? ''}`,
    valid: results.valid,
    ...(results.reason ? { reason: results.reason } : {}),
    facts: { ...facts, ops: results.opCounts.total, ok: results.opCounts.ok, fail: results.opCounts.fail, info: results.opCounts.info },
    anomalies: results.anomalies.map((a) => ({ type: a.type, ...(a.key !== undefined ? { key: a.key } : {}), explanation: a.explanation, opIndexes: a.opIndexes })),
    history,
  });
  writeFileSync(join(runDir, FILES.report), html);
  try {
    updateLatest(store, runDir);
  } catch {
    // A store on a filesystem without symlinks still has the run itself.
  }
}

export function printVerdict(out: NodeJS.WritableStream, results: Results, runDir: string): void {
  const c = results.opCounts;
  const verdict = results.valid === true ? 'VALID' : results.valid === false ? 'INVALID: anomalies found' : 'UNKNOWN';
  const lines = [
    '',
    `ops: ${c.total} (ok ${c.ok}, fail ${c.fail}, info ${c.info}); faults: ${results.nemesis.faults.join(', ') || 'none'} via ${results.nemesis.mechanism}, ${results.nemesis.periods} fault periods`,
  ];
  for (const [type, n] of Object.entries(results.anomalyCounts)) lines.push(`  ${type}: ${n}`);
  for (const a of results.anomalies.slice(0, 3)) lines.push(`  e.g. ${a.explanation}`);
  if (results.unexpectedExits.length) lines.push(`members that exited on their own: ${results.unexpectedExits.join('; ')}`);
  if (results.reason) lines.push(`reason: ${results.reason}`);
  lines.push(`verdict: ${verdict}`);
  lines.push(`report: ${join(runDir, FILES.report)}`);
  out.write(`${lines.join('\n')}\n`);
}
