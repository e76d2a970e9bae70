import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRwRegister } from '../../../checkers/elle/index.js';
import { unlimitedBudget } from '../../../checkers/result.js';
import type { Op } from '../../../harness/history.js';
import { simulate } from '../../../checkers/sim/elle-sim.js';
import { splice, WR_ANOMALIES } from './anomalies.js';

const check = (h: readonly Op[]) => checkRwRegister(h, { budget: unlimitedBudget });

describe('rw-register checker on valid histories', () => {
  for (const revisions of [true, false]) {
    it(`accepts strict-serializable histories (${revisions ? 'etcd revisions as version order' : 'no revisions'})`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5 }), (seed, processes, keys) => {
          const r = check(simulate('wr', { seed, txns: 150, processes, keys, revisions }));
          expect(r.anomalies.map((a) => a.explanation)).toEqual([]);
          expect(r.valid).toBe(true);
        }),
        { numRuns: 40 },
      );
    });
  }

  it('uses revisions to order versions: more ww edges than without', () => {
    const withRev = check(simulate('wr', { seed: 3, txns: 300, processes: 4, keys: 2, revisions: true }));
    const without = check(simulate('wr', { seed: 3, txns: 300, processes: 4, keys: 2, revisions: false }));
    expect(withRev.stats.edges.ww).toBeGreaterThan(without.stats.edges.ww);
  });
});

describe('rw-register checker on injected anomalies', () => {
  for (const [type, txns] of Object.entries(WR_ANOMALIES)) {
    it(`names ${type}`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1e9 }), (seed) => {
          const r = check(splice(simulate('wr', { seed, txns: 60, processes: 4, keys: 3 }), txns));
          expect(r.valid).toBe(false);
          expect(r.anomalyTypes).toContain(type);
        }),
        { numRuns: 8 },
      );
    });
  }

  it('with revisions: a read that misses an earlier-revision write is G-single', () => {
    const h = splice([], [
      { mops: [['w', 'x', 1], ['w', 'y', 1]], revision: 5 },
      { mops: [['r', 'x', null], ['r', 'y', 1, 5]], revision: 5 },
    ]);
    const r = check(h);
    expect(r.anomalyTypes).toEqual(['G-single']);
    expect(r.cycles[0]!.explanation).toContain('read x = nil and T');
  });

  it('with revisions: an indeterminate txn whose writes carry two different mod revisions makes G0', () => {
    const h = splice([], [
      { mops: [['w', 'x', 1], ['w', 'y', 1]], type: 'info' },
      { mops: [['w', 'x', 2], ['w', 'y', 2]], revision: 5 },
      { mops: [['r', 'x', 1, 7]], revision: 7 },
      { mops: [['r', 'y', 2, 5]], revision: 7 },
      { mops: [['r', 'y', 1, 3]], revision: 7 },
    ]);
    expect(check(h).anomalyTypes).toContain('G0');
  });
});
