// Finds the watchers interested in a key without looking at every watcher.
// Exact-key watchers sit in a hash map (the common case: thousands of
// watchers on distinct keys cost O(1) per event). Range watchers are grouped
// by identical [start, end) so that many watchers on one prefix cost one
// comparison, and the groups are kept sorted by start so a lookup stops at
// the first group starting after the key.

export interface IndexedWatcher {
  readonly key: Buffer;
  /** null: the single key `key`. Empty buffer: every key >= key. Otherwise [key, end). */
  readonly end: Buffer | null;
}

interface RangeGroup<W> {
  readonly start: Buffer;
  /** null: unbounded above. */
  readonly end: Buffer | null;
  readonly id: string;
  readonly watchers: Set<W>;
}

// latin1 maps every byte to one UTF-16 unit, so distinct byte strings stay distinct map keys.
const mapKey = (b: Buffer): string => b.toString('latin1');

export class WatcherIndex<W extends IndexedWatcher> {
  private readonly byKey = new Map<string, Set<W>>();
  private readonly groupsById = new Map<string, RangeGroup<W>>();
  /** Sorted by start, then end (unbounded last). */
  private readonly groups: RangeGroup<W>[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: W): void {
    if (w.end === null) {
      const k = mapKey(w.key);
      let set = this.byKey.get(k);
      if (!set) {
        set = new Set();
        this.byKey.set(k, set);
      }
      if (!set.has(w)) this.count++;
      set.add(w);
      return;
    }
    const end = w.end.length === 0 ? null : w.end;
    const id = `${w.key.toString('hex')}:${end ? end.toString('hex') : '*'}`;
    let group = this.groupsById.get(id);
    if (!group) {
      group = { start: w.key, end, id, watchers: new Set() };
      this.groupsById.set(id, group);
      this.groups.splice(this.insertionPoint(group), 0, group);
    }
    if (!group.watchers.has(w)) this.count++;
    group.watchers.add(w);
  }

  delete(w: W): boolean {
    if (w.end === null) {
      const k = mapKey(w.key);
      const set = this.byKey.get(k);
      if (!set || !set.delete(w)) return false;
      if (set.size === 0) this.byKey.delete(k);
      this.count--;
      return true;
    }
    const end = w.end.length === 0 ? null : w.end;
    const id = `${w.key.toString('hex')}:${end ? end.toString('hex') : '*'}`;
    const group = this.groupsById.get(id);
    if (!group || !group.watchers.delete(w)) return false;
    this.count--;
    if (group.watchers.size === 0) {
      this.groupsById.delete(id);
      const at = this.groups.indexOf(group);
      if (at >= 0) this.groups.splice(at, 1);
    }
    return true;
  }

  /** Calls fn for every watcher whose key or range contains key. */
  forEachMatch(key: Buffer, fn: (w: W) => void): void {
    const exact = this.byKey.get(mapKey(key));
    if (exact) for (const w of exact) fn(w);
    for (const g of this.groups) {
      if (Buffer.compare(g.start, key) > 0) break;
      if (g.end === null || Buffer.compare(key, g.end) < 0) for (const w of g.watchers) fn(w);
    }
  }

  private insertionPoint(g: RangeGroup<W>): number {
    let lo = 0;
    let hi = this.groups.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareGroups(this.groups[mid]!, g) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function compareGroups<W>(a: RangeGroup<W>, b: RangeGroup<W>): number {
  const c = Buffer.compare(a.start, b.start);
  if (c !== 0) return c;
  if (a.end === null) return b.end === null ? 0 : 1;
  if (b.end === null) return -1;
  return Buffer.compare(a.end, b.end);
}
