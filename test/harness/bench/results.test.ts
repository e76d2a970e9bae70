import { describe, expect, it } from 'vitest';
import { lineChart, niceTicks } from '../../../harness/bench/html.js';
import { Histogram } from '../../../harness/bench/histogram.js';
import { compareRuns, formatComparison, formatRatio, primaryUnit, ratioOf, type BenchRunResult } from '../../../harness/bench/results.js';

function fakeRun(label: 'ours' | 'etcd', writesPerSec: number, p99Us: number, rssMiB: number[]): BenchRunResult {
  const h = new Histogram();
  h.record(p99Us);
  return {
    label,
    server: 'x',
    nodes: rssMiB.length,
    endpoints: [],
    op: 'put',
    clients: 1,
    conns: 1,
    rate: 0,
    durationS: 1,
    elapsedS: 1,
    preloadedKeys: 0,
    requests: { issued: 0, ok: 0, errors: 0, dropped: 0, abandoned: 0 },
    throughput: { writes: writesPerSec, reads: 0, ops: writesPerSec },
    latencyUs: { ...h.summary(), p99: p99Us },
    latencyByKindUs: {},
    errors: {},
    members: rssMiB.map((r, i) => ({ name: `n${i + 1}`, pid: 1, cpuAvgPercent: 0, cpuMaxPercent: 0, rssMaxMiB: r, rssEndMiB: r, points: [] })),
    client: null,
    timeline: [],
    interrupted: false,
    unexpectedExits: [],
  };
}

describe('ratio formatting', () => {
  it.each([
    [0.978, '0.98×'],
    [1, '1.00×'],
    [5.8234, '5.82×'],
    [12.34, '12.3×'],
    [150.4, '150×'],
    [0.004, '0.00×'],
    [null, 'n/a'],
    [Number.POSITIVE_INFINITY, 'n/a'],
  ])('%s → %s', (r, text) => {
    expect(formatRatio(r)).toBe(text);
  });

  it('divides ours by etcd and refuses to divide by zero', () => {
    expect(ratioOf(50, 100).ratio).toBe(0.5);
    expect(ratioOf(5, 0).ratio).toBeNull();
  });

  it('compares throughput, p99 and mean peak RSS per member', () => {
    const c = compareRuns(fakeRun('ours', 978, 107_000, [500, 552]), fakeRun('etcd', 993, 18_400, [340, 346]), 'w');
    expect(c.throughput.ratio).toBeCloseTo(978 / 993, 9);
    expect(c.p99Ms).toEqual({ ours: 107, etcd: 18.4, ratio: 107 / 18.4 });
    expect(c.rssMiB.ours).toBe(526);
    expect(c.rssMiB.etcd).toBe(343);
    const text = formatComparison(c);
    expect(text).toContain('throughput   0.98×');
    expect(text).toContain('(ours 978 writes/s, etcd 993 writes/s; above 1 = ours faster)');
    expect(text).toContain('p99 latency  5.82×');
    expect(text).toContain('ours 107.0 ms, etcd 18.40 ms');
    expect(text).toContain('RSS/member   1.53×');
  });

  it('compares in the unit the op produces unless a target names one', () => {
    expect(primaryUnit('put', undefined)).toBe('w');
    expect(primaryUnit('range-serializable', undefined)).toBe('r');
    expect(primaryUnit('mixed', undefined)).toBe('ops');
    expect(primaryUnit('watch-fanout', undefined)).toBe('ops');
    expect(primaryUnit('mixed', 'r')).toBe('r');
  });
});

describe('charts', () => {
  it('chooses 1-2-5 ticks covering the maximum', () => {
    expect(niceTicks(1000)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(0)).toEqual([0, 1]);
  });

  it('draws one path per series with points inside the plot, and escapes names', () => {
    const svg = lineChart({ title: 'T <1>', yLabel: 'ms', logY: true, series: [{ name: 'a&b', color: '#000', points: [[0, 1], [1, 10], [2, 1000]] }, { name: 'empty', color: '#111', points: [] }] });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(1);
    expect(svg).toContain('T &lt;1&gt;');
    expect(svg).toContain('a&amp;b');
    const d = /d="([^"]+)"/.exec(svg)![1]!;
    for (const [x, y] of [...d.matchAll(/[ML]([\d.]+),([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])])) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(760);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(250);
    }
  });
});
