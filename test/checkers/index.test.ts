import { describe, expect, it } from 'vitest';
import { checkRegister, combineValidity, unlimitedBudget } from '../../checkers/index.js';
import type { Op } from '../../harness/history.js';
import { HistoryBuilder } from './history-builder.js';

describe('checkRegister', () => {
  it('counts ops per function and outcome, ignoring the nemesis', () => {
    const h = new HistoryBuilder()
      .write(0, 'k', 1).ok(0, { revision: 2 })
      .cas(0, 'k', 5, 6).fail(0, 2)
      .cas(0, 'k', 1, 2).info(0)
      .read(1, 'k').ok(1, { value: 1, modRevision: 2, revision: 2 })
      .read(2, 'k');
    const nemesis: Op[] = [{ index: h.ops.length, type: 'invoke', process: 'nemesis', f: 'partition', value: null, time: 0 }];
    const r = checkRegister([...h.ops, ...nemesis], { budget: unlimitedBudget });
    expect(r.valid).toBe(true);
    expect(r.counts).toEqual({
      read: { ok: 1, fail: 0, info: 1 },
      write: { ok: 1, fail: 0, info: 0 },
      cas: { ok: 0, fail: 1, info: 1 },
    });
  });

  it('is invalid when any checker is, and gathers every anomaly', () => {
    const h = new HistoryBuilder()
      .write(0, 'k', 1).ok(0, { revision: 2 })
      .read(1, 'k').ok(1, { value: null, revision: 1 });
    const r = checkRegister(h.ops, { budget: unlimitedBudget });
    expect(r.valid).toBe(false);
    expect(r.anomalies.map((a) => a.type).sort()).toEqual(['not-linearizable', 'revision-went-back-in-time', 'stale-read']);
  });

  it('is invalid on a revision anomaly alone, even when the values are linearizable', () => {
    const h = new HistoryBuilder().write(0, 'a', 1).ok(0, { revision: 3 }).write(0, 'b', 1).ok(0, { revision: 3 });
    const r = checkRegister(h.ops, { budget: unlimitedBudget });
    expect(r.linearizable.valid).toBe(true);
    expect(r.valid).toBe(false);
    expect(r.anomalies.map((a) => a.type)).toEqual(['revision-went-back-in-time', 'duplicate-write-revision']);
  });

  it('is unknown when the search runs out of time and nothing else is wrong', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0, { revision: 2 });
    const r = checkRegister(h.ops, { budget: { deadline: 0, now: () => 1 } });
    expect(r.valid).toBe('unknown');
    expect(r.linearizable.keys.unknown).toEqual(['k']);
  });
});

describe('combineValidity', () => {
  it('lets false win over unknown, and unknown over true', () => {
    expect(combineValidity([true, 'unknown', false])).toBe(false);
    expect(combineValidity([true, 'unknown'])).toBe('unknown');
    expect(combineValidity([true, true])).toBe(true);
    expect(combineValidity([])).toBe(true);
  });
});
