import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  bridge,
  completeGrudge,
  cutPairs,
  isolateNode,
  isolateRandomNode,
  isSymmetric,
  majoritiesRing,
  oneWay,
  oneWayPairs,
  randomHalves,
  sees,
} from '../../../nemesis/net/grudges.js';
import { seededRandom } from '../../../nemesis/net/random.js';

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);
const majority = (n: number): number => Math.floor(n / 2) + 1;
const clusterArb = fc.record({ n: fc.integer({ min: 1, max: 9 }), seed: fc.integer() });

describe('grudge builders', () => {
  it('isolateNode cuts exactly one node off, both ways', () => {
    const nodes = names(5);
    const g = isolateNode(nodes, 'n3');
    expect(sees(g, nodes, 'n3')).toEqual(['n3']);
    for (const n of nodes.filter((x) => x !== 'n3')) expect(sees(g, nodes, n)).toEqual(nodes.filter((x) => x !== 'n3'));
    expect(isSymmetric(g)).toBe(true);
    expect(cutPairs(g)).toHaveLength(8);
    expect(() => isolateNode(nodes, 'n9')).toThrow();
  });

  it('isolateRandomNode is replayable from the seed and isolates one node', () => {
    fc.assert(
      fc.property(clusterArb, ({ n, seed }) => {
        const nodes = names(Math.max(3, n));
        const g = isolateRandomNode(nodes, seededRandom(seed));
        expect(isolateRandomNode(nodes, seededRandom(seed))).toEqual(g);
        const alone = nodes.filter((x) => sees(g, nodes, x).length === 1);
        expect(alone).toHaveLength(1);
        expect(isSymmetric(g)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('randomHalves splits into a minority and a majority that cannot hear each other', () => {
    fc.assert(
      fc.property(clusterArb, ({ n, seed }) => {
        const nodes = names(n);
        const g = randomHalves(nodes, seededRandom(seed));
        expect(isSymmetric(g)).toBe(true);
        const cut = Math.floor(n / 2);
        const sizes = nodes.map((x) => sees(g, nodes, x).length).sort((a, b) => a - b);
        const expected = [...Array<number>(cut).fill(cut), ...Array<number>(n - cut).fill(n - cut)].sort((a, b) => a - b);
        expect(sizes).toEqual(expected);
        // Each node sees exactly its own side: views are equivalence classes.
        for (const a of nodes) for (const b of sees(g, nodes, a)) expect(sees(g, nodes, b)).toEqual(sees(g, nodes, a));
      }),
      { numRuns: 100 },
    );
  });

  it('majoritiesRing: every node sees a majority including itself, and no two see the same one', () => {
    fc.assert(
      fc.property(clusterArb, ({ n, seed }) => {
        const nodes = names(Math.max(3, n));
        const size = nodes.length;
        const g = majoritiesRing(nodes, seededRandom(seed));
        const views = nodes.map((x) => sees(g, nodes, x));
        for (const [i, v] of views.entries()) {
          expect(v).toHaveLength(majority(size));
          expect(v).toContain(nodes[i]);
        }
        expect(new Set(views.map((v) => v.join(','))).size).toBe(size);
        // Centred windows (odd majority size) are symmetric; leaning ones are not.
        expect(isSymmetric(g)).toBe(majority(size) % 2 === 1);
      }),
      { numRuns: 100 },
    );
  });

  it('majoritiesRing on 5 nodes: each node hears its two ring neighbours', () => {
    const nodes = names(5);
    const g = majoritiesRing(nodes, seededRandom(7));
    for (const n of nodes) {
      const v = sees(g, nodes, n).filter((x) => x !== n);
      expect(v).toHaveLength(2);
      for (const nb of v) expect(sees(g, nodes, nb)).toContain(n);
    }
  });

  it('bridge: one node hears everyone, the sides hear only themselves and the bridge', () => {
    fc.assert(
      fc.property(clusterArb, ({ n, seed }) => {
        const nodes = names(Math.max(3, n));
        const g = bridge(nodes, seededRandom(seed));
        expect(isSymmetric(g)).toBe(true);
        const everyone = nodes.filter((x) => sees(g, nodes, x).length === nodes.length);
        expect(everyone).toHaveLength(1);
        const b = everyone[0] as string;
        for (const x of nodes) expect(sees(g, nodes, x)).toContain(b);
        const others = nodes.filter((x) => x !== b);
        // Without the bridge the rest falls into exactly two disconnected sides.
        const sides = new Set(others.map((x) => sees(g, nodes, x).filter((y) => y !== b).join(',')));
        expect(sides.size).toBe(2);
      }),
      { numRuns: 100 },
    );
  });

  it('oneWay: droppers stop hearing sources while sources still hear droppers', () => {
    const nodes = names(3);
    const g = oneWay(['n1'], ['n2']);
    expect(g).toEqual({ n1: ['n2'] });
    expect(sees(g, nodes, 'n1')).toEqual(['n1', 'n3']);
    expect(sees(g, nodes, 'n2')).toEqual(nodes);
    expect(isSymmetric(g)).toBe(false);
    expect(oneWayPairs(g)).toEqual([['n2', 'n1']]);
    expect(oneWay(['n1', 'n2'], ['n2', 'n3'])).toEqual({ n1: ['n2', 'n3'], n2: ['n3'] });
  });

  it('completeGrudge of one component is empty', () => {
    expect(completeGrudge([names(3)])).toEqual({});
    expect(cutPairs({})).toEqual([]);
    expect(isSymmetric({})).toBe(true);
  });
});
