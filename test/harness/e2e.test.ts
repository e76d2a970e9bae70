// A short real run: three real etcd members, kill and pause faults, the
// register workload, the checkers, the run directory. Skipped (with the
// reason printed) when etcd is not installed.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureStream } from '../support/cli.js';
import { parseRunArgs, type RunOptions } from '../../harness/cli/args.js';
import { readHistory } from '../../harness/history-log.js';
import { runTest } from '../../harness/run.js';
import { findOnPath } from '../../harness/server.js';

const etcd = findOnPath('etcd');
if (!etcd) process.stdout.write('e2e: skipped: etcd is not on PATH (apt-get install etcd-server)\n');

/** Processes whose command line mentions `needle` (our members carry the run dir in --data-dir). */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (cmd.includes(needle) && !/\) Z /.test(stat)) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const store = mkdtempSync(join(tmpdir(), 'fl-e2e-'));
afterAll(() => rmSync(store, { recursive: true, force: true }));

const isRoot = process.getuid?.() === 0;
if (etcd && !isRoot) process.stdout.write('e2e: partition run skipped: network namespaces need root\n');

async function quietRun(argv: string[]) {
  const opts = parseRunArgs(argv) as RunOptions;
  const out = captureStream();
  const outcome = await runTest(opts, { out: out.stream, err: out.stream, installHooks: false });
  return { outcome, text: out.text };
}

describe.skipIf(!etcd)('faultline run against real etcd', () => {
  it('runs kill+pause for a few seconds and reports a valid history', async () => {
    const opts = parseRunArgs(['--db', 'etcd', '--nemesis', 'kill,pause', '--time-limit', '8', '--nemesis-interval', '1.5', '--rate', '60', '--store', store, '--quiet', '--seed', '7', '--op-timeout', '2000']) as RunOptions;
    const out = captureStream();
    const outcome = await runTest(opts, { out: out.stream, err: out.stream, installHooks: false });
    const text = out.text();
    expect(outcome.exitCode, text).toBe(0);
    const dir = outcome.runDir!;
    expect(dir.startsWith(join(store, 'register-etcd-kill+pause'))).toBe(true);
    for (const f of ['test.json', 'history.jsonl', 'results.json', 'index.html', 'logs/n1.log', 'logs/n2.log', 'logs/n3.log']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { valid: unknown; opCounts: { ok: number } };
    expect(results.valid).toBe(true);
    const test = JSON.parse(readFileSync(join(dir, 'test.json'), 'utf8')) as { seed: number; versions: { server: string } };
    expect(test.seed).toBe(7);
    expect(test.versions.server).toMatch(/etcd Version/);

    const { ops, skipped } = readHistory(join(dir, 'history.jsonl'));
    expect(skipped).toBe(0);
    const okOps = ops.filter((o) => o.type === 'ok' && o.process !== 'nemesis');
    expect(okOps.length).toBeGreaterThan(50);
    expect(okOps.every((o) => typeof o.revision === 'number' && /^[0-9a-f]+$/.test(o.memberId ?? ''))).toBe(true);
    const nemesisOk = ops.filter((o) => o.process === 'nemesis' && o.type === 'ok').map((o) => o.f);
    expect(nemesisOk.some((f) => f === 'start-kill' || f === 'start-pause')).toBe(true);
    expect(nemesisOk.some((f) => f.startsWith('stop-'))).toBe(true);
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    expect(html).toContain('id="timeline-wrap"');
    expect(html).toContain('"f":"start-');

    // Nothing left running: no member, no watchdog holding the ledger.
    expect(processesMentioning(dir)).toEqual([]);
    expect(readdirSync(join(store, '.live'))).toEqual([]);
    expect(existsSync(join(store, 'latest'))).toBe(true);
    // A valid run keeps logs and history but not the members' (large, preallocated) data dirs.
    expect(existsSync(join(dir, 'data'))).toBe(false);
  }, 60_000);

  it.skipIf(!isRoot)('partitions real etcd with iptables in namespaces and removes them afterwards', async () => {
    const { outcome, text } = await quietRun(['--db', 'etcd', '--nemesis', 'partition', '--partition-kinds', 'isolate-leader,halves', '--time-limit', '7', '--nemesis-interval', '1.5', '--rate', '50', '--store', store, '--quiet', '--op-timeout', '2000']);
    expect(outcome.exitCode, text()).toBe(0);
    const dir = outcome.runDir!;
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { valid: unknown; nemesis: { mechanism: string; partitionKinds: string[]; periods: number } };
    expect(results.valid).toBe(true);
    expect(results.nemesis.mechanism).toBe('iptables');
    expect(results.nemesis.partitionKinds).toEqual(['isolate-leader', 'halves']);
    expect(results.nemesis.periods).toBeGreaterThanOrEqual(1);
    const test = JSON.parse(readFileSync(join(dir, 'test.json'), 'utf8')) as { runId: string };
    const { execFileSync } = await import('node:child_process');
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`fl-${test.runId}-`);
    expect(execFileSync('iptables', ['-S'], { encoding: 'utf8' })).not.toContain(`fl-${test.runId}-`);
    expect(processesMentioning(dir)).toEqual([]);
  }, 60_000);
});
