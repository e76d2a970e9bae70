import { describe, expect, it } from 'vitest';
import { findCycles } from '../../../checkers/elle/cycles.js';
import { EdgeList, Graph, PROCESS, REALTIME, RW, WR, WW } from '../../../checkers/elle/graph.js';
import { SccWorkspace } from '../../../checkers/elle/scc.js';
import { unlimitedBudget } from '../../../checkers/result.js';

function graph(n: number, edges: [number, number, number][]): Graph {
  const list = new EdgeList(2);
  for (const [a, b, rel] of edges) list.add(a, b, rel as 1);
  return new Graph(n, list);
}

const sorted = (comps: Int32Array[]) => comps.map((c) => [...c].sort((a, b) => a - b)).sort((a, b) => a[0]! - b[0]!);

describe('strongly connected components', () => {
  it('finds components under a relation mask and inside a node subset', () => {
    const g = graph(7, [
      [0, 1, WW],
      [1, 2, WW],
      [2, 0, RW],
      [3, 4, WR],
      [4, 3, WR],
      [5, 6, WW],
    ]);
    const scc = new SccWorkspace(g);
    expect(sorted(scc.components(WW | WR | RW))).toEqual([
      [0, 1, 2],
      [3, 4],
    ]);
    expect(sorted(scc.components(WW | WR))).toEqual([[3, 4]]);
    expect(sorted(scc.components(WW | WR | RW, Int32Array.from([0, 1, 3, 4])))).toEqual([[3, 4]]);
  });

  it('handles a long chain without recursion', () => {
    const n = 200_000;
    const edges: [number, number, number][] = [];
    for (let i = 0; i < n; i++) edges.push([i, (i + 1) % n, WW]);
    const comps = new SccWorkspace(graph(n, edges)).components(WW);
    expect(comps).toHaveLength(1);
    expect(comps[0]!.length).toBe(n);
  });
});

describe('cycle search', () => {
  it('classifies cycles by the relations they need', () => {
    const types = (edges: [number, number, number][]) => findCycles(graph(4, edges), { budget: unlimitedBudget }).cycles.map((c) => c.type).sort();
    expect(types([[0, 1, WW], [1, 0, WW]])).toEqual(['G0']);
    expect(types([[0, 1, WW], [1, 0, WR]])).toEqual(['G1c']);
    expect(types([[0, 1, RW], [1, 0, WR]])).toEqual(['G-single']);
    expect(types([[0, 1, RW], [1, 0, RW]])).toEqual(['G2-item']);
    expect(types([[0, 1, RW], [1, 2, WW], [2, 3, RW], [3, 0, WR]])).toEqual(['G-nonadjacent']);
    expect(types([[0, 1, WW], [1, 0, PROCESS]])).toEqual(['G0-process']);
    expect(types([[0, 1, RW], [1, 0, REALTIME]])).toEqual(['G-single-realtime']);
    expect(types([[0, 1, WW], [1, 2, WW], [2, 3, WR]])).toEqual([]);
  });

  it('returns a cycle whose edges chain back to the start', () => {
    const edges: [number, number, number][] = [[0, 1, WW], [1, 2, WR], [2, 3, WW], [3, 0, RW], [1, 3, WW]];
    const g = graph(4, edges);
    for (const c of findCycles(g, { budget: unlimitedBudget }).cycles) {
      for (let i = 0; i < c.edges.length; i++) expect(g.edges.dst[c.edges[i]!]).toBe(g.edges.src[c.edges[(i + 1) % c.edges.length]!]);
    }
  });

  it('stops at the deadline and keeps what it found', () => {
    const n = 50_000;
    // A small G0 first, then a long ring whose search outlasts the budget.
    const edges: [number, number, number][] = [[0, 1, WW], [1, 0, WW]];
    for (let i = 0; i < n; i++) edges.push([2 + i, 2 + ((i + 1) % n), i === 0 ? RW : WW]);
    let ticks = 0;
    const r = findCycles(graph(n + 2, edges), { budget: { deadline: 3, now: () => ticks++ } });
    expect(r.timedOut).toBe(true);
    expect(r.cycles.map((c) => c.type)).toContain('G0');
  });
});
