import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Histogram } from '../../../harness/bench/histogram.js';

/** The value at rank ceil(p/100 × n) of the sorted samples: the definition Histogram.percentile approximates. */
function oracle(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100];

// Latency-like samples: mostly small, some spanning many orders of magnitude up to an hour in µs.
const sample = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 5_000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 2_000_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3_600_000_000 }) },
);

describe('Histogram', () => {
  it('reports every percentile within the documented relative error of a sorted-array oracle', () => {
    fc.assert(
      fc.property(fc.array(sample, { minLength: 1, maxLength: 400 }), fc.constantFrom(2, 3), (values, digits) => {
        const h = new Histogram({ significantDigits: digits });
        for (const v of values) h.record(v);
        const sorted = [...values].sort((a, b) => a - b);
        for (const p of PERCENTILES) {
          const want = oracle(sorted, p);
          const got = h.percentile(p);
          expect(Math.abs(got - want)).toBeLessThanOrEqual(want * h.relativeError);
        }
        expect(h.min).toBe(sorted[0]);
        expect(h.max).toBe(sorted[sorted.length - 1]);
        expect(h.count).toBe(values.length);
      }),
      { numRuns: 150 },
    );
  });

  it('documents about 3 significant digits by default and 2 when asked', () => {
    expect(new Histogram().relativeError).toBeLessThanOrEqual(0.0005);
    expect(new Histogram({ significantDigits: 2 }).relativeError).toBeLessThanOrEqual(0.005);
  });

  it('is exact below its linear range and precise near powers of two', () => {
    const h = new Histogram();
    for (const v of [0, 1, 2047, 2048, 4095, 4096, 2 ** 31 - 1, 2 ** 31]) h.record(v);
    expect(h.percentile(0)).toBe(0);
    expect(h.percentile(100)).toBe(2 ** 31);
    // rank 3 of 8 is 2047, still in the unit-width range
    expect(h.percentile(37.5)).toBe(2047);
    const p = h.percentile(87.5); // 2^31 - 1
    expect(Math.abs(p - (2 ** 31 - 1))).toBeLessThanOrEqual((2 ** 31 - 1) * h.relativeError);
  });

  it('merging equals recording everything into one histogram', () => {
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 200 }), fc.array(sample, { maxLength: 200 }), (a, b) => {
        const ha = new Histogram();
        const hb = new Histogram();
        const hall = new Histogram();
        for (const v of a) ha.record(v), hall.record(v);
        for (const v of b) hb.record(v), hall.record(v);
        ha.merge(hb);
        expect(ha.count).toBe(hall.count);
        expect(ha.min).toBe(hall.min);
        expect(ha.max).toBe(hall.max);
        expect(ha.mean).toBeCloseTo(hall.mean, 6);
        for (const p of PERCENTILES) expect(ha.percentile(p)).toBe(hall.percentile(p));
      }),
      { numRuns: 60 },
    );
  });

  it('refuses to merge histograms of different precision', () => {
    expect(() => new Histogram().merge(new Histogram({ significantDigits: 2 }))).toThrow(/different configurations/);
  });

  it('survives a JSON round trip', () => {
    const h = new Histogram();
    for (let i = 1; i <= 1000; i++) h.record(i * 137);
    const back = Histogram.fromJSON(JSON.parse(JSON.stringify(h.toJSON())) as ReturnType<Histogram['toJSON']>);
    expect(back.summary()).toEqual(h.summary());
  });

  it('counts values above the trackable range in the top bucket, keeping the exact max', () => {
    const h = new Histogram({ highestTrackable: 10_000 });
    h.record(5);
    h.record(1e9);
    expect(h.max).toBe(1e9);
    expect(h.percentile(100)).toBe(1e9);
    expect(h.percentile(50)).toBe(5);
  });

  it('is empty-safe', () => {
    const h = new Histogram();
    expect(h.summary()).toEqual({ count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
  });

  it('rejects nonsense configurations', () => {
    expect(() => new Histogram({ significantDigits: 0 })).toThrow(RangeError);
    expect(() => new Histogram({ significantDigits: 6 })).toThrow(RangeError);
  });
});
