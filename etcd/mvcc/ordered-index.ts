// An in-memory B+tree keyed by byte strings (byte-wise order), the
// ordered key index under the MVCC store. Inserts are O(log n); range scans
// walk the linked leaves. Exact lookups, the hot path of every put and
// single-key read, go through a hash map beside the tree (several times
// faster than descending it). Deletes never rebalance: they only
// happen when a write is rolled back or a key is compacted away, and
// compaction rebuilds the tree with `bulkLoad` anyway.
//
// Inside the tree, keys are latin1 strings (one char per byte), the same
// string objects the hash map is keyed by: JavaScript compares such strings
// in byte order, with the bytes inline in one heap object, which measured
// several times faster than comparing Buffers (a native call, and a second
// memory access for the Buffer's backing store, at every step of a descent).
// The caller's Buffer is kept beside each key for scans.
//
// New keys reach the tree in sorted batches: set() only records them, and
// they are inserted in key order once a batch is full or before anything
// that walks the tree. Consecutive inserts in key order share their path
// through the upper levels, which a random key's descent misses in the
// cache: in a 260 000-key tree, batches of 1024 cut the cost of an insert
// by about a third (docs/BENCHMARKS.md).

const LEAF_MAX = 64;
const INNER_MAX = 64;
/** Bulk-loaded leaves are left partly empty so the next inserts do not split at once. */
const BULK_FILL = 48;

interface Leaf<V> {
  readonly leaf: true;
  keys: string[];
  bufs: Buffer[];
  vals: V[];
  next: Leaf<V> | null;
}

interface Inner<V> {
  readonly leaf: false;
  /** keys[i] is the smallest key reachable through children[i + 1]. */
  keys: string[];
  children: Node<V>[];
}

type Node<V> = Leaf<V> | Inner<V>;

interface Split<V> {
  key: string;
  right: Node<V>;
}

/** The index's form of a key. A caller that looks a key up and then inserts it can convert it once and pass it to both. */
export function indexKey(key: Buffer): string {
  return key.toString('latin1');
}

/** Number of entries in `keys` that are <= key. */
function upperBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Number of entries in `keys` that are < key. */
function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function newLeaf<V>(): Leaf<V> {
  return { leaf: true, keys: [], bufs: [], vals: [], next: null };
}

/** New keys held back before they are inserted into the tree, in key order. */
const DEFAULT_BATCH = 1024;

export class OrderedIndex<V> {
  private root: Node<V> = newLeaf<V>();
  private readonly exact = new Map<string, V>();
  /** Keys in `exact` but not yet in the tree, in insertion order, with their Buffers. */
  private pendingKeys: string[] = [];
  private pendingBufs: Buffer[] = [];

