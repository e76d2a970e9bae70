// A min-heap of (time, lease ID) with in-place updates: the order in which
// the leader looks at leases for expiry. Ties break on the ID so the order is
// deterministic.

interface Entry {
  id: bigint;
  time: number;
}

const before = (a: Entry, b: Entry): boolean => a.time < b.time || (a.time === b.time && a.id < b.id);

export class ExpiryQueue {
  private readonly heap: Entry[] = [];
  private readonly pos = new Map<bigint, number>();

  get size(): number {
    return this.heap.length;
  }

  peek(): Readonly<Entry> | undefined {
    return this.heap[0];
  }

  /** Inserts the lease or moves it to its new time. */
  set(id: bigint, time: number): void {
    const at = this.pos.get(id);
    if (at === undefined) {
      this.heap.push({ id, time });
      this.pos.set(id, this.heap.length - 1);
      this.up(this.heap.length - 1);
      return;
    }
    const e = this.heap[at]!;
    const old = e.time;
    e.time = time;
    if (time < old) this.up(at);
    else this.down(at);
  }

  delete(id: bigint): boolean {
    const at = this.pos.get(id);
    if (at === undefined) return false;
    this.pos.delete(id);
    const last = this.heap.pop()!;
    if (at < this.heap.length) {
      this.heap[at] = last;
      this.pos.set(last.id, at);
      this.up(at);
      this.down(this.pos.get(last.id)!);
    }
    return true;
  }

  clear(): void {
    this.heap.length = 0;
    this.pos.clear();
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    const h = this.heap;
    const x = h[a]!;
    const y = h[b]!;
    h[a] = y;
    h[b] = x;
    this.pos.set(y.id, a);
    this.pos.set(x.id, b);
  }
}
