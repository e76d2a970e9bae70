// A small seeded PRNG (mulberry32) so the core, the simulator and the server
// all get reproducible randomness from a 32-bit seed.

import type { Random } from '../util/prng.js';

export { seededRandom, type Random } from '../util/prng.js';

/** Integer in [lo, hi]. */
export function randInt(rand: Random, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

export function pick<T>(rand: Random, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError('pick from empty list');
  return items[Math.floor(rand() * items.length)]!;
}

/** Derives an independent seed for a sub-stream (e.g. one node's election jitter). */
export function mixSeed(seed: number, salt: number): number {
  let h = (seed ^ Math.imul(salt + 0x9e3779b9, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
