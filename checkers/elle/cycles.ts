// Cycle search, as in Elle: strongly connected components of the dependency
// graph first (valid histories have none, so they cost one Tarjan pass), then
// inside each component a breadth-first search for a short cycle of each
// anomaly class, restricted to the relations that class allows:
//   G0        ww only
//   G1c       ww and wr, at least one wr
//   G-single  exactly one rw, the rest ww/wr
//   G2-item   at least one rw (G-nonadjacent when no two rw edges are adjacent)
// Three passes add the process and then the real-time order; a cycle that
// needs one of those edges gets the -process or -realtime suffix.

import type { Budget } from '../result.js';
import { DATA, PROCESS, REALTIME, RW, WR, WW } from './graph.js';
import type { Graph } from './graph.js';
import { SccWorkspace } from './scc.js';

export interface FoundCycle {
  /** G0, G1c, G-single, G-nonadjacent or G2-item, with -process / -realtime when those edges are needed. */
  type: string;
  /** Edge ids in order; edge i's destination is edge i+1's source, the last returns to the first. */
  edges: number[];
}

export class CycleSearchTimeout extends Error {
  override readonly name = 'CycleSearchTimeout';
}

/** Shortest paths by BFS inside a marked node set, with reusable arrays. */
class PathFinder {
  private readonly parent: Int32Array;
  private readonly seen: Int32Array;
  private readonly queue: Int32Array;
  private readonly member: Int32Array;
  private stamp = 0;
  private memberTag = 0;
  steps = 0;

  constructor(
    private readonly g: Graph,
    private readonly budget: Budget,
  ) {
    this.parent = new Int32Array(g.nodes);
    this.seen = new Int32Array(g.nodes);
    this.queue = new Int32Array(g.nodes);
    this.member = new Int32Array(g.nodes);
  }

  /** Restricts later searches to these nodes. */
  restrict(nodes: ArrayLike<number>): void {
    const tag = ++this.memberTag;
    for (let i = 0; i < nodes.length; i++) this.member[nodes[i]!] = tag;
  }

  isMember(v: number): boolean {
    return this.member[v] === this.memberTag;
  }

  /**
   * Edge ids of a shortest path from s to t over edges in `mask` (s === t
   * finds a shortest cycle through s). null when there is none, or when more
   * than `limit` nodes were expanded.
   */
  path(s: number, t: number, mask: number, limit = Number.POSITIVE_INFINITY): number[] | null {
    const { start, order } = this.g;
    const { dst, rel } = this.g.edges;
    const stamp = ++this.stamp;
    const { seen, parent, queue, member } = this;
    const tag = this.memberTag;
    let head = 0;
    let tail = 0;
    queue[tail++] = s;
    seen[s] = stamp;
    parent[s] = -1;
    let expanded = 0;
    while (head < tail) {
      const v = queue[head++]!;
      if (++expanded > limit) return null;
      if ((++this.steps & 4095) === 0 && this.budget.now() > this.budget.deadline) throw new CycleSearchTimeout('cycle search ran out of time');
      for (let p = start[v]!, end = start[v + 1]!; p < end; p++) {
        const e = order[p]!;
        if ((rel[e]! & mask) === 0) continue;
        const w = dst[e]!;
        if (member[w] !== tag) continue;
        if (w === t) {
          const out = [e];
          for (let x = v; x !== s; ) {
            const pe = parent[x]!;
            out.push(pe);
            x = this.g.edges.src[pe]!;
          }
          return out.reverse();
        }
        if (seen[w] === stamp) continue;
        seen[w] = stamp;
        parent[w] = e;
        queue[tail++] = w;
      }
    }
    return null;
  }
}

export interface CycleSearchOptions {
  budget: Budget;
  /** Nodes a G-single search may expand per rw edge before moving on. */
  gSingleLimit?: number;
  /** rw edges tried per component for G-single before settling for G2-item. */
  gSingleTries?: number;
  /** Stop after this many cycles in all. */
  maxCycles?: number;
}

export interface CycleSearchResult {
  cycles: FoundCycle[];
  /** Nontrivial components of the data graph (ww/wr/rw). */
  dataComponents: number;
  /** Nontrivial components once process and real-time edges are added. */
  fullComponents: number;
  /** The budget ran out; `cycles` holds what was found until then. */
  timedOut: boolean;
}

const PASSES = [0, PROCESS, PROCESS | REALTIME] as const;

