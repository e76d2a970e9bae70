import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRegister } from '../../checkers/index.js';
import { checkLinearizable } from '../../checkers/linearizable.js';
import type { Budget } from '../../checkers/result.js';
import { checkStaleReads } from '../../checkers/stale-read.js';
import { inject, simulate, toHistory } from '../../checkers/sim/register-sim.js';
import { injectionArb, scenarioArb } from './register-arbs.js';
import type { RegisterOp } from '../../harness/history.js';

const seconds = (s: number): Budget => {
  const now = (): number => performance.now();
  return { deadline: now() + s * 1000, now };
};

/** FAULTLINE_SOAK=20 runs twenty times as many cases. */
const soak = Math.max(1, Number(process.env.FAULTLINE_SOAK ?? 1) || 1);

const shapes = [
  { name: 'several keys', processes: 5, keys: 3, maxOps: 120, numRuns: 600 },
  { name: 'one busy key', processes: 8, keys: 1, maxOps: 60, numRuns: 400 },
  { name: 'one crowded key', processes: 16, keys: 1, maxOps: 100, numRuns: 150 },
];

const completionOf = (history: readonly RegisterOp[], process: number): number =>
  history.find((o) => o.process === process && o.type !== 'invoke')!.index;

describe.each(shapes)('simulated histories ($name)', ({ processes, keys, maxOps, numRuns }) => {
  it('are valid for every checker', () => {
    fc.assert(
      fc.property(scenarioArb({ processes, keys, maxOps }), ({ specs, cutPercent }) => {
        const history = toHistory(simulate(specs, { processes, keys, cutPercent }));
        const r = checkRegister(history, { budget: seconds(5) });
        expect(r.anomalies).toEqual([]);
        expect(r.valid).toBe(true);
        expect(r.linearizable.keys.linearizable.length).toBe(new Set(history.map((o) => o.value.key)).size);
      }),
      { numRuns: numRuns * soak },
    );
  });

  it('with one injected anomaly are not linearizable, and the injected op is blamed', () => {
    fc.assert(
      fc.property(scenarioArb({ processes, keys, maxOps }), injectionArb(keys), ({ specs, cutPercent }, choice) => {
        const { ops, blamed } = inject(simulate(specs, { processes, keys, cutPercent }), choice);
        const history = toHistory(ops);
        const blamedAt = completionOf(history, blamed.process);

        const r = checkLinearizable(history, { budget: seconds(5) });
        expect(r.valid).toBe(false);
        expect(r.keys.notLinearizable).toEqual([blamed.key]);
        const anomaly = r.anomalies[0]!;
        expect(anomaly.ops.map((o) => o.index)).toContain(blamedAt);
        expect(anomaly.explanation.length).toBeGreaterThan(20);

        if (choice.kind === 'stale-read') {
          const s = checkStaleReads(history);
          expect(s.anomalies.filter((a) => a.type === 'stale-read').flatMap((a) => a.ops.map((o) => o.index))).toContain(blamedAt);
        }
        expect(checkRegister(history, { budget: seconds(5) }).valid).toBe(false);
      }),
      { numRuns: numRuns * soak },
    );
  });
});
