import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkListAppend } from '../../../checkers/elle/index.js';
import { unlimitedBudget } from '../../../checkers/result.js';
import type { Op } from '../../../harness/history.js';
import { simulate } from '../../../checkers/sim/elle-sim.js';
import { APPEND_ANOMALIES, splice } from './anomalies.js';

const check = (h: readonly Op[]) => checkListAppend(h, { budget: unlimitedBudget });

describe('list-append checker on valid histories', () => {
  it('accepts strict-serializable histories from a serial model with random concurrency', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5 }), (seed, processes, keys) => {
        const h = simulate('append', { seed, txns: 150, processes, keys });
        const r = check(h);
        expect(r.anomalies.map((a) => a.explanation)).toEqual([]);
        expect(r.valid).toBe(true);
        expect(r.models.strongest).toEqual(['strict-serializable']);
      }),
      { numRuns: 60 },
    );
  });

  it('reports what it checked', () => {
    const h = simulate('append', { seed: 7, txns: 400, processes: 5, keys: 3 });
    const r = check(h);
    expect(r.stats.txns).toBe(400);
    expect(r.stats.keys).toBe(3);
    expect(r.stats.edges.ww).toBeGreaterThan(0);
    expect(r.stats.edges.rw).toBeGreaterThan(0);
    expect(r.stats.edges.realtime).toBeGreaterThan(0);
    expect(r.summary[0]).toMatch(/^strict-serializable: holds \(400 txns .*3 keys, 0 cycles/);
  });
});

describe('list-append checker on injected anomalies', () => {
  for (const [type, txns] of Object.entries(APPEND_ANOMALIES)) {
    it(`names ${type}`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1e9 }), (seed) => {
          const h = splice(simulate('append', { seed, txns: 60, processes: 4, keys: 3 }), txns);
          const r = check(h);
          expect(r.valid).toBe(false);
          expect(r.anomalyTypes).toContain(type);
          const a = r.anomalies.find((x) => x.type === type)!;
          expect(a.explanation.length).toBeGreaterThan(10);
          expect(r.models.satisfied).not.toContain('strict-serializable');
        }),
        { numRuns: 10 },
      );
    });
  }

  it('explains a G-single cycle step by step and keeps weaker models', () => {
    const r = check(splice([], APPEND_ANOMALIES['G-single']!));
    const cycle = r.cycles.find((c) => c.type === 'G-single')!;
    expect(cycle.steps.map((s) => s.rel).sort()).toEqual(['rw', 'wr']);
    expect(cycle.explanation).toContain('read x4 as empty, without 1');
    expect(cycle.explanation).toContain('read y4 ending in 1');
    expect(r.models.strongest).toEqual(['read-committed']);
    expect(r.models.not).toEqual(['snapshot-isolation', 'repeatable-read']);
  });

  it('write skew (G2-item) leaves snapshot isolation standing', () => {
    const r = check(splice([], APPEND_ANOMALIES['G2-item']!));
    expect(r.anomalyTypes).toEqual(['G2-item']);
    expect(r.models.strongest).toEqual(['snapshot-isolation']);
  });

  it('a stale read is G-single-realtime: serializable but not strict', () => {
    const h: Op[] = [
      { index: 0, type: 'invoke', process: 0, f: 'txn', value: [['append', 'x', 1]], time: 0 },
      { index: 1, type: 'ok', process: 0, f: 'txn', value: [['append', 'x', 1]], time: 1 },
      { index: 2, type: 'invoke', process: 1, f: 'txn', value: [['r', 'x', null]], time: 2 },
      { index: 3, type: 'ok', process: 1, f: 'txn', value: [['r', 'x', []]], time: 3 },
      { index: 4, type: 'invoke', process: 1, f: 'txn', value: [['r', 'x', null]], time: 4 },
      { index: 5, type: 'ok', process: 1, f: 'txn', value: [['r', 'x', [1]]], time: 5 },
    ];
    const r = check(h);
    expect(r.anomalyTypes).toEqual(['G-single-realtime']);
    expect(r.models.strongest).toEqual(['serializable']);
    expect(r.valid).toBe(false);
    expect(check(h).cycles[0]!.explanation).toMatch(/completed before .* began \(realtime\)/);
  });

  it('an indeterminate append that a read observed takes part in the graph', () => {
    const h = splice([], [{ mops: [['append', 'x', 1], ['append', 'y', 1]], type: 'info' }, { mops: [['r', 'x', []], ['r', 'y', [1]]] }, { mops: [['r', 'x', [1]]] }]);
    expect(check(h).anomalyTypes).toEqual(['G-single']);
  });
});
