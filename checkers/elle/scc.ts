// Strongly connected components (Tarjan, iterative so deep graphs cannot
// overflow the stack) over the edges whose relation is in a mask, optionally
// restricted to a subset of nodes. Work arrays are sized once per graph and
// reset only where a run touched them, so searching many small components of
// a large graph stays linear.

import type { Graph } from './graph.js';

export class SccWorkspace {
  private readonly index: Int32Array;
  private readonly low: Int32Array;
  private readonly onStack: Uint8Array;
  private readonly stack: Int32Array;
  private readonly callNode: Int32Array;
  private readonly callPos: Int32Array;
  /** Membership of the current restriction: member[v] === tag. */
  private readonly member: Int32Array;
  private tag = 0;

  constructor(private readonly g: Graph) {
    const n = g.nodes;
    this.index = new Int32Array(n).fill(-1);
    this.low = new Int32Array(n);
    this.onStack = new Uint8Array(n);
    this.stack = new Int32Array(n);
    this.callNode = new Int32Array(n);
    this.callPos = new Int32Array(n);
    this.member = new Int32Array(n);
  }

  /**
   * The components with at least two nodes (self-edges do not exist), each a
   * list of node ids. `nodes` restricts the search; default: every node.
   */
  components(mask: number, nodes?: ArrayLike<number>): Int32Array[] {
    const g = this.g;
    const { start, order } = g;
    const { src: _src, dst, rel } = g.edges;
    const all = nodes === undefined;
    const list: ArrayLike<number> = nodes ?? { length: g.nodes };
    const tag = ++this.tag;
    const member = this.member;
    if (!all) for (let i = 0; i < list.length; i++) member[list[i]!] = tag;
    const { index, low, onStack, stack, callNode, callPos } = this;
    let counter = 0;
    let sp = 0;
    const out: Int32Array[] = [];
    for (let i = 0; i < list.length; i++) {
      const root = all ? i : list[i]!;
      if (index[root] !== -1) continue;
      let cp = 0;
      index[root] = low[root] = counter++;
      stack[sp++] = root;
      onStack[root] = 1;
      callNode[cp] = root;
      callPos[cp++] = start[root]!;
      while (cp > 0) {
        const v = callNode[cp - 1]!;
        const pos = callPos[cp - 1]!;
        if (pos < start[v + 1]!) {
          callPos[cp - 1] = pos + 1;
          const e = order[pos]!;
          if ((rel[e]! & mask) === 0) continue;
          const w = dst[e]!;
          if (!all && member[w] !== tag) continue;
          if (index[w] === -1) {
            index[w] = low[w] = counter++;
            stack[sp++] = w;
            onStack[w] = 1;
            callNode[cp] = w;
            callPos[cp++] = start[w]!;
          } else if (onStack[w] === 1 && index[w]! < low[v]!) {
            low[v] = index[w]!;
          }
          continue;
        }
        cp--;
        if (low[v] === index[v]) {
          let top = sp;
          while (stack[top - 1] !== v) top--;
          top--;
          const size = sp - top;
          if (size > 1) out.push(stack.slice(top, sp));
          for (let k = top; k < sp; k++) onStack[stack[k]!] = 0;
          sp = top;
        }
        if (cp > 0) {
          const p = callNode[cp - 1]!;
          if (low[v]! < low[p]!) low[p] = low[v]!;
        }
      }
    }
    // Reset what this run touched.
    if (all) index.fill(-1);
    else for (let i = 0; i < list.length; i++) index[list[i]!] = -1;
    return out;
  }
}
