// `faultline analyze DIR`: re-checks a stored history (even one cut short by
// a crash of the harness) and rewrites results.json and index.html.
import { existsSync, writeFileSync } from 'node:fs';
import { analyzeForeignFile } from '../checkers/io/analyze-foreign.js';
import { writeJepsenHistory } from '../checkers/io/jepsen.js';
import { dirname, join } from 'node:path';
import type { AnalyzeOptions } from './cli/args.js';
import { applyConvergence } from '../checkers/convergence.js';
import { checkHistory, exitCodeFor } from './check.js';
import { closeOpenOps, readHistory } from './history-log.js';
import { finishRun, printVerdict, type Results } from './run.js';
import { FILES, readJson, resolveRunDir, writeJson } from './store.js';
import { CouldNotRun } from './server.js';

interface StoredTest {
  name?: string;
  seed?: number;
  options?: { workload?: string; db?: string; nodes?: number; nemesis?: string[]; serializable?: boolean; nemesisIntervalS?: number };
  versions?: { server?: string };
  network?: { mechanism?: string; description?: string; partitionKinds?: string[] };
}

export async function analyzeRun(opts: AnalyzeOptions, out: NodeJS.WritableStream): Promise<number> {
  if (opts.format !== undefined && opts.format !== 'faultline') {
    try {
      const foreign = {
        ...(opts.checker !== undefined ? { checker: opts.checker } : {}),
        ...(opts.initialValue !== undefined ? { initialValue: opts.initialValue } : {}),
        ...(opts.nilReads !== undefined ? { nilReads: opts.nilReads } : {}),
      };
      return analyzeForeignFile(opts.dir!, opts.format, foreign, opts.checkTimeoutS, out);
    } catch (err) {
      throw new CouldNotRun(`cannot check ${opts.dir}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  let runDir: string;
  try {
    runDir = resolveRunDir(opts.dir, opts.store);
  } catch (err) {
    throw new CouldNotRun(err instanceof Error ? err.message : String(err));
  }
  const testPath = join(runDir, FILES.test);
  const test: StoredTest = existsSync(testPath) ? readJson<StoredTest>(testPath) : {};
  const previous: Partial<Results> = existsSync(join(runDir, FILES.results)) ? readJson<Partial<Results>>(join(runDir, FILES.results)) : {};
  const { ops, skipped } = readHistory(join(runDir, FILES.history));
  const lastTime = ops.reduce((m, o) => Math.max(m, o.time), 0);
  const history = closeOpenOps(ops, lastTime);
  if (opts.exportEdn) {
    writeFileSync(opts.exportEdn, writeJepsenHistory(history));
    out.write(`faultline: wrote ${history.length} ops as Jepsen EDN to ${opts.exportEdn}\n`);
  }
  out.write(`faultline: re-checking ${history.length} history records from ${runDir}${skipped ? ` (${skipped} unreadable lines skipped)` : ''}\n`);
  const summary = checkHistory(history, { timeoutS: opts.checkTimeoutS, workload: test.options?.workload ?? 'register' });
  const results: Results = {
    ...summary,
    test: test.name ?? previous.test ?? 'unknown',
    runDir,
    nemesis: previous.nemesis ?? {
      faults: test.options?.nemesis ?? [],
      mechanism: test.network?.mechanism ?? 'unknown',
      network: test.network?.description ?? 'unknown',
      partitionKinds: test.network?.partitionKinds ?? [],
      intervalS: test.options?.nemesisIntervalS ?? 0,
      stats: {},
      periods: history.filter((o) => o.process === 'nemesis' && o.type === 'ok' && o.f.startsWith('start-')).length,
    },
    unexpectedExits: previous.unexpectedExits ?? [],
    phasesMs: previous.phasesMs ?? {},
  };
  // Convergence was measured on the live cluster, not recorded in the history:
  // carry the stored measurement over so a re-check keeps it.
  if (previous.convergence) applyConvergence(results, previous.convergence);
  if (skipped) results.reason = `${results.reason ? `${results.reason}; ` : ''}${skipped} unreadable history lines skipped`;
  // The store root is two levels up: <store>/<test>/<timestamp>.
  const store = dirname(dirname(runDir));
  finishRun(runDir, store, results.test, results, history, {
    db: test.options?.db ?? '?',
    server: test.versions?.server ?? '?',
    nodes: test.options?.nodes ?? 0,
    nemesis: (test.options?.nemesis ?? []).join(',') || 'none',
    network: test.network?.mechanism ?? '?',
    seed: test.seed ?? '?',
    serializable: test.options?.serializable ?? false,
    analyzed: true,
  });
  writeJson(join(runDir, FILES.results), results);
  printVerdict(out, results, runDir);
  return exitCodeFor(results.valid);
}