  /** batch: how many new keys are held back before they go into the tree together. */
  constructor(private readonly batch = DEFAULT_BATCH) {
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`OrderedIndex batch must be a positive integer, not ${batch}`);
  }

  get size(): number {
    return this.exact.size;
  }

  /** `k`, when given, must be indexKey(key). */
  get(key: Buffer, k: string = indexKey(key)): V | undefined {
    return this.exact.get(k);
  }

  /**
   * Inserts or replaces. The index keeps a reference to `key`: callers must
   * not mutate it afterwards. `k`, when given, must be indexKey(key).
   */
  set(key: Buffer, value: V, k: string = indexKey(key)): void {
    const before = this.exact.size;
    this.exact.set(k, value);
    if (this.exact.size > before) {
      // A new key: the tree gets it with its batch.
      this.pendingKeys.push(k);
      this.pendingBufs.push(key);
      if (this.pendingKeys.length >= this.batch) this.flush();
      return;
    }
    // A key already present: replace the value (and Buffer) the tree holds for it.
    this.flush();
    this.insertTop(k, key, value);
  }

  /** Inserts the held-back new keys into the tree, in key order. */
  private flush(): void {
    const keys = this.pendingKeys;
    if (keys.length === 0) return;
    const bufs = this.pendingBufs;
    this.pendingKeys = [];
    this.pendingBufs = [];
    const order = keys.map((_, i) => i);
    order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
    // exact holds each key's latest value; a pending key is never deleted
    // (delete flushes first), so every one is still there.
    for (const i of order) this.insertTop(keys[i]!, bufs[i]!, this.exact.get(keys[i]!)!);
  }

  private insertTop(k: string, key: Buffer, value: V): void {
    const split = this.insertInto(this.root, k, key, value);
    if (split) {
      const root: Inner<V> = { leaf: false, keys: [split.key], children: [this.root, split.right] };
      this.root = root;
    }
  }

  /** Removes the key if present; returns whether it was there. */
  delete(key: Buffer): boolean {
    const k = indexKey(key);
    this.flush();
    if (!this.exact.delete(k)) return false;
    let node = this.root;
    while (!node.leaf) node = node.children[upperBound(node.keys, k)]!;
    const i = lowerBound(node.keys, k);
    if (i >= node.keys.length || node.keys[i] !== k) return false;
    node.keys.splice(i, 1);
    node.bufs.splice(i, 1);
    node.vals.splice(i, 1);
    return true;
  }

  /**
   * Calls fn for every entry with start <= key < end in key order (end null:
   * no upper bound) until fn returns false. fn must not modify the index.
   */
  scan(start: Buffer, end: Buffer | null, fn: (key: Buffer, value: V) => boolean | void): void {
    this.flush();
    const s = indexKey(start);
    const e = end === null ? null : indexKey(end);
    let node = this.root;
    while (!node.leaf) node = node.children[upperBound(node.keys, s)]!;
    let leaf: Leaf<V> | null = node;
    let i = lowerBound(leaf.keys, s);
    while (leaf) {
      const keys = leaf.keys;
      for (; i < keys.length; i++) {
        if (e !== null && keys[i]! >= e) return;
        if (fn(leaf.bufs[i]!, leaf.vals[i]!) === false) return;
      }
      leaf = leaf.next;
      i = 0;
    }
  }

  /** Every value, in no particular order (cheaper than entries() when order does not matter). */
  values(): V[] {
    return [...this.exact.values()];
  }

  /** Every value in key order, as one array (no pair per entry). */
  valuesInOrder(): V[] {
    this.flush();
    const values: V[] = [];
    let node = this.root;
    while (!node.leaf) node = node.children[0]!;
    for (let leaf: Leaf<V> | null = node; leaf; leaf = leaf.next) {
      const vals = leaf.vals;
      for (let i = 0; i < vals.length; i++) values.push(vals[i]!);
    }
    return values;
  }

  /** All entries in key order. */
  *entries(): IterableIterator<[Buffer, V]> {
    this.flush();
    let node = this.root;
    while (!node.leaf) node = node.children[0]!;
    for (let leaf: Leaf<V> | null = node; leaf; leaf = leaf.next) {
      for (let i = 0; i < leaf.keys.length; i++) yield [leaf.bufs[i]!, leaf.vals[i]!];
    }
  }

  /** Replaces the whole content with entries already sorted by key and free of duplicates. */
  bulkLoad(keys: Buffer[], vals: V[]): void {
    if (keys.length !== vals.length) throw new Error('OrderedIndex.bulkLoad: keys and values differ in length');
    this.pendingKeys = [];
    this.pendingBufs = [];
    this.exact.clear();
    const strs = keys.map(indexKey);
    for (let i = 0; i < keys.length; i++) this.exact.set(strs[i]!, vals[i]!);
    if (keys.length === 0) {
      this.root = newLeaf<V>();
      return;
    }
    let level: Node<V>[] = [];
    let firstKeys: string[] = [];
    let prev: Leaf<V> | null = null;
    for (let i = 0; i < keys.length; i += BULK_FILL) {
      const leaf: Leaf<V> = {
        leaf: true,
        keys: strs.slice(i, i + BULK_FILL),
        bufs: keys.slice(i, i + BULK_FILL),
        vals: vals.slice(i, i + BULK_FILL),
        next: null,
      };
      if (prev) prev.next = leaf;
      prev = leaf;
      level.push(leaf);
      firstKeys.push(leaf.keys[0]!);
    }
    while (level.length > 1) {
      const up: Node<V>[] = [];
      const upFirst: string[] = [];
      for (let i = 0; i < level.length; i += BULK_FILL) {
        const children = level.slice(i, i + BULK_FILL);
        const inner: Inner<V> = { leaf: false, keys: firstKeys.slice(i + 1, i + children.length), children };
        up.push(inner);
        upFirst.push(firstKeys[i]!);
      }
      level = up;
      firstKeys = upFirst;
    }
    this.root = level[0]!;
  }

  private insertInto(node: Node<V>, key: string, buf: Buffer, value: V): Split<V> | null {
    if (node.leaf) {
      const i = lowerBound(node.keys, key);
      if (i < node.keys.length && node.keys[i] === key) {
        node.vals[i] = value;
        node.bufs[i] = buf;
        return null;
      }
      node.keys.splice(i, 0, key);
      node.bufs.splice(i, 0, buf);
      node.vals.splice(i, 0, value);
      if (node.keys.length <= LEAF_MAX) return null;
      // Appending at the end (the common pattern for increasing keys) keeps the left leaf full.
      const at = i === node.keys.length - 1 ? LEAF_MAX : node.keys.length >>> 1;
      const right: Leaf<V> = { leaf: true, keys: node.keys.splice(at), bufs: node.bufs.splice(at), vals: node.vals.splice(at), next: node.next };
      node.next = right;
      return { key: right.keys[0]!, right };
    }
    const ci = upperBound(node.keys, key);
    const split = this.insertInto(node.children[ci]!, key, buf, value);
    if (!split) return null;
    node.keys.splice(ci, 0, split.key);
    node.children.splice(ci + 1, 0, split.right);
    if (node.children.length <= INNER_MAX) return null;
    const mid = node.keys.length >>> 1;
    const upKey = node.keys[mid]!;
    const right: Inner<V> = { leaf: false, keys: node.keys.splice(mid + 1), children: node.children.splice(mid + 1) };
    node.keys.length = mid;
    return { key: upKey, right };
  }
}
