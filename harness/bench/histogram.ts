// A log-linear histogram in the manner of HdrHistogram: values are
// non-negative integers (microseconds here); the range is cut into buckets
// that double in width, each split into the same number of linear
// sub-buckets. With 2^k sub-buckets per half-bucket, every recorded value is
// known to within one sub-bucket, so a reported value is off by at most
// `relativeError` of the true one. Min and max are kept exactly. Two
// histograms with the same configuration merge by adding counts.

export interface HistogramConfig {
  /** Significant decimal digits of precision: 1–4 (2–3 is the useful range). */
  significantDigits: number;
  /** Largest value kept apart; larger values are counted in the top sub-bucket (only max stays exact for them). */
  highestTrackable: number;
}

/** Microseconds in one hour: latencies above this are clamped into the top bucket. */
export const ONE_HOUR_US = 3_600_000_000;

export const DEFAULT_CONFIG: HistogramConfig = { significantDigits: 3, highestTrackable: ONE_HOUR_US };

export interface PercentileSummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export class Histogram {
  readonly config: HistogramConfig;
  /** log2 of the sub-bucket count: values below 2^subBits land in bucket 0 at unit width. */
  private readonly subBits: number;
  private readonly subHalf: number;
  private readonly counts: Float64Array;
  private readonly bucketCount: number;
  private total = 0;
  private sum = 0;
  private minValue = Number.POSITIVE_INFINITY;
  private maxValue = 0;

  constructor(config: Partial<HistogramConfig> = {}) {
    const c = { ...DEFAULT_CONFIG, ...config };
    if (!Number.isInteger(c.significantDigits) || c.significantDigits < 1 || c.significantDigits > 4) {
      throw new RangeError(`significantDigits must be 1–4, got ${c.significantDigits}`);
    }
    if (!Number.isSafeInteger(c.highestTrackable) || c.highestTrackable < 2) throw new RangeError(`highestTrackable must be an integer ≥ 2`);
    this.config = c;
    // Enough sub-buckets that one sub-bucket is below 10^-digits of any value in its bucket (as HdrHistogram sizes them).
    this.subBits = Math.ceil(Math.log2(2 * 10 ** c.significantDigits));
    this.subHalf = 2 ** (this.subBits - 1);
    let buckets = 1;
    while (2 ** this.subBits * 2 ** (buckets - 1) <= c.highestTrackable) buckets++;
    this.bucketCount = buckets;
    // Bucket 0 has the full 2^subBits unit-wide slots; every later bucket only its upper half.
    this.counts = new Float64Array((buckets + 1) * this.subHalf);
  }

  /**
   * Largest relative distance between a reported value and the true one: the
   * reported value is the middle of its sub-bucket, and a sub-bucket of bucket
   * b ≥ 1 is 2^b wide while holding values ≥ subHalf × 2^b.
   */
  get relativeError(): number {
    return 1 / (2 * this.subHalf);
  }

  get count(): number {
    return this.total;
  }

  get min(): number {
    return this.total === 0 ? 0 : this.minValue;
  }

  get max(): number {
    return this.maxValue;
  }

  get mean(): number {
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  private indexOf(value: number): number {
    const v = Math.min(value, this.config.highestTrackable);
    if (v < 2 * this.subHalf) return v;
    // Bucket b ≥ 1 covers [subHalf·2^(b+1)/2 … ) = [2^(subBits-1+b), 2^(subBits+b)), width 2^b per slot.
    let exp = Math.floor(Math.log2(v));
    // log2 of a value just below a power of two can round up; settle it exactly.
    if (2 ** exp > v) exp--;
    else if (2 ** (exp + 1) <= v) exp++;
    const bucket = exp - this.subBits + 1;
    const sub = Math.floor(v / 2 ** bucket); // in [subHalf, 2·subHalf)
    return (bucket + 1) * this.subHalf + (sub - this.subHalf);
  }

  /** The [low, high) range of values a slot stands for. */
  private rangeOf(index: number): [number, number] {
    if (index < 2 * this.subHalf) return [index, index + 1];
    const bucket = Math.floor(index / this.subHalf) - 1;
    const sub = (index % this.subHalf) + this.subHalf;
    const width = 2 ** bucket;
    return [sub * width, (sub + 1) * width];
  }

  /** Records `value` (rounded down to an integer; negatives count as 0) `times` times. */
  record(value: number, times = 1): void {
    const v = value > 0 ? Math.floor(value) : 0;
    this.counts[this.indexOf(v)]! += times;
    this.total += times;
    this.sum += v * times;
    if (v < this.minValue) this.minValue = v;
    if (v > this.maxValue) this.maxValue = v;
  }

  /**
   * The value at percentile p (0–100): the smallest recorded value with at
   * least ceil(p/100 × count) values at or below it, to within relativeError.
   * Clamped to the exact min and max.
   */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.total));
    // The extremes are known exactly, including values clamped into the top slot.
    if (rank >= this.total) return this.maxValue;
    if (rank === 1) return this.minValue;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const [low, high] = this.rangeOf(i);
        const mid = low + Math.floor((high - low) / 2);
        return Math.min(this.maxValue, Math.max(this.minValue, mid));
      }
    }
    return this.maxValue;
  }

  summary(): PercentileSummary {
    return {
      count: this.total,
      min: this.min,
      mean: this.mean,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.max,
    };
  }

  /** Adds another histogram's counts into this one (same configuration required). */
  merge(other: Histogram): this {
    if (other.subBits !== this.subBits || other.bucketCount !== this.bucketCount) {
      throw new Error('cannot merge histograms with different configurations');
    }
    for (let i = 0; i < other.counts.length; i++) {
      const c = other.counts[i]!;
      if (c !== 0) this.counts[i]! += c;
    }
    this.total += other.total;
    this.sum += other.sum;
    if (other.total > 0) {
      this.minValue = Math.min(this.minValue, other.minValue);
      this.maxValue = Math.max(this.maxValue, other.maxValue);
    }
    return this;
  }

  /** Sparse form for results.json: [slotLowValue, count] pairs plus exact extremes. */
  toJSON(): { significantDigits: number; highestTrackable: number; count: number; min: number; max: number; sum: number; slots: [number, number][] } {
    const slots: [number, number][] = [];
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      if (c !== 0) slots.push([this.rangeOf(i)[0], c]);
    }
    return { ...this.config, count: this.total, min: this.min, max: this.maxValue, sum: this.sum, slots };
  }

  /** Rebuilds a histogram from toJSON() output. */
  static fromJSON(json: ReturnType<Histogram['toJSON']>): Histogram {
    const h = new Histogram({ significantDigits: json.significantDigits, highestTrackable: json.highestTrackable });
    for (const [low, c] of json.slots) h.counts[h.indexOf(low)]! += c;
    h.total = json.count;
    h.sum = json.sum;
    h.minValue = json.count === 0 ? Number.POSITIVE_INFINITY : json.min;
    h.maxValue = json.max;
    return h;
  }
}
