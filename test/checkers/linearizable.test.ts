import { describe, expect, it } from 'vitest';
import { checkLinearizable } from '../../checkers/linearizable.js';
import { unlimitedBudget } from '../../checkers/result.js';
import type { Budget } from '../../checkers/result.js';
import { HistoryBuilder } from './history-builder.js';

const check = (h: HistoryBuilder, budget: Budget = unlimitedBudget) => checkLinearizable(h.ops, { budget });
const indexes = (ops: readonly { index: number }[]): number[] => ops.map((o) => o.index);

describe('checkLinearizable: hand-written histories', () => {
  it('accepts the empty history', () => {
    const r = check(new HistoryBuilder());
    expect(r.valid).toBe(true);
    expect(r.anomalies).toEqual([]);
  });

  it('accepts a read of the initial absence and of a completed write', () => {
    const h = new HistoryBuilder().read(0, 'k').ok(0, { value: null }).write(0, 'k', 1).ok(0).read(1, 'k').ok(1, { value: 1 });
    expect(check(h).valid).toBe(true);
  });

  it('lets a read overlapping a write see either the old or the new value', () => {
    for (const seen of [null, 1]) {
      const h = new HistoryBuilder().write(0, 'k', 1).read(1, 'k').ok(1, { value: seen }).ok(0);
      expect(check(h).valid).toBe(true);
    }
  });

  it('requires a read that begins after a write completed to see it', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0);
    const writeDone = h.last;
    h.read(1, 'k').ok(1, { value: null });
    const readDone = h.last;
    const r = check(h);
    expect(r.valid).toBe(false);
    expect(r.keys.notLinearizable).toEqual(['k']);
    const a = r.anomalies[0]!;
    expect(a.type).toBe('not-linearizable');
    expect(a.key).toBe('k');
    expect(indexes(a.ops)).toEqual(expect.arrayContaining([readDone, writeDone]));
    expect(a.explanation).toBe(
      'read of key k returning nothing (key absent) (op #2, ok) is not linearizable: the key was absent only at the start, ' +
        'but after that write of 1 to key k (op #0, ok) wrote 1 and completed before the read began.',
    );
    expect(indexes([r.failures[0]!.op])).toEqual([readDone]);
    expect(indexes(r.failures[0]!.prefix)).toEqual([writeDone]);
    expect(r.failures[0]!.stateAfterPrefix).toBe(1);
  });

  it('names the write that overwrote the value a stale read returned', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0).write(0, 'k', 2).ok(0);
    const overwrite = h.last;
    h.read(1, 'k').ok(1, { value: 1 });
    const r = check(h);
    expect(r.valid).toBe(false);
    expect(r.anomalies[0]!.explanation).toMatch(/1 was written only by write of 1 .*, but after that write of 2 .* wrote 2 and completed before the read began/);
    expect(indexes(r.anomalies[0]!.ops)).toContain(overwrite);
  });

  it('finds an order of concurrent writes when one exists, and rejects reads that need two orders', () => {
    // w1 and w2 overlap; both complete before the reads.
    const base = () => new HistoryBuilder().write(0, 'k', 1).write(1, 'k', 2).ok(1).ok(0);
    expect(check(base().read(2, 'k').ok(2, { value: 1 }).read(2, 'k').ok(2, { value: 1 })).valid).toBe(true);
    expect(check(base().read(2, 'k').ok(2, { value: 2 })).valid).toBe(true);
    expect(check(base().read(2, 'k').ok(2, { value: 1 }).read(2, 'k').ok(2, { value: 2 })).valid).toBe(false);
  });

  it('checks cas against the value it expected', () => {
    const h = () => new HistoryBuilder().write(0, 'k', 1).ok(0);
    expect(check(h().cas(0, 'k', 1, 2).ok(0).read(0, 'k').ok(0, { value: 2 })).valid).toBe(true);
    const bad = h().write(0, 'k', 3).ok(0).cas(1, 'k', 1, 2).ok(1);
    const r = check(bad);
    expect(r.valid).toBe(false);
    expect(r.anomalies[0]!.explanation).toMatch(/^cas of key k from 1 to 2 .* it succeeded, so the register held 1; 1 was written only by write of 1 .* but after that write of 3 .* wrote 3 and completed before the cas began\.$/);
  });

  it('treats failed ops as never having happened', () => {
    const h = new HistoryBuilder().write(0, 'k', 5).fail(0).read(0, 'k').ok(0, { value: null });
    expect(check(h).valid).toBe(true);
    const cas = new HistoryBuilder().write(0, 'k', 1).ok(0).cas(0, 'k', 7, 8).fail(0).read(0, 'k').ok(0, { value: 1 });
    expect(check(cas).valid).toBe(true);
    const seen = new HistoryBuilder().write(0, 'k', 5).fail(0).read(0, 'k').ok(0, { value: 5 });
    const r = check(seen);
    expect(r.valid).toBe(false);
    expect(r.anomalies[0]!.explanation).toContain('no operation ever wrote 5');
  });

  it('lets an indeterminate write take effect any time after its invocation, or never', () => {
    const pending = () => new HistoryBuilder().write(0, 'k', 1).info(0);
    expect(check(pending().read(1, 'k').ok(1, { value: null })).valid).toBe(true);
    expect(check(pending().read(1, 'k').ok(1, { value: 1 })).valid).toBe(true);
    expect(check(pending().read(1, 'k').ok(1, { value: null }).read(1, 'k').ok(1, { value: 1 })).valid).toBe(true);
    // Even after a later acknowledged write: the info write may land after it.
    expect(check(pending().write(2, 'k', 2).ok(2).read(1, 'k').ok(1, { value: 1 })).valid).toBe(true);
    // An invocation that never completed behaves the same.
    expect(check(new HistoryBuilder().write(0, 'k', 1).read(1, 'k').ok(1, { value: 1 })).valid).toBe(true);
    // But it happens at most once.
    const twice = pending().read(1, 'k').ok(1, { value: 1 }).write(2, 'k', 2).ok(2).read(1, 'k').ok(1, { value: 1 });
    expect(check(twice).valid).toBe(false);
  });

  it('ignores indeterminate reads and honours indeterminate cas only when it could succeed', () => {
    const h = new HistoryBuilder().read(0, 'k').info(0).write(1, 'k', 1).ok(1).cas(2, 'k', 1, 2).info(2);
    expect(check(h.read(1, 'k').ok(1, { value: 2 })).valid).toBe(true);
    const never = new HistoryBuilder().write(1, 'k', 1).ok(1).cas(2, 'k', 9, 2).info(2).read(1, 'k').ok(1, { value: 2 });
    expect(check(never).valid).toBe(false);
  });

  it('checks keys independently and reports each verdict', () => {
    const h = new HistoryBuilder()
      .write(0, 'a', 1).ok(0)
      .write(0, 'b', 2).ok(0)
      .read(1, 'a').ok(1, { value: 1 })
      .read(1, 'b').ok(1, { value: 1 });
    const r = check(h);
    expect(r.valid).toBe(false);
    expect(r.keys).toEqual({ linearizable: ['a'], notLinearizable: ['b'], unknown: [] });
    expect(r.anomalies.map((a) => a.key)).toEqual(['b']);
  });

  it('reports the longest linearizable prefix and the op that could not follow it', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0);
    const w1 = h.last;
    h.read(1, 'k').ok(1, { value: 1 });
    const r1 = h.last;
    h.write(0, 'k', 2).ok(0);
    const w2 = h.last;
    h.read(1, 'k').ok(1, { value: 1 });
    const bad = h.last;
    h.read(1, 'k').ok(1, { value: 2 });
    const r = check(h);
    expect(r.valid).toBe(false);
    const f = r.failures[0]!;
    expect(indexes(f.prefix)).toEqual([w1, r1, w2]);
    expect(f.op.index).toBe(bad);
    expect(f.stateAfterPrefix).toBe(2);
  });
});

