// One short real benchmark against a single real etcd member, through the CLI
// entry point with --json: the numbers must be plausible and the files there.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../../../harness/bench/results.js';
import { runCli } from '../../support/cli.js';
import { findOnPath } from '../../../harness/server.js';

const etcd = findOnPath('etcd');
if (!etcd) console.warn('skipping the real bench run: etcd is not on PATH');

const store = mkdtempSync(join(tmpdir(), 'fl-bench-'));
afterAll(() => rmSync(store, { recursive: true, force: true }));

describe.skipIf(!etcd)('faultline bench against one real etcd member', () => {
  it('measures throughput, latency, errors and member usage, and writes the report', async () => {
    const argv = ['bench', '--db', 'etcd', '--nodes', '1', '--duration', '3', '--op', 'put', '--clients', '8', '--conns', '2', '--target', '1w/s', '--json', '--store', store];
    const { code, out: outText, err: errText } = await runCli(argv);
    expect(errText).toBe('');
    expect(code).toBe(0);

    // --json: stdout is exactly one JSON document
    const doc = JSON.parse(outText) as BenchResults;
    expect(Object.keys(doc).sort()).toEqual(['command', 'comparison', 'exitCode', 'faultline', 'report', 'reportDir', 'runs', 'startedAt', 'verdict'].sort());
    expect(doc).toMatchObject({ verdict: 'pass', exitCode: 0, comparison: null });
    expect(doc.runs).toHaveLength(1);
    const run = doc.runs[0]!;
    expect(run).toMatchObject({ label: 'etcd', nodes: 1, op: 'put', clients: 8, conns: 2, interrupted: false, unexpectedExits: [] });

    expect(run.throughput.writes).toBeGreaterThan(0);
    expect(run.throughput.reads).toBe(0);
    expect(run.elapsedS).toBeGreaterThanOrEqual(3);
    expect(run.elapsedS).toBeLessThan(6);
    const l = run.latencyUs;
    expect(l.count).toBe(run.requests.ok);
    expect(l.min).toBeGreaterThan(0);
    expect(l.p50).toBeLessThanOrEqual(l.p90);
    expect(l.p90).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.p999);
    expect(l.p999).toBeLessThanOrEqual(l.max);
    // elapsedS is rounded to the millisecond in the document
    expect(Math.abs(run.throughput.writes * run.elapsedS - run.requests.ok)).toBeLessThanOrEqual(1 + run.requests.ok * 0.001);

    // errors are counted, by code, and add up
    expect(typeof run.errors).toBe('object');
    expect(Object.values(run.errors).reduce((a, b) => a + b, 0)).toBe(run.requests.errors);
    expect(run.requests.ok + run.requests.errors).toBe(run.requests.issued);

    // the member was sampled once a second
    expect(run.members).toHaveLength(1);
    const m = run.members[0]!;
    expect(m.name).toBe('n1');
    expect(m.pid).toBeGreaterThan(0);
    expect(m.rssMaxMiB).toBeGreaterThan(1);
    expect(m.points.length).toBeGreaterThanOrEqual(3);
    expect(m.cpuAvgPercent).toBeGreaterThan(0);
    expect(run.client?.rssMaxMiB).toBeGreaterThan(1);

    // per-second timeline adds up to the total
    expect(run.timeline.reduce((s, b) => s + b.ok, 0)).toBe(run.requests.ok);
    expect(run.target).toMatchObject({ pass: true, nodes: 1 });

    // files: results.json equals stdout, report.html is self-contained with SVG plots
    expect(doc.reportDir).toMatch(/bench-put-etcd\/\d{8}T\d{6}\.\d{3}Z/);
    expect(JSON.parse(readFileSync(join(doc.reportDir!, 'results.json'), 'utf8'))).toEqual(doc);
    const html = readFileSync(doc.report!, 'utf8');
    expect(html.match(/<svg /g)!.length).toBeGreaterThanOrEqual(4);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(existsSync(join(doc.reportDir!, 'etcd', 'logs', 'n1.log'))).toBe(true);
    expect(existsSync(join(doc.reportDir!, 'etcd', 'data'))).toBe(false);
    // nothing left running
    expect(() => process.kill(m.pid!, 0)).toThrow();
  }, 30_000);
});
