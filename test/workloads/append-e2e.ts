// A short real run of a workload against one real etcd member, for the
// transactional workloads' end-to-end tests; skipped with a printed reason
// when etcd is not installed.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureStream } from '../support/cli.js';
import { parseRunArgs, type RunOptions } from '../../harness/cli/args.js';
import { runTest } from '../../harness/run.js';
import { findOnPath } from '../../harness/server.js';

export const etcdBin = findOnPath('etcd');

export function skipReason(workload: string): void {
  if (!etcdBin) process.stdout.write(`${workload} e2e: skipped: etcd is not on PATH\n`);
}

/** Runs the workload for a few seconds with kill faults; returns the exit code, output and results.json. */
export async function shortRun(workload: string): Promise<{ exitCode: number; text: string; results: Record<string, unknown> }> {
  const store = mkdtempSync(join(tmpdir(), `fl-${workload}-`));
  try {
    const opts = parseRunArgs(['--db', 'etcd', '--nodes', '1', '--workload', workload, '--nemesis', 'kill', '--nemesis-interval', '1', '--time-limit', '4', '--rate', '80', '--concurrency', '4', '--store', store, '--quiet', '--seed', '3', '--op-timeout', '1500']) as RunOptions;
    const out = captureStream();
    const outcome = await runTest(opts, { out: out.stream, err: out.stream, installHooks: false });
    const results = outcome.runDir ? (JSON.parse(readFileSync(join(outcome.runDir, 'results.json'), 'utf8')) as Record<string, unknown>) : {};
    return { exitCode: outcome.exitCode, text: out.text(), results };
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
}