/**
 * Many indeterminate writes all pending at once, half writing 1 and half 2,
 * then reads alternating 1, 2, 1, ... one more time than the writes allow.
 * With repeated values no write is ever the last one able to produce its
 * value, so the search has to try every combination of writes that landed.
 */
function pathological(infoWrites: number): HistoryBuilder {
  const h = new HistoryBuilder();
  for (let p = 0; p < infoWrites; p++) h.write(p, 'hot', 1 + (p % 2));
  for (let p = 0; p < infoWrites; p++) h.info(p);
  const reader = infoWrites;
  for (let i = 0; i <= infoWrites; i++) h.read(reader, 'hot').ok(reader, { value: 1 + (i % 2) });
  return h;
}

describe('checkLinearizable: budgets', () => {
  it('returns unknown once a counting clock passes the deadline', () => {
    let ticks = 0;
    const budget = { deadline: 5, now: () => ticks++ };
    const h = pathological(24).write(100, 'calm', 1).ok(100);
    const r = checkLinearizable(h.ops, { budget, checkEvery: 256 });
    expect(r.valid).toBe('unknown');
    expect(r.cause).toBe('timeout');
    expect(r.keys.unknown).toEqual(['hot', 'calm']);
    expect(ticks).toBeLessThan(10);
    expect(r.steps).toBeLessThan(10 * 256);
  });

  it('keeps verdicts for keys finished before the deadline', () => {
    let ticks = 0;
    const budget = { deadline: 3, now: () => ticks++ };
    const h = new HistoryBuilder().write(100, 'calm', 1).ok(100).read(100, 'calm').ok(100, { value: null });
    for (const op of pathological(24).ops) h.ops.push({ ...op, index: h.ops.length });
    const r = checkLinearizable(h.ops, { budget, checkEvery: 256 });
    expect(r.valid).toBe(false);
    expect(r.keys).toEqual({ linearizable: [], notLinearizable: ['calm'], unknown: ['hot'] });
  });

  it('stops promptly on a real clock', () => {
    const start = performance.now();
    const r = checkLinearizable(pathological(26).ops, { budget: { deadline: start + 50, now: () => performance.now() } });
    expect(r.valid).toBe('unknown');
    expect(performance.now() - start).toBeLessThan(1500);
  });

  it('gives up when the cache grows past its limit', () => {
    const r = checkLinearizable(pathological(20).ops, { budget: unlimitedBudget, maxCacheEntries: 5000 });
    expect(r.valid).toBe('unknown');
    expect(r.cause).toBe('cache-limit');
  });

  it('proves a smaller version of the pathological history invalid', () => {
    const r = checkLinearizable(pathological(8).ops, { budget: unlimitedBudget });
    expect(r.valid).toBe(false);
    expect(r.failures[0]!.op.index).toBe(pathological(8).last);
  });
});

