// How far V8 lets the old generation grow between full collections.
//
// By default V8 picks a growing factor of up to 4x the live heap on a
// machine with this much memory. A member serving reads keeps about 22 MB
// live but promotes the objects of a thousand requests in flight, so its
// old generation climbed to 90 MB of mostly garbage before each full
// collection, and its RSS to twice etcd's. At 1.5x the same load peaks at
// two thirds of that RSS; under 1000 writers the extra full collections
// cost nothing measurable beside the scavenges (docs/BENCHMARKS.md).
//
// An operator's own --heap-growing-percent (on the command line or in
// NODE_OPTIONS) wins.

import v8 from 'node:v8';

export const DEFAULT_HEAP_GROWING_PERCENT = 50;

const FLAG = /(^|\s)--heap[-_]growing[-_]percent(=|\s|$)/;

/** Whether the operator already chose a growing factor for this process. */
export function heapGrowthChosen(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return execArgv.some((a) => FLAG.test(a)) || (nodeOptions !== undefined && FLAG.test(nodeOptions));
}

/**
 * Sets the default growing factor unless the operator chose one. Returns the
 * percent set, or undefined when the operator's stands. V8 reads the flag at
 * every full collection, so setting it at startup takes effect.
 */
export function tuneHeapGrowth(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env['NODE_OPTIONS'],
  setFlags: (flags: string) => void = v8.setFlagsFromString,
): number | undefined {
  if (heapGrowthChosen(execArgv, nodeOptions)) return undefined;
  setFlags(`--heap-growing-percent=${DEFAULT_HEAP_GROWING_PERCENT}`);
  return DEFAULT_HEAP_GROWING_PERCENT;
}