export function findCycles(g: Graph, opts: CycleSearchOptions): CycleSearchResult {
  const scc = new SccWorkspace(g);
  const finder = new PathFinder(g, opts.budget);
  const maxCycles = opts.maxCycles ?? 1000;
  const gSingleLimit = opts.gSingleLimit ?? 20_000;
  const gSingleTries = opts.gSingleTries ?? 500;
  const cycles: FoundCycle[] = [];
  const { src, dst, rel } = g.edges;
  const prevComp = new Int32Array(g.nodes).fill(-1);
  const nextComp = new Int32Array(g.nodes).fill(-1);
  let prevSizes: number[] = [];
  let dataComponents = 0;
  let fullComponents = 0;

  const label = (base: string, edges: number[], extra: number): string | null => {
    let mask = 0;
    for (const e of edges) mask |= rel[e]!;
    if (mask & REALTIME) return `${base}-realtime`;
    if (mask & PROCESS) return `${base}-process`;
    // A pure data cycle found in a later pass was already reported by the first.
    return extra === 0 ? base : null;
  };
  const report = (base: string, edges: number[] | null, extra: number): boolean => {
    if (edges === null) return false;
    const type = label(base, edges, extra);
    if (type === null) return false;
    cycles.push({ type, edges });
    return true;
  };
  const edgesIn = (nodes: ArrayLike<number>, want: number, visit: (e: number) => boolean): void => {
    for (let i = 0; i < nodes.length; i++) {
      const v = nodes[i]!;
      for (let p = g.start[v]!, end = g.start[v + 1]!; p < end; p++) {
        const e = g.order[p]!;
        if ((rel[e]! & want) !== 0 && finder.isMember(dst[e]!) && visit(e)) return;
      }
    }
  };

  // The graph with every relation first: when it has no cycle (a valid
  // history), neither has any part of it, and the other passes are skipped.
  const everything = scc.components(DATA | PASSES[PASSES.length - 1]!);
  if (everything.length === 0) return { cycles, dataComponents: 0, fullComponents: 0, timedOut: false };

  let timedOut = false;
  try {
    for (let pass = 0; pass < PASSES.length; pass++) {
      const extra = PASSES[pass]!;
      const mask = DATA | extra;
      const comps = pass === PASSES.length - 1 ? everything : scc.components(mask);
      if (pass === 0) dataComponents = comps.length;
      if (pass === PASSES.length - 1) fullComponents = comps.length;
      nextComp.fill(-1);
      comps.forEach((c, id) => {
        for (let i = 0; i < c.length; i++) nextComp[c[i]!] = id;
      });
      for (const comp of comps) {
        if (cycles.length >= maxCycles) break;
        // Unchanged from the previous pass: any cycle here is already explained
        // by a data-only (or process) anomaly, which implies the weaker one.
        if (pass > 0 && sameComponent(comp, prevComp, prevSizes)) continue;

        // G0: ww (+ extra) only.
        for (const sub of scc.components(WW | extra, comp)) {
          finder.restrict(sub);
          report('G0', finder.path(sub[0]!, sub[0]!, WW | extra), extra);
        }
        // G1c: ww and wr (+ extra), through at least one wr edge.
        const wwwr = WW | WR | extra;
        const subs = scc.components(wwwr, comp);
        for (const sub of subs) {
          finder.restrict(sub);
          // Inside one component a path back always exists: one try per component.
          edgesIn(sub, WR, (e) => (report('G1c', closeCycle(finder.path(dst[e]!, src[e]!, wwwr), e), extra), true));
        }
        // G-single: one rw edge closed by ww/wr (+ extra).
        finder.restrict(comp);
        let single = false;
        let tries = 0;
        edgesIn(comp, RW, (e) => {
          single = report('G-single', closeCycle(finder.path(dst[e]!, src[e]!, wwwr, gSingleLimit), e), extra);
          return single || ++tries >= gSingleTries;
        });
        if (single) continue;
        // G2-item: any cycle through an rw edge.
        edgesIn(comp, RW, (e) => {
          const path = closeCycle(finder.path(dst[e]!, src[e]!, mask), e);
          if (path === null) return false;
          report(nonadjacent(path, rel) ? 'G-nonadjacent' : 'G2-item', path, extra);
          return true;
        });
      }
      prevComp.set(nextComp);
      prevSizes = comps.map((c) => c.length);
    }
  } catch (err) {
    if (!(err instanceof CycleSearchTimeout)) throw err;
    timedOut = true;
  }
  return { cycles, dataComponents, fullComponents, timedOut };
}

/** The path from e's destination back to its source, then e: a cycle starting with e. */
function closeCycle(path: number[] | null, e: number): number[] | null {
  return path === null ? null : [e, ...path];
}

function sameComponent(comp: Int32Array, prev: Int32Array, prevSizes: readonly number[]): boolean {
  const id = prev[comp[0]!]!;
  if (id === -1 || prevSizes[id] !== comp.length) return false;
  for (let i = 1; i < comp.length; i++) if (prev[comp[i]!] !== id) return false;
  return true;
}

/** True when no two rw edges are consecutive, counting around the cycle. */
function nonadjacent(edges: number[], rel: Uint8Array): boolean {
  let rws = 0;
  for (let i = 0; i < edges.length; i++) {
    const isRw = rel[edges[i]!] === RW;
    if (isRw) rws++;
    if (isRw && rel[edges[(i + 1) % edges.length]!] === RW) return false;
  }
  return rws > 1;
}