describe('checkLinearizable: explanations', () => {
  it('uses an earlier read as proof that an indeterminate write already happened', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).info(0).write(2, 'k', 2).info(2);
    h.read(1, 'k').ok(1, { value: 1 });
    const proof = h.last;
    h.read(1, 'k').ok(1, { value: 2 });
    const replaced = h.last;
    h.read(1, 'k').ok(1, { value: 1 });
    const bad = h.last;
    const r = checkLinearizable(h.ops, { budget: unlimitedBudget });
    expect(r.valid).toBe(false);
    const a = r.anomalies[0]!;
    expect(a.explanation).toMatch(/1 was written only by write of 1 .*info\), which read of key k returning 1 .* had already observed, but after that read of key k returning 2 .* observed 2 and completed before the read began\.$/);
    expect(indexes(a.ops)).toEqual(expect.arrayContaining([bad, proof, replaced]));
  });
});

describe('checkLinearizable: initial value and reads of nil', () => {
  it('starts every key absent unless given an initial value', () => {
    const h = new HistoryBuilder().read(0, 'k').ok(0, { value: 0 });
    const absent = check(h);
    expect(absent.valid).toBe(false);
    expect(absent.anomalies[0]!.explanation).toContain('no operation ever wrote 0');
    expect(checkLinearizable(h.ops, { budget: unlimitedBudget, initialValue: 0 }).valid).toBe(true);
    // With an initial value, a read of absent is the impossible one.
    const none = checkLinearizable(new HistoryBuilder().read(0, 'k').ok(0, { value: null }).ops, { budget: unlimitedBudget, initialValue: 0 });
    expect(none.valid).toBe(false);
    expect(none.anomalies[0]!.explanation).toContain('the key starts at 0 and no operation removes it');
  });

  it('names the initial value as the source a stale read came from', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0).read(1, 'k').ok(1, { value: 0 });
    const r = checkLinearizable(h.ops, { budget: unlimitedBudget, initialValue: 0 });
    expect(r.valid).toBe(false);
    expect(r.anomalies[0]!.explanation).toMatch(/0 was the register's value only at the start, but after that write of 1 .* wrote 1 and completed before the read began\.$/);
    expect(r.failures[0]!.stateAfterPrefix).toBe(1);
    // A value both initial and written again has two sources; the search still decides.
    const again = new HistoryBuilder().write(0, 'k', 1).ok(0).write(0, 'k', 0).read(1, 'k').ok(1, { value: 0 }).ok(0);
    expect(checkLinearizable(again.ops, { budget: unlimitedBudget, initialValue: 0 }).valid).toBe(true);
  });

  it('reads nil as absent by default and as "not recorded" with nilReads unknown', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0).read(1, 'k').ok(1, { value: null });
    expect(check(h).valid).toBe(false);
    expect(checkLinearizable(h.ops, { budget: unlimitedBudget, nilReads: 'absent' }).valid).toBe(false);
    const unknown = checkLinearizable(h.ops, { budget: unlimitedBudget, nilReads: 'unknown' });
    expect(unknown.valid).toBe(true);
    expect(unknown.keys.linearizable).toEqual(['k']);
    // Reads of real values still constrain.
    const stale = new HistoryBuilder().write(0, 'k', 1).ok(0).write(0, 'k', 2).ok(0).read(1, 'k').ok(1, { value: null }).read(1, 'k').ok(1, { value: 1 });
    expect(checkLinearizable(stale.ops, { budget: unlimitedBudget, nilReads: 'unknown' }).valid).toBe(false);
  });
});

