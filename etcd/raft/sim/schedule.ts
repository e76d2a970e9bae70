// A simulation schedule: cluster shape, fault knobs, and a list of events.
// The same shape comes from fast-check arbitraries (tests, shrinkable) and
// from randomSchedule (the soak script), so any failure prints a replayable
// JSON value.

import type { ConfChangeType } from '../confchange.js';
import { pick, randInt, type Random } from '../prng.js';

export interface SimConfig {
  /** Seeds network delays/drops, fsync latency and every node's election jitter. */
  seed: number;
  /** Node slots; the first `voters` start as the cluster, the rest idle until added. */
  nodes: number;
  voters: number;
  /** The leader sends appends before its own fsync completes. */
  parallelAppend: boolean;
  /** Applied entries between state machine snapshots (followed by log compaction). */
  snapshotEvery: number;
  maxSizePerMsg: number;
  maxInflight: number;
  /** Background clients: percent chance per step of a proposal (and a fifth of that for a read) at a random node. */
  load: number;
}

/** Node indexes are slots 0..nodes-1, or LEADER for whichever node currently leads (resolved when the event runs). */
export const LEADER = -1;

export type SimEvent =
  | { t: 'run'; steps: number }
  | { t: 'propose'; node: number; count: number }
  | { t: 'read'; node: number }
  | { t: 'crash'; node: number }
  | { t: 'restart'; node: number }
  /** Directed links [from, to] that drop everything: any shape, including one-way. */
  | { t: 'partition'; blocked: Array<[number, number]> }
  | { t: 'heal' }
  /** Cuts the current leader off from every other node (one way: only its outgoing links), optionally slowing its clock. */
  | { t: 'isolateLeader'; oneWay: boolean; slow: number }
  /** Percent drop and duplication, maximum extra delay in steps. */
  | { t: 'net'; drop: number; dup: number; delay: number }
  | { t: 'transfer'; node: number; to: number }
  | { t: 'conf'; op: ConfChangeType; node: number }
  | { t: 'campaign'; node: number }
  /** The process stops (GC pause, SIGSTOP): no ticks, no input, no output; its messages wait. */
  | { t: 'pause'; node: number; steps: number }
  /** The node's clock runs `factor` times slower (1 restores it); safety must not depend on clocks. */
  | { t: 'slow'; node: number; factor: number };

export interface Schedule {
  config: SimConfig;
  events: SimEvent[];
}

export const CONF_OPS: readonly ConfChangeType[] = ['addNode', 'addLearner', 'removeNode', 'promote'];

/** A random partition: split into groups, optionally with some cross links left one-way. */
export function randomPartition(rand: Random, n: number): Array<[number, number]> {
  const groups = Array.from({ length: n }, () => randInt(rand, 0, 2));
  const blocked: Array<[number, number]> = [];
  const oneWay = rand() < 0.3;
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      if (a === b || groups[a] === groups[b]) continue;
      if (oneWay && a < b && rand() < 0.5) continue;
      blocked.push([a, b]);
    }
  }
  return blocked;
}

type EventKind = SimEvent['t'];

/** Relative frequencies of event kinds in random schedules (leader-targeted faults are the productive ones). */
const WEIGHTS: ReadonlyArray<[EventKind, number]> = [
  ['run', 34],
  ['propose', 18],
  ['read', 6],
  ['crash', 6],
  ['restart', 7],
  ['partition', 4],
  ['isolateLeader', 6],
  ['heal', 6],
  ['net', 3],
  ['transfer', 3],
  ['conf', 3],
  ['slow', 1],
  ['campaign', 1],
  ['pause', 2],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((a, [, w]) => a + w, 0);

export function randomEvent(rand: Random, n: number): SimEvent {
  let r = rand() * TOTAL_WEIGHT;
  let kind: EventKind = 'run';
  for (const [k, w] of WEIGHTS) {
    if (r < w) {
      kind = k;
      break;
    }
    r -= w;
  }
  const node = rand() < 0.25 ? LEADER : randInt(rand, 0, n - 1);
  switch (kind) {
    case 'run':
      return { t: 'run', steps: randInt(rand, 1, 80) };
    case 'propose':
      return { t: 'propose', node, count: randInt(rand, 1, 3) };
    case 'read':
      return { t: 'read', node };
    case 'crash':
      return { t: 'crash', node };
    case 'restart':
      return { t: 'restart', node };
    case 'partition':
      return { t: 'partition', blocked: randomPartition(rand, n) };
    case 'isolateLeader':
      return { t: 'isolateLeader', oneWay: rand() < 0.3, slow: pick(rand, [1, 1, 4, 10]) };
    case 'heal':
      return { t: 'heal' };
    case 'net':
      return { t: 'net', drop: pick(rand, [0, 0, 5, 20, 50]), dup: pick(rand, [0, 5, 20]), delay: randInt(rand, 0, 30) };
    case 'transfer':
      return { t: 'transfer', node, to: randInt(rand, 0, n - 1) };
    case 'conf':
      return { t: 'conf', op: pick(rand, CONF_OPS), node };
    case 'slow':
      return { t: 'slow', node, factor: pick(rand, [1, 2, 4, 10]) };
    case 'campaign':
      return { t: 'campaign', node };
    case 'pause':
      return { t: 'pause', node, steps: randInt(rand, 10, 300) };
  }
}

export function randomSchedule(rand: Random, maxEvents = 60): Schedule {
  const nodes = rand() < 0.5 ? 3 : 5;
  const voters = nodes === 5 && rand() < 0.5 ? 3 : nodes;
  const config: SimConfig = {
    seed: Math.floor(rand() * 2 ** 31),
    nodes,
    voters,
    parallelAppend: rand() < 0.5,
    snapshotEvery: pick(rand, [5, 10, 50, 1000]),
    maxSizePerMsg: pick(rand, [64, 256, 1 << 20]),
    maxInflight: pick(rand, [1, 4, 64]),
    load: pick(rand, [0, 2, 5, 15]),
  };
  const events = Array.from({ length: randInt(rand, 1, maxEvents) }, () => randomEvent(rand, nodes));
  return { config, events };
}
