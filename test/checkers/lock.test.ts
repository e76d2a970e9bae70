import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkLock, UNFENCED_LOCK_EXPLANATION, type LockCheckMode } from '../../checkers/lock.js';
import type { Op } from '../../harness/history.js';
import { createRng } from '../../harness/random.js';
import type { LockIncr } from '../../workloads/lock-types.js';

interface Model {
  seed: number;
  holders: number;
  processes: number;
  infoRate: number;
}

/**
 * Holders take the lock one after another (critical sections disjoint in
 * time, tokens increasing, each reading its predecessor's value); around each
 * critical section the op's invocation and completion are spread out, so
 * processes wait for the lock concurrently. Some increments end in info
 * (their write may or may not have landed: modelled as landed).
 */
function lockHistory(m: Model): Op[] {
  const rng = createRng(m.seed);
  type Ev = { t: number; op: Omit<Op, 'index'> };
  const evs: Ev[] = [];
  const freeAt = Array.from({ length: m.processes }, () => 0);
  let t = 1000;
  let token = 10;
  let counter = 0;
  let ok = 0;
  const pid = Array.from({ length: m.processes }, (_, i) => i);
  for (let i = 0; i < m.holders; i++) {
    const p = i % m.processes;
    const entered = Math.max(t, freeAt[p]! + 10) + rng.int(50);
    const left = entered + 1 + rng.int(100);
    const invokeT = Math.max(freeAt[p]! + 1, entered - rng.int(300));
    const completeT = left + 1 + rng.int(5);
    token += 1 + rng.int(5);
    const v: LockIncr = { lease: String(i), lockKey: `/lock/${i}`, token, read: counter, wrote: counter + 1, enteredNs: entered, leftNs: left };
    counter++;
    const info = rng.next() < m.infoRate;
    if (!info) ok++;
    evs.push({ t: invokeT, op: { type: 'invoke', process: pid[p]!, f: 'incr', value: {}, time: invokeT } });
    evs.push({ t: completeT, op: { type: info ? 'info' : 'ok', process: pid[p]!, f: 'incr', value: v, time: completeT } });
    if (info) pid[p]! += m.processes;
    freeAt[p] = completeT;
    t = left + 1;
  }
  const end = Math.max(t, ...freeAt) + 10;
  evs.push({ t: end, op: { type: 'invoke', process: 1000, f: 'read', value: {}, time: end } });
  evs.push({ t: end + 1, op: { type: 'ok', process: 1000, f: 'read', value: { value: counter }, time: end + 1 } });
  void ok;
  return evs.sort((a, b) => a.t - b.t).map((e, index) => ({ ...e.op, index }) as Op);
}

const model = fc.record({
  seed: fc.integer(),
  holders: fc.integer({ min: 3, max: 40 }),
  processes: fc.integer({ min: 1, max: 5 }),
  infoRate: fc.constantFrom(0, 0.2),
});

const incrs = (h: Op[]) => h.filter((o) => o.f === 'incr' && o.type !== 'invoke') as Op<LockIncr>[];
const types = (h: Op[], mode: LockCheckMode) => Object.keys(checkLock(h, { mode }).counts);

describe('checkLock', () => {
  it('accepts histories of a correct lock in both modes', () => {
    fc.assert(
      fc.property(model, (m) => {
        const h = lockHistory(m);
        for (const mode of ['etcd', 'memory'] as const) {
          const r = checkLock(h, { mode });
          expect(r.anomalies.map((a) => a.explanation)).toEqual([]);
          expect(r.valid).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('names overlapping holders of the in-memory lock, with the reason', () => {
    fc.assert(
      fc.property(model, fc.integer(), (m, s) => {
        const h = lockHistory({ ...m, holders: Math.max(m.holders, 4) });
        const ok = incrs(h).filter((o) => o.type === 'ok');
        // Indeterminate increments can leave fewer than two completed holders to overlap.
        fc.pre(ok.length >= 2);
        const i = 1 + createRng(s).int(ok.length - 1);
        const [a, b] = [ok[i - 1]!.value, ok[i]!.value];
        b.enteredNs = a.leftNs! - 1;
        if (b.leftNs! <= b.enteredNs) b.leftNs = b.enteredNs + 1;
        const r = checkLock(h, { mode: 'memory' });
        expect(r.valid).toBe(false);
        const overlap = r.anomalies.find((x) => x.type === 'lock-overlap');
        expect(overlap?.explanation).toContain(UNFENCED_LOCK_EXPLANATION);
        expect(overlap?.explanation).toMatch(/pauses or clock issues/);
        // With fencing, an overlap in real time is not by itself a violation.
        expect(types(h, 'etcd')).not.toContain('lock-overlap');
      }),
      { numRuns: 60 },
    );
  });

  it('names non-increasing fencing tokens', () => {
    let injected = 0;
    fc.assert(
      fc.property(model, (m) => {
        const h = lockHistory({ ...m, processes: 1, infoRate: 0 });
        const ok = incrs(h);
        if (ok.length < 2) return;
        injected++;
        const [a, b] = [ok[0]!.value, ok[ok.length - 1]!.value];
        [a.token, b.token] = [b.token, a.token];
        expect(types(h, 'etcd')).toContain('fencing-token-not-increasing');
      }),
      { numRuns: 60 },
    );
    expect(injected).toBeGreaterThan(30);
  });

  it('names a reused fencing token', () => {
    const h = lockHistory({ seed: 5, holders: 6, processes: 2, infoRate: 0 });
    const ok = incrs(h);
    ok[3]!.value.token = ok[2]!.value.token;
    expect(types(h, 'etcd')).toContain('fencing-token-reused');
  });

  it('names lost updates: a holder reading a value older than its predecessor wrote, and a short final count', () => {
    fc.assert(
      fc.property(model, fc.integer(), (m, s) => {
        const h = lockHistory({ ...m, holders: Math.max(m.holders, 3), infoRate: 0 });
        const ok = incrs(h);
        const i = 1 + createRng(s).int(ok.length - 1);
        const b = ok[i]!.value;
        b.read = b.read! - 1;
        b.wrote = b.read + 1;
        expect(types(h, 'etcd')).toContain('lost-update');
        const h2 = lockHistory({ ...m, infoRate: 0 });
        const final = h2.find((o) => o.f === 'read' && o.type === 'ok')!;
        (final.value as { value: number }).value -= 1;
        expect(types(h2, 'memory')).toContain('lost-update');
      }),
      { numRuns: 60 },
    );
  });

  it('summarises what it covered', () => {
    const r = checkLock(lockHistory({ seed: 1, holders: 12, processes: 3, infoRate: 0.2 }), { mode: 'etcd' });
    expect(r.summary.mutualExclusion).toMatch(/^\d+ acquisitions; fencing tokens strictly increasing over \d+ real-time-ordered holders$/);
    expect(r.coverage.finalValue).toBe(12);
  });
});
