// The transaction dependency graph, kept in flat typed arrays: histories of
// hundreds of thousands of transactions give millions of edges, and one
// object per edge would dominate the checker's time and memory. Nodes are
// dense integer transaction ids. Each edge carries one relation bit and, for
// data edges, the key and the two values that justify it, so a cycle can be
// explained without re-deriving anything.

export const WW = 1;
export const WR = 2;
export const RW = 4;
export const PROCESS = 8;
export const REALTIME = 16;
export const DATA = WW | WR | RW;

export type Rel = typeof WW | typeof WR | typeof RW | typeof PROCESS | typeof REALTIME;

export function relName(rel: number): 'ww' | 'wr' | 'rw' | 'process' | 'realtime' {
  switch (rel) {
    case WW:
      return 'ww';
    case WR:
      return 'wr';
    case RW:
      return 'rw';
    case PROCESS:
      return 'process';
    default:
      return 'realtime';
  }
}

/** A growable edge list; `build` turns it into adjacency arrays. */
export class EdgeList {
  src: Int32Array;
  dst: Int32Array;
  rel: Uint8Array;
  /** Interned key id, -1 for process and real-time edges. */
  key: Int32Array;
  /** The value or element that justifies the edge on the source side (NaN when none, e.g. the initial empty state). */
  a: Float64Array;
  /** ...and on the destination side. */
  b: Float64Array;
  length = 0;

  constructor(capacity = 1024) {
    this.src = new Int32Array(capacity);
    this.dst = new Int32Array(capacity);
    this.rel = new Uint8Array(capacity);
    this.key = new Int32Array(capacity);
    this.a = new Float64Array(capacity);
    this.b = new Float64Array(capacity);
  }

  add(src: number, dst: number, rel: Rel, key = -1, a = Number.NaN, b = Number.NaN): void {
    if (src === dst) return;
    if (this.length === this.src.length) this.grow();
    const i = this.length++;
    this.src[i] = src;
    this.dst[i] = dst;
    this.rel[i] = rel;
    this.key[i] = key;
    this.a[i] = a;
    this.b[i] = b;
  }

  private grow(): void {
    const n = this.src.length * 2;
    const copy = <T extends Int32Array | Uint8Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(n);
      next.set(old);
      return next;
    };
    this.src = copy(this.src, (k) => new Int32Array(k));
    this.dst = copy(this.dst, (k) => new Int32Array(k));
    this.rel = copy(this.rel, (k) => new Uint8Array(k));
    this.key = copy(this.key, (k) => new Int32Array(k));
    this.a = copy(this.a, (k) => new Float64Array(k));
    this.b = copy(this.b, (k) => new Float64Array(k));
  }
}

/** Compressed adjacency: the out-edges of node v are edge ids order[start[v]] .. order[start[v+1]-1]. */
export class Graph {
  readonly start: Int32Array;
  readonly order: Int32Array;

  constructor(
    readonly nodes: number,
    readonly edges: EdgeList,
  ) {
    const start = new Int32Array(nodes + 1);
    for (let e = 0; e < edges.length; e++) start[edges.src[e]! + 1]!++;
    for (let v = 0; v < nodes; v++) start[v + 1]! += start[v]!;
    const fill = start.slice(0, nodes);
    const order = new Int32Array(edges.length);
    for (let e = 0; e < edges.length; e++) order[fill[edges.src[e]!]!++] = e;
    this.start = start;
    this.order = order;
  }

  /** How many edges of each relation the graph holds. */
  counts(): Record<'ww' | 'wr' | 'rw' | 'process' | 'realtime', number> {
    const out = { ww: 0, wr: 0, rw: 0, process: 0, realtime: 0 };
    for (let e = 0; e < this.edges.length; e++) out[relName(this.edges.rel[e]!)]++;
    return out;
  }
}
