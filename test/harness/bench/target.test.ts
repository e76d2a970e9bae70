import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateTarget, formatVerdict, parseTarget, TargetSyntaxError } from '../../../harness/bench/target.js';

describe('--target grammar', () => {
  it.each([
    ['1000w/s', 1000, 'w'],
    ['500r/s', 500, 'r'],
    ['2000ops/s', 2000, 'ops'],
    ['1.5e3W/S', 1500, 'w'],
    ['0.5ops/s', 0.5, 'ops'],
    [' 750 w/s ', 750, 'w'],
  ])('parses %s', (text, perNode, unit) => {
    const t = parseTarget(text);
    expect(t.perNode).toBe(perNode);
    expect(t.unit).toBe(unit);
  });

  it.each(['1000', 'w/s', '1000 writes/s', '1000w', '-5w/s', '0w/s', '1000x/s', 'abcw/s', '1000w/m', '10w/s/node', ''])('rejects %j', (text) => {
    expect(() => parseTarget(text)).toThrow(TargetSyntaxError);
  });
});

describe('target pass/fail: per node = cluster throughput divided by nodes', () => {
  it('passes exactly at the threshold and fails just below it', () => {
    const t = parseTarget('1000w/s');
    expect(evaluateTarget(t, { writes: 3000, reads: 0, ops: 3000 }, 3).pass).toBe(true);
    expect(evaluateTarget(t, { writes: 2999.9, reads: 0, ops: 2999.9 }, 3).pass).toBe(false);
    // 1500 w/s is enough for one node, not for three
    expect(evaluateTarget(t, { writes: 1500, reads: 0, ops: 1500 }, 1).pass).toBe(true);
    expect(evaluateTarget(t, { writes: 1500, reads: 0, ops: 1500 }, 3).pass).toBe(false);
  });

  it('counts the unit the target names', () => {
    const tp = { writes: 100, reads: 5000, ops: 5100 };
    expect(evaluateTarget(parseTarget('1000r/s'), tp, 1).pass).toBe(true);
    expect(evaluateTarget(parseTarget('1000w/s'), tp, 1).pass).toBe(false);
    expect(evaluateTarget(parseTarget('5100ops/s'), tp, 1).pass).toBe(true);
  });

  it('agrees with throughput/nodes ≥ target for any inputs, and reports both figures', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.integer({ min: 1, max: 7 }), fc.double({ min: 0.01, max: 1e5, noNaN: true }), (tput, nodes, perNode) => {
        const v = evaluateTarget({ perNode, unit: 'ops', text: `${perNode}ops/s` }, { writes: 0, reads: 0, ops: tput }, nodes);
        expect(v.pass).toBe(tput / nodes >= perNode);
        expect(v.measured).toBe(tput);
        expect(v.measuredPerNode).toBeCloseTo(tput / nodes, 6);
        expect(v.required).toBeCloseTo(perNode * nodes, 6);
      }),
      { numRuns: 200 },
    );
  });

  it('prints the cluster figure, the per-node figure and the verdict', () => {
    const text = formatVerdict(evaluateTarget(parseTarget('1000w/s'), { writes: 2712.4, reads: 0, ops: 2712.4 }, 3));
    expect(text).toContain('measured 2712 writes/s over 3 nodes');
    expect(text).toContain('= 904 writes/s per node < 1000');
    expect(text).toContain('cluster needs 3000');
    expect(text).toMatch(/FAIL$/);
  });
});
