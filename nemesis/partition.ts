// The partition nemesis: picks one of the configured partition kinds, builds
// its grudge for the current membership (and leader), and hands it to the
// network mechanism; stop heals.
import type { Rng } from '../harness/random.js';
import { bridge, isolateNode, majoritiesRing, oneWay, randomHalves, type Grudge, type NetMechanism } from './net/index.js';
import type { ClusterControl, Fault, FaultReport, NemesisEnv } from './types.js';

export const PARTITION_KINDS = ['isolate-one', 'isolate-leader', 'halves', 'majorities-ring', 'bridge', 'one-way'] as const;
export type PartitionKind = (typeof PARTITION_KINDS)[number];

export function isPartitionKind(s: string): s is PartitionKind {
  return (PARTITION_KINDS as readonly string[]).includes(s);
}

/** Builds the grudge of a kind; `leader` is used by isolate-leader (a random member when unknown). */
export function buildGrudge(kind: PartitionKind, names: readonly string[], leader: string | undefined, rng: Rng): Grudge {
  const r = () => rng.next();
  switch (kind) {
    case 'isolate-one':
      return isolateNode(names, rng.pick(names));
    case 'isolate-leader':
      return isolateNode(names, leader !== undefined && names.includes(leader) ? leader : rng.pick(names));
    case 'halves':
      return randomHalves(names, r);
    case 'majorities-ring':
      return majoritiesRing(names, r);
    case 'bridge':
      return bridge(names, r);
    case 'one-way': {
      // One member stops hearing from everyone else while they still hear it:
      // a leader in that state keeps sending heartbeats but never sees acks.
      const dropper = leader !== undefined && names.includes(leader) && rng.next() < 0.5 ? leader : rng.pick(names);
      return oneWay([dropper], names.filter((n) => n !== dropper));
    }
  }
}

/**
 * Checks every kind against the mechanism on sample grudges (random kinds on
 * several seeds, because e.g. a majorities ring is asymmetric for some sizes).
 * Returns the reason per kind that cannot be expressed.
 */
export function inexpressibleKinds(kinds: readonly PartitionKind[], names: readonly string[], mechanism: NetMechanism, sample: (seed: number) => Rng): Map<PartitionKind, string> {
  const out = new Map<PartitionKind, string>();
  for (const kind of kinds) {
    for (let seed = 0; seed < 16 && !out.has(kind); seed++) {
      const rng = sample(seed);
      const grudge = buildGrudge(kind, names, names[0], rng);
      const verdict = mechanism.canExpress(grudge);
      if (!verdict.ok) out.set(kind, verdict.reason);
    }
  }
  return out;
}

/** The members that lose the most peers: the isolated node, the minority side; everyone in a ring. */
export function mostCutOff(grudge: Grudge): string[] {
  const sizes = Object.entries(grudge).map(([node, drops]) => [node, drops.length] as const);
  const max = Math.max(0, ...sizes.map(([, n]) => n));
  return sizes.filter(([, n]) => n === max && n > 0).map(([node]) => node).sort();
}

export class PartitionFault implements Fault {
  readonly name = 'partition';
  private on = false;

  constructor(
    private readonly env: NemesisEnv & { cluster: ClusterControl },
    private readonly mechanism: NetMechanism,
    private readonly kinds: readonly PartitionKind[],
  ) {
    if (kinds.length === 0) throw new Error('partition: no partition kinds to choose from');
  }

  get active(): boolean {
    return this.on;
  }

  async start(): Promise<FaultReport> {
    const { cluster, rng } = this.env;
    const kind = rng.pick(this.kinds);
    const leader = kind === 'isolate-leader' || kind === 'one-way' ? await cluster.leader() : undefined;
    const grudge = buildGrudge(kind, cluster.names, leader, rng);
    await this.mechanism.partition(grudge);
    this.on = true;
    return { mode: kind, targets: mostCutOff(grudge), grudge, mechanism: this.mechanism.name, ...(leader ? { leader } : {}) };
  }

  async stop(): Promise<FaultReport> {
    await this.mechanism.heal();
    this.on = false;
    return { mechanism: this.mechanism.name };
  }
}
