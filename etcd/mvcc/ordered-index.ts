// An in-memory B+tree keyed by byte strings (byte-wise order), the
// ordered key index under the MVCC store. Inserts are O(log n); range scans
// walk the linked leaves. Exact lookups, the hot path of every put and
// single-key read, go through a hash map beside the tree (several times
// faster than descending it). Deletes never rebalance: they only
// happen when a write is rolled back or a key is compacted away, and
// compaction rebuilds the tree with `bulkLoad` anyway.

const LEAF_MAX = 64;
const INNER_MAX = 64;
/** Bulk-loaded leaves are left partly empty so the next inserts do not split at once. */
const BULK_FILL = 48;

interface Leaf<V> {
  readonly leaf: true;
  keys: Buffer[];
  vals: V[];
  next: Leaf<V> | null;
}

interface Inner<V> {
  readonly leaf: false;
  /** keys[i] is the smallest key reachable through children[i + 1]. */
  keys: Buffer[];
  children: Node<V>[];
}

type Node<V> = Leaf<V> | Inner<V>;

interface Split<V> {
  key: Buffer;
  right: Node<V>;
}

/**
 * Byte-wise comparison. A plain loop beats the native Buffer.compare call for
 * the short keys typical of etcd; long keys go native.
 */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  if (n > 64) return Buffer.compare(a, b);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Number of entries in `keys` that are <= key. */
function upperBound(keys: Buffer[], key: Buffer): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Number of entries in `keys` that are < key. */
function lowerBound(keys: Buffer[], key: Buffer): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function newLeaf<V>(): Leaf<V> {
  return { leaf: true, keys: [], vals: [], next: null };
}

export class OrderedIndex<V> {
  private root: Node<V> = newLeaf<V>();
  private count = 0;
  /** Keys as latin1 strings (one char per byte, so distinct keys stay distinct). */
  private readonly exact = new Map<string, V>();

  get size(): number {
    return this.count;
  }

  get(key: Buffer): V | undefined {
    return this.exact.get(key.toString('latin1'));
  }

  /** Inserts or replaces. The index keeps a reference to `key`: callers must not mutate it afterwards. */
  set(key: Buffer, value: V): void {
    this.exact.set(key.toString('latin1'), value);
    const split = this.insertInto(this.root, key, value);
    if (split) {
      const root: Inner<V> = { leaf: false, keys: [split.key], children: [this.root, split.right] };
      this.root = root;
    }
  }

  /** Removes the key if present; returns whether it was there. */
  delete(key: Buffer): boolean {
    if (!this.exact.delete(key.toString('latin1'))) return false;
    let node = this.root;
    while (!node.leaf) node = node.children[upperBound(node.keys, key)]!;
    const i = lowerBound(node.keys, key);
    if (i >= node.keys.length || compareKeys(node.keys[i]!, key) !== 0) return false;
    node.keys.splice(i, 1);
    node.vals.splice(i, 1);
    this.count--;
    return true;
  }

  /**
   * Calls fn for every entry with start <= key < end in key order (end null:
   * no upper bound) until fn returns false. fn must not modify the index.
   */
  scan(start: Buffer, end: Buffer | null, fn: (key: Buffer, value: V) => boolean | void): void {
    let node = this.root;
    while (!node.leaf) node = node.children[upperBound(node.keys, start)]!;
    let leaf: Leaf<V> | null = node;
    let i = lowerBound(leaf.keys, start);
    while (leaf) {
      const keys = leaf.keys;
      for (; i < keys.length; i++) {
        const k = keys[i]!;
        if (end !== null && compareKeys(k, end) >= 0) return;
        if (fn(k, leaf.vals[i]!) === false) return;
      }
      leaf = leaf.next;
      i = 0;
    }
  }

  /** All entries in key order. */
  *entries(): IterableIterator<[Buffer, V]> {
    let node = this.root;
    while (!node.leaf) node = node.children[0]!;
    for (let leaf: Leaf<V> | null = node; leaf; leaf = leaf.next) {
      for (let i = 0; i < leaf.keys.length; i++) yield [leaf.keys[i]!, leaf.vals[i]!];
    }
  }

  /** Replaces the whole content with entries already sorted by key and free of duplicates. */
  bulkLoad(keys: Buffer[], vals: V[]): void {
    if (keys.length !== vals.length) throw new Error('OrderedIndex.bulkLoad: keys and values differ in length');
    this.count = keys.length;
    this.exact.clear();
    for (let i = 0; i < keys.length; i++) this.exact.set(keys[i]!.toString('latin1'), vals[i]!);
    if (keys.length === 0) {
      this.root = newLeaf<V>();
      return;
    }
    let level: Node<V>[] = [];
    let firstKeys: Buffer[] = [];
    let prev: Leaf<V> | null = null;
    for (let i = 0; i < keys.length; i += BULK_FILL) {
      const leaf: Leaf<V> = { leaf: true, keys: keys.slice(i, i + BULK_FILL), vals: vals.slice(i, i + BULK_FILL), next: null };
      if (prev) prev.next = leaf;
      prev = leaf;
      level.push(leaf);
      firstKeys.push(leaf.keys[0]!);
    }
    while (level.length > 1) {
      const up: Node<V>[] = [];
      const upFirst: Buffer[] = [];
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

  private insertInto(node: Node<V>, key: Buffer, value: V): Split<V> | null {
    if (node.leaf) {
      const i = lowerBound(node.keys, key);
      if (i < node.keys.length && compareKeys(node.keys[i]!, key) === 0) {
        node.vals[i] = value;
        return null;
      }
      node.keys.splice(i, 0, key);
      node.vals.splice(i, 0, value);
      this.count++;
      if (node.keys.length <= LEAF_MAX) return null;
      // Appending at the end (the common pattern for increasing keys) keeps the left leaf full.
      const at = i === node.keys.length - 1 ? LEAF_MAX : node.keys.length >>> 1;
      const right: Leaf<V> = { leaf: true, keys: node.keys.splice(at), vals: node.vals.splice(at), next: node.next };
      node.next = right;
      return { key: right.keys[0]!, right };
    }
    const ci = upperBound(node.keys, key);
    const split = this.insertInto(node.children[ci]!, key, value);
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
