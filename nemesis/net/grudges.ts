// Grudge builders: the partition topologies Jepsen's nemesis offers, as pure
// functions of the node list (and a seeded PRNG where the choice is random).

import { shuffled } from './random.js';
import type { Grudge } from './types.js';

export type Rng = () => number;

/** Every node drops traffic from every node outside its own component. */
export function completeGrudge(components: readonly (readonly string[])[]): Grudge {
  const all = components.flat();
  const grudge: Grudge = {};
  for (const component of components) {
    const inside = new Set(component);
    for (const node of component) {
      const drops = all.filter((n) => !inside.has(n));
      if (drops.length > 0) grudge[node] = drops;
    }
  }
  return grudge;
}

/** Cuts `node` off from all others, both ways. Pass the leader to isolate the leader. */
export function isolateNode(nodes: readonly string[], node: string): Grudge {
  if (!nodes.includes(node)) throw new Error(`unknown node ${node}`);
  return completeGrudge([[node], nodes.filter((n) => n !== node)]);
}

/** Cuts a randomly chosen node off from all others. */
export function isolateRandomNode(nodes: readonly string[], rng: Rng): Grudge {
  const node = nodes[Math.floor(rng() * nodes.length)];
  if (node === undefined) throw new Error('no nodes');
  return isolateNode(nodes, node);
}

/** Shuffles the nodes and splits them into a minority (floor(n/2)) and a majority. */
export function randomHalves(nodes: readonly string[], rng: Rng): Grudge {
  const order = shuffled(nodes, rng);
  const cut = Math.floor(order.length / 2);
  return completeGrudge([order.slice(0, cut), order.slice(cut)]);
}

/**
 * Jepsen's majorities ring: nodes on a shuffled ring, each sees the majority
 * window of ring positions around itself and drops the rest. Every node sees a
 * majority (itself included) and no two nodes see the same one. When the
 * majority size is odd (n = 4, 5, 8, 9, ...) the windows are centred and the
 * grudge is symmetric; when it is even (n = 3, 6, 7, ...) the window leans one
 * way and the grudge is asymmetric.
 */
export function majoritiesRing(nodes: readonly string[], rng: Rng): Grudge {
  const ring = shuffled(nodes, rng);
  const n = ring.length;
  const m = Math.floor(n / 2) + 1;
  const back = Math.floor((m - 1) / 2);
  const grudge: Grudge = {};
  ring.forEach((node, i) => {
    const sees = new Set<string>();
    for (let k = 0; k < m; k++) sees.add(ring[(((i - back + k) % n) + n) % n] as string);
    const drops = ring.filter((x) => !sees.has(x));
    if (drops.length > 0) grudge[node] = drops;
  });
  return grudge;
}

/**
 * Two halves that share one bridge node: the bridge talks to everyone, the
 * others only to their own side and the bridge (Jepsen's bridge).
 */
export function bridge(nodes: readonly string[], rng: Rng): Grudge {
  const order = shuffled(nodes, rng);
  const cut = Math.floor(order.length / 2);
  const left = order.slice(0, cut);
  const right = order.slice(cut);
  const bridgeNode = right[0];
  const grudge: Grudge = {};
  for (const node of left) {
    const drops = right.filter((x) => x !== bridgeNode);
    if (drops.length > 0) grudge[node] = drops;
  }
  for (const node of right) {
    if (node === bridgeNode || left.length === 0) continue;
    grudge[node] = [...left];
  }
  return grudge;
}

/** `droppers` drop traffic from `sources`; the sources still receive from the droppers. */
export function oneWay(droppers: readonly string[], sources: readonly string[]): Grudge {
  const grudge: Grudge = {};
  for (const d of droppers) {
    const drops = sources.filter((s) => s !== d);
    if (drops.length > 0) grudge[d] = drops;
  }
  return grudge;
}

/** Which nodes `node` still hears from, itself included. */
export function sees(grudge: Grudge, nodes: readonly string[], node: string): string[] {
  const drops = new Set(grudge[node] ?? []);
  return nodes.filter((n) => !drops.has(n));
}

/** Ordered pairs [from, to] whose traffic is dropped (to drops from). */
export function cutPairs(grudge: Grudge): [from: string, to: string][] {
  const out: [string, string][] = [];
  for (const [to, froms] of Object.entries(grudge)) {
    for (const from of new Set(froms)) if (from !== to) out.push([from, to]);
  }
  return out;
}

/** True when every cut goes both ways. */
export function isSymmetric(grudge: Grudge): boolean {
  return cutPairs(grudge).every(([from, to]) => (grudge[from] ?? []).includes(to));
}

/** The cut pairs whose reverse is not cut. */
export function oneWayPairs(grudge: Grudge): [from: string, to: string][] {
  return cutPairs(grudge).filter(([from, to]) => !(grudge[from] ?? []).includes(to));
}
