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

/**
 * A growable edge list; `Graph` turns it into adjacency arrays. Every edge has
 * a source, a destination and a relation; only data edges carry a key and
 * values, and the inferrers add those before the process and real-time edges
 * (usually the majority), so the detail arrays stop at the last data edge.
 * Keeping the arrays small matters beyond memory: V8 answers a large growth
 * of typed-array memory with a full GC of the whole heap, history included.
 */
export class EdgeList {
  src: Int32Array;
  dst: Int32Array;
  rel: Uint8Array;
  length = 0;
  /** Detail of edges 0 .. detailed-1: key id (-1 none) and the two values (NaN none). */
  private keys: Int32Array;
  private as: Float64Array;
  private bs: Float64Array;
  private detailed = 0;

  constructor(capacity = 1024) {
    const n = Math.max(1, capacity);
    this.src = new Int32Array(n);
    this.dst = new Int32Array(n);
    this.rel = new Uint8Array(n);
    const d = Math.max(1, n >>> 1);
    this.keys = new Int32Array(d);
    this.as = new Float64Array(d);
    this.bs = new Float64Array(d);
  }

  add(src: number, dst: number, rel: Rel, key = -1, a = Number.NaN, b = Number.NaN): void {
    if (src === dst) return;
    if (this.length === this.src.length) {
      const n = grownSize(this.src.length, this.length + 1);
      this.src = resized(this.src, n, this.length);
      this.dst = resized(this.dst, n, this.length);
      this.rel = resized(this.rel, n, this.length);
    }
    const i = this.length++;
    this.src[i] = src;
    this.dst[i] = dst;
    this.rel[i] = rel;
    if (key !== -1 || !Number.isNaN(a) || !Number.isNaN(b)) this.setDetail(i, key, a, b);
  }

  /** Interned key id of the edge, -1 for process and real-time edges. */
  keyOf(e: number): number {
    return e < this.detailed ? this.keys[e]! : -1;
  }

  /** The value or element that justifies the edge on the source side (NaN when none, e.g. the initial empty state). */
  aOf(e: number): number {
    return e < this.detailed ? this.as[e]! : Number.NaN;
  }

  /** ...and on the destination side. */
  bOf(e: number): number {
    return e < this.detailed ? this.bs[e]! : Number.NaN;
  }

  private setDetail(i: number, key: number, a: number, b: number): void {
    if (i >= this.keys.length) {
      const n = grownSize(this.keys.length, i + 1);
      this.keys = resized(this.keys, n, this.detailed);
      this.as = resized(this.as, n, this.detailed);
      this.bs = resized(this.bs, n, this.detailed);
    }
    // Edges added since the last detailed one have none.
    if (i > this.detailed) {
      this.keys.fill(-1, this.detailed, i);
      this.as.fill(Number.NaN, this.detailed, i);
      this.bs.fill(Number.NaN, this.detailed, i);
    }
    this.keys[i] = key;
    this.as[i] = a;
    this.bs[i] = b;
    this.detailed = i + 1;
  }
}

/** Grows by half, which wastes less than doubling when a list is a little too small. */
function grownSize(current: number, needed: number): number {
  return Math.max(needed, current + (current >>> 1) + 16);
}

function resized<T extends Int32Array | Uint8Array | Float64Array>(old: T, n: number, used: number): T {
  const next = new (old.constructor as new (n: number) => T)(n);
  next.set(old.subarray(0, used));
  return next;
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
    const byRel = new Float64Array(REALTIME + 1);
    const rel = this.edges.rel;
    for (let e = 0; e < this.edges.length; e++) byRel[rel[e]!]!++;
    return { ww: byRel[WW]!, wr: byRel[WR]!, rw: byRel[RW]!, process: byRel[PROCESS]!, realtime: byRel[REALTIME]! };
  }
}