describe('checkLinearizable: whom to blame', () => {
  it('blames the first read of a never-written value to complete, not the first to begin', () => {
    // Process 2's read of 3 begins first, process 3's read of 4 completes first.
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0).read(2, 'k').read(3, 'k').ok(3, { value: 4 });
    const first = h.last;
    h.ok(2, { value: 3 });
    const r = check(h);
    expect(r.valid).toBe(false);
    expect(r.failures[0]!.op.index).toBe(first);
    expect(r.anomalies[0]!.explanation).toBe('read of key k returning 4 (op #3, ok) is not linearizable: no operation ever wrote 4.');
  });

  it('blames an earlier-completing stale read over a later read of a never-written value', () => {
    // Value 1 is overwritten by 2; a stale read of 1 completes before the read of 9 does.
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0).write(0, 'k', 2).ok(0).read(2, 'k').read(1, 'k').ok(1, { value: 1 });
    const stale = h.last;
    h.ok(2, { value: 9 });
    const r = check(h);
    expect(r.valid).toBe(false);
    expect(r.failures[0]!.op.index).toBe(stale);
    expect(r.anomalies[0]!.explanation).toMatch(/^read of key k returning 1 \(op #5, ok\) is not linearizable: 1 was written only by write of 1/);
    expect(indexes(r.failures[0]!.prefix)).toEqual([1, 3]);
  });

  it('says what the longest prefix counts and quotes ops with the given labeler', () => {
    // Four indeterminate writes (1, 1, 2, 2), then reads 1, 2, 1, 2, 1: the last needs a third write of 1.
    const h = new HistoryBuilder().write(0, 'k', 1).write(1, 'k', 1).write(2, 'k', 2).write(3, 'k', 2).info(0).info(1).info(2).info(3);
    for (const v of [1, 2, 1, 2, 1]) h.read(4, 'k').ok(4, { value: v });
    const r = checkLinearizable(h.ops, { budget: unlimitedBudget, label: (c) => `entry ${c.start + 100}, ${c.outcome}` });
    expect(r.valid).toBe(false);
    expect(r.failures[0]!.op.index).toBe(h.last);
    expect(r.anomalies[0]!.explanation).toMatch(
      /^read of key k returning 1 \(entry 116, ok\) is not linearizable: no order of the operations concurrent with it allows it; the longest linearizable prefix \(8 operations on key k, each counted once, not per history entry\) leaves the register at 2, set by write of 2 to key k \(entry 10[23], info\)\.$/,
    );
  });
});
