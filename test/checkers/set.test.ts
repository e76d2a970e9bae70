import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSet, type SetRead, type SetValue } from '../../checkers/set.js';
import type { Op } from '../../harness/history.js';
import { simulateOps } from './set-sim.js';

/** A set on two keys; adds of unique elements sometimes fail. */
function history(seed: number, processes: number): Op[] {
  const sets = new Map<string, number[]>();
  let next = 1;
  return simulateOps<SetValue>(seed, processes, 200, {
    next: (rng) => {
      const key = `s${rng.int(2)}`;
      return rng.next() < 0.4 ? { f: 'read', value: { key, elements: null } } : { f: 'add', value: { key, element: next++ } };
    },
    apply: (f, value) => {
      const list = sets.get(value.key) ?? [];
      sets.set(value.key, list);
      if (f === 'read') return { type: 'ok', value: { key: value.key, elements: [...list] } };
      if ((value as { element: number }).element % 13 === 0) return { type: 'fail', value };
      list.push((value as { element: number }).element);
      return { type: 'ok', value };
    },
  });
}

/** Later ok reads of a key, in completion order. */
const readsOf = (h: Op[], key: string) => h.filter((o) => o.type === 'ok' && o.f === 'read' && (o.value as SetRead).key === key);

describe('set checker', () => {
  it('accepts histories from a serial set', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 1, max: 8 }), (seed, p) => {
        const r = checkSet(history(seed, p));
        expect(r.anomalies.map((a) => a.explanation)).toEqual([]);
        expect(r.valid).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('finds a lost element: acknowledged, then missing from the final reads', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), (seed) => {
        const h = history(seed, 4);
        const reads = readsOf(h, 's0');
        const last = reads[reads.length - 1]!;
        // The last read's invocation: the victim's add must be acknowledged before it.
        const lastInvoke = h.slice(0, last.index).reverse().find((o) => o.type === 'invoke' && o.process === last.process)!;
        const victim = (last.value as SetRead).elements!.find((e) => h.some((o) => o.type === 'ok' && o.f === 'add' && (o.value as { element: number }).element === e && o.index < lastInvoke.index));
        fc.pre(victim !== undefined);
        // Drop it from every read that began at or after the last read's invocation.
        for (const r of reads) {
          const inv = h.slice(0, r.index).reverse().find((o) => o.type === 'invoke' && o.process === r.process)!;
          if (inv.index >= lastInvoke.index) (r.value as SetRead).elements = (r.value as SetRead).elements!.filter((e) => e !== victim);
        }
        const res = checkSet(h);
        expect(res.valid).toBe(false);
        expect(res.counts.lost).toBeGreaterThan(0);
        expect(res.keys.find((k) => k.key === 's0')!.lost).toContain(victim);
      }),
      { numRuns: 40 },
    );
  });

  it('finds a stale element: missing from one later read, present after', () => {
    const h: Op[] = [
      { index: 0, type: 'invoke', process: 0, f: 'add', value: { key: 's', element: 1 }, time: 0 },
      { index: 1, type: 'ok', process: 0, f: 'add', value: { key: 's', element: 1 }, time: 1e6 },
      { index: 2, type: 'invoke', process: 1, f: 'read', value: { key: 's', elements: null }, time: 2e6 },
      { index: 3, type: 'ok', process: 1, f: 'read', value: { key: 's', elements: [] }, time: 3e6 },
      { index: 4, type: 'invoke', process: 1, f: 'read', value: { key: 's', elements: null }, time: 4e6 },
      { index: 5, type: 'ok', process: 1, f: 'read', value: { key: 's', elements: [1] }, time: 5e6 },
    ];
    const r = checkSet(h);
    expect(r.anomalies.map((a) => a.type)).toEqual(['stale']);
    expect(r.latencyMs).toMatchObject({ count: 1, p50: 4 });
  });

  it('finds unexpected elements: never added, or from a failed add', () => {
    const h = history(11, 4);
    const reads = readsOf(h, 's1');
    (reads[reads.length - 1]!.value as SetRead).elements!.push(999_999);
    const failed = h.find((o) => o.type === 'fail' && o.f === 'add' && (o.value as { key: string }).key === 's1');
    if (failed) (reads[reads.length - 1]!.value as SetRead).elements!.push((failed.value as { element: number }).element);
    const r = checkSet(h);
    expect(r.keys.find((k) => k.key === 's1')!.unexpected).toContain(999_999);
    if (failed) expect(r.anomalies.some((a) => a.explanation.includes('failed'))).toBe(true);
    expect(r.valid).toBe(false);
  });

  it('reports visibility latency and a summary', () => {
    const r = checkSet(history(5, 3));
    expect(r.latencyMs.count).toBeGreaterThan(10);
    expect(r.latencyMs.p50).not.toBeNull();
    expect(r.summary).toMatch(/^set: holds \(\d+ adds, \d+ acknowledged/);
  });
});
