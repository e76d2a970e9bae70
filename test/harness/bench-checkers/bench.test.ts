import { describe, expect, it } from 'vitest';
import type { BenchCheckersReport } from '../../../harness/bench-checkers/bench.js';
import { gcFunction, RssSampler } from '../../../harness/bench-checkers/memory.js';
import { runCli } from '../../support/cli.js';

const run = (argv: string[]) => runCli(argv);

// Small histories and a short budget: these check what is printed, never how fast.
const SMALL = ['--txns', '2000', '--ops', '2000', '--budget', '0.2'];

describe('faultline bench-checkers', () => {
  it('prints every case with its size, timing, memory, verdict and target', async () => {
    const r = await run(['bench-checkers', ...SMALL]);
    expect(r.err).toBe('');
    expect([0, 1]).toContain(r.code);
    expect(r.out).toMatch(/^faultline bench-checkers: node v\d+/);
    expect(r.out).toMatch(/GC (forced before each check|not available); peak RSS: whole process/);
    const blocks = r.out.split('\n\n').filter((b) => /^\w+ — /.test(b));
    expect(blocks.map((b) => b.split(' — ')[0])).toEqual(['append', 'wr', 'linearizable', 'pathological']);
    for (const b of blocks) {
      for (const row of ['history', 'check', 'throughput', 'memory', 'verdict', 'target']) expect(b).toMatch(new RegExp(`\\n  ${row} +\\S`));
      expect(b).toMatch(/peak RSS \d+\.\d MB/);
      expect(b).toMatch(/: (met|MISSED)$/);
    }
    expect(blocks[0]).toMatch(/2,000 txns \(/);
    expect(blocks[0]).toMatch(/txns\/s/);
    expect(blocks[2]).toMatch(/2,000 ops \(\d+ info\) over 100 keys/);
    for (const b of blocks.slice(0, 3)) expect(b).toMatch(/\n  verdict     valid\n/);
    expect(blocks[3]).toMatch(/\n  verdict     unknown \(/);
    const summary = r.out.trim().split('\n').at(-1)!;
    if (r.code === 0) expect(summary).toBe('All 4 targets met.');
    else expect(summary).toMatch(/^\d of 4 targets missed: /);
  });

  it('writes one JSON document with the figures of each chosen case', async () => {
    const r = await run(['bench-checkers', '--json', '--only', 'append,pathological', '--seed', '7', ...SMALL]);
    expect(r.err).toBe('');
    const report = JSON.parse(r.out) as BenchCheckersReport;
    expect(report.command).toBe('bench-checkers');
    expect(report.seed).toBe(7);
    expect(report.cases.map((c) => c.name)).toEqual(['append', 'pathological']);
    for (const c of report.cases) {
      expect(typeof c.checker).toBe('string');
      expect(c.history.events).toBeGreaterThan(0);
      for (const n of [c.generateMs, c.checkMs, c.cpuMs, c.throughput.value, c.throughput.perCpuSecond, c.memory.rssBeforeMB, c.memory.peakRssMB, c.memory.heapUsedBeforeMB, c.memory.heapUsedAfterMB]) {
        expect(Number.isFinite(n)).toBe(true);
      }
      expect(c.memory.peakRssMB).toBeGreaterThanOrEqual(c.memory.rssBeforeMB);
      expect(typeof c.target.text).toBe('string');
      expect(typeof c.target.met).toBe('boolean');
    }
    const [append, pathological] = report.cases;
    expect(append!.history.txns).toBe(2000);
    expect(append!.throughput.unit).toBe('txns/s');
    expect(append!.verdict).toBe('valid');
    expect(pathological!.verdict).toBe('unknown');
    expect(pathological!.cause).toBe('timeout');
    expect(report.met).toBe(report.cases.every((c) => c.target.met));
    expect(r.code).toBe(report.met ? 0 : 1);
  });

  it('gives the same histories for the same seed', async () => {
    const sizes = async () => {
      const r = await run(['bench-checkers', '--json', '--only', 'wr,linearizable', '--seed', '3', ...SMALL]);
      return (JSON.parse(r.out) as BenchCheckersReport).cases.map((c) => c.history);
    };
    expect(await sizes()).toEqual(await sizes());
  });
});

describe('RssSampler', () => {
  it('reports a peak RSS at least as high as before, and the function result', async () => {
    const sampler = await RssSampler.start(1);
    try {
      const m = sampler.measure(() => {
        const blocks: Uint8Array[] = [];
        for (let i = 0; i < 8; i++) blocks.push(new Uint8Array(4 << 20).fill(1));
        return blocks.length;
      });
      expect(m.result).toBe(8);
      expect(m.peakRss).toBeGreaterThanOrEqual(m.rssBefore);
      expect(m.wallMs).toBeGreaterThanOrEqual(0);
    } finally {
      await sampler.stop();
    }
  });

  it('offers a GC function that can be called', () => {
    const gc = gcFunction();
    if (gc !== undefined) expect(() => gc()).not.toThrow();
  });
});
