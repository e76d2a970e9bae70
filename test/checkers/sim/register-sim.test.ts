import { describe, expect, it } from 'vitest';
import { checkLinearizable } from '../../../checkers/linearizable.js';
import { unlimitedBudget } from '../../../checkers/result.js';
import { benchHistory, pathologicalHistory } from '../../../checkers/sim/register-sim.js';
import type { RegisterOp } from '../../../harness/history.js';

/** Every invocation is followed by exactly one completion of the same process. */
function wellFormed(history: readonly RegisterOp[]): void {
  const open = new Set<RegisterOp['process']>();
  history.forEach((op, i) => {
    expect(op.index).toBe(i);
    if (op.type === 'invoke') {
      expect(open.has(op.process)).toBe(false);
      open.add(op.process);
    } else {
      expect(open.delete(op.process)).toBe(true);
    }
  });
}

describe('benchHistory', () => {
  it('is linearizable and the same for the same seed', () => {
    const h = benchHistory(600, 5, 4, 5, undefined, 11);
    expect(benchHistory(600, 5, 4, 5, undefined, 11)).toEqual(h);
    expect(benchHistory(600, 5, 4, 5, undefined, 12)).not.toEqual(h);
    expect(h.filter((o) => o.type === 'invoke')).toHaveLength(600);
    expect(checkLinearizable(h, { budget: unlimitedBudget }).valid).toBe(true);
  });
});

describe('pathologicalHistory', () => {
  it('is well formed and the same for the same seed', () => {
    const h = pathologicalHistory({ keys: 2, writers: 9, readers: 3, seed: 5 });
    expect(pathologicalHistory({ keys: 2, writers: 9, readers: 3, seed: 5 })).toEqual(h);
    wellFormed(h);
    expect(h.filter((o) => o.type === 'invoke')).toHaveLength(2 * (9 + 3 + 3));
    expect(h.filter((o) => o.type === 'info')).toHaveLength(2 * 3);
  });

  it('is not linearizable, which a search with few writers proves', () => {
    const r = checkLinearizable(pathologicalHistory({ keys: 2, writers: 8, readers: 3, seed: 1 }), { budget: unlimitedBudget });
    expect(r.valid).toBe(false);
    expect(r.keys.notLinearizable).toEqual(['p0', 'p1']);
  });

  it('ends unknown when the search cannot finish within its step budget', () => {
    // A counter instead of a clock: the deadline passes after a fixed number of looks.
    let looks = 0;
    const r = checkLinearizable(pathologicalHistory({ keys: 3, writers: 40, readers: 10, seed: 1 }), {
      budget: { deadline: 50, now: () => looks++ },
    });
    expect(r.valid).toBe('unknown');
    expect(r.cause).toBe('timeout');
    expect(r.keys.unknown).toHaveLength(3);
  });

  it('needs two writers per key', () => {
    expect(() => pathologicalHistory({ keys: 1, writers: 1, readers: 0, seed: 1 })).toThrow(/at least 2 writers/);
  });
});
