import { describe, expect, it } from 'vitest';
import { ByteSlabs, FIRST_SLAB_BYTES, LARGEST_SLAB_BYTES } from '../../../etcd/mvcc/slab.js';
import { MvccStore } from '../../../etcd/mvcc/store.js';
import type { KeyValue } from '../../../etcd/types.js';
import { rangeReq } from './helpers.js';

/** Runs a tidy-up to the end; returns the bytes it copied and the slices it took. */
function tidy(store: MvccStore): { copied: number; slices: number } {
  const work = store.tidySlabs();
  let slices = 1;
  for (let step = work.next(); ; step = work.next(), slices++) if (step.done) return { copied: step.value, slices };
}

describe('ByteSlabs', () => {
  it('copies short byte strings into shared slabs and long ones into memory of their own', () => {
    const slabs = new ByteSlabs(64, 64);
    const src = Buffer.from('abcdefgh');
    const a = slabs.copy(src);
    const c = slabs.copy(src.subarray(0, 3));
    src.fill(0);
    expect([a.toString(), c.toString()]).toEqual(['abcdefgh', 'abc']);
    expect(a.buffer).toBe(c.buffer);
    expect(a.buffer.byteLength).toBe(64);
    const long = slabs.copy(Buffer.alloc(9, 1));
    expect(long.buffer.byteLength).toBe(9);
    expect(slabs.copy(Buffer.alloc(0)).length).toBe(0);
    expect(slabs.opened).toBe(1);
  });

  it('opens a new slab when the current one cannot hold the next string', () => {
    const slabs = new ByteSlabs(16, 16);
    const parts = Array.from({ length: 9 }, (_, i) => slabs.copy(Buffer.from([i, i])));
    expect(parts.map((p) => [...p])).toEqual(Array.from({ length: 9 }, (_, i) => [i, i]));
    expect(slabs.opened).toBe(2);
    expect(parts[7]!.buffer).toBe(parts[0]!.buffer);
    expect(parts[8]!.buffer).not.toBe(parts[0]!.buffer);
  });

  it('marks for moving exactly what sits in full slabs less than half in use', () => {
    const slabs = new ByteSlabs(16, 16);
    const first = Array.from({ length: 8 }, () => slabs.copy(Buffer.from('xy'))); // fills slab 1
    const second = Array.from({ length: 8 }, () => slabs.copy(Buffer.from('zw'))); // fills slab 2
    const current = slabs.copy(Buffer.from('c')); // slab 3, still being filled
    const census = slabs.census();
    census.add(first[0]!); // slab 1: 2 of 16 bytes in use
    for (const s of second.slice(0, 4)) census.add(s); // slab 2: 8 of 16, not less than half
    census.add(current);
    expect(census.close()).toBe(1);
    expect(census.shouldMove(first[0]!)).toBe(true);
    expect(census.shouldMove(second[0]!)).toBe(false);
    expect(census.shouldMove(current)).toBe(false);
    expect(census.shouldMove(Buffer.from('own memory'))).toBe(false);
    expect(() => slabs.census().shouldMove(current)).toThrow(/before close/);
  });

  it('doubles the slab size up to the largest, and lets each slab take strings up to an eighth of it', () => {
    const slabs = new ByteSlabs(16, 64);
    const sizes: number[] = [];
    let last: ArrayBufferLike | undefined;
    for (let i = 0; i < 60; i++) {
      const b = slabs.copy(Buffer.from([i % 256, 1]));
      if (b.buffer !== last) sizes.push(b.buffer.byteLength);
      last = b.buffer;
    }
    expect(sizes).toEqual([16, 32, 64, 64]);
    // The current slab is 64 bytes: 8 bytes still go in a slab, 9 get memory of their own.
    expect(slabs.copy(Buffer.alloc(8, 1)).buffer.byteLength).toBe(64);
    expect(slabs.copy(Buffer.alloc(9, 1)).buffer.byteLength).toBe(9);
    // Judged against each slab's own size: half of a 64-byte slab is 32 bytes.
    const census = slabs.census();
    const big = slabs.copy(Buffer.alloc(1));
    expect(census.close()).toBe(0);
    expect(census.shouldMove(big)).toBe(false);
  });

  it('grows a default store\'s slabs to the size malloc always maps on its own', () => {
    const slabs = new ByteSlabs();
    expect([slabs.firstSlabBytes, slabs.largestSlabBytes]).toEqual([FIRST_SLAB_BYTES, LARGEST_SLAB_BYTES]);
    // glibc never raises its mmap threshold above 32 MiB on 64-bit systems.
    expect(LARGEST_SLAB_BYTES).toBeGreaterThanOrEqual(32 * 1024 * 1024);
    const value = Buffer.alloc(FIRST_SLAB_BYTES / 8, 7);
    const seen = new Set<number>();
    let copied = 0;
    while (!seen.has(LARGEST_SLAB_BYTES)) {
      const b = slabs.copy(value);
      seen.add(b.buffer.byteLength);
      copied += value.length;
      expect(copied).toBeLessThan(4 * LARGEST_SLAB_BYTES);
    }
    // Slabs before the largest add up to less than one largest slab.
    expect(slabs.opened).toBe(Math.log2(LARGEST_SLAB_BYTES / FIRST_SLAB_BYTES) + 1);
  });

  it('refuses a slab size it cannot use', () => {
    expect(() => new ByteSlabs(4)).toThrow(RangeError);
    expect(() => new ByteSlabs(100.5)).toThrow(RangeError);
    expect(() => new ByteSlabs(64, 32)).toThrow(/below the first/);
    expect(() => new ByteSlabs(64, 100.5)).toThrow(RangeError);
  });
});

/** Bytes of the distinct slabs that the store's newest data still references, and the largest of them. */
function slabsInUse(store: MvccStore, keyCount: number): { bytes: number; largest: number } {
  const seen = new Set<ArrayBufferLike>();
  const kvs = store.range({ ...rangeReq('k', 'l'), limit: keyCount + 1 }).kvs;
  expect(kvs.length).toBe(keyCount);
  for (const kv of kvs) for (const b of [kv.key, kv.value]) seen.add(b.buffer);
  const sizes = [...seen].map((b) => b.byteLength);
  // Every key and value here is short enough for a slab.
  for (const n of sizes) expect(n).toBeGreaterThanOrEqual(FIRST_SLAB_BYTES);
  return { bytes: sizes.reduce((a, b) => a + b, 0), largest: Math.max(...sizes) };
}

/** A store with tiny slabs holding n keys written twice: after a compaction, the first round's slabs hold only keys. */
function overwrittenStore(n: number): { store: MvccStore; key: (i: number) => Buffer } {
  const store = new MvccStore({ slabBytes: 64 });
  const key = (i: number) => Buffer.from(`k${String(i).padStart(6, '0')}`);
  for (let round = 0; round < 2; round++) for (let i = 0; i < n; i++) store.write((t) => t.put(key(i), Buffer.from(`${round}`)));
  return { store, key };
}

describe('compaction and slabs', () => {
  it('tidies up after compaction: survivors leave mostly dead slabs, so memory follows what is live', () => {
    const store = new MvccStore();
    const n = 2000;
    const key = (i: number) => Buffer.from(`k${String(i).padStart(5, '0')}`);
    const value = (i: number, round: number) => Buffer.alloc(1000, (i + round) % 251);
    // Round 1 puts keys and values side by side in the slabs; round 2 overwrites
    // every value, so after compaction round 1's slabs hold only keys.
    for (let round = 1; round <= 2; round++) {
      for (let i = 0; i < n; i++) store.write((t) => t.put(key(i), value(i, round)));
    }
    const before = slabsInUse(store, n);
    store.compact(store.currentRevision);
    // Compaction itself only drops records; the copying happens in the tidy-up.
    expect(slabsInUse(store, n)).toEqual(before);
    expect(store.tidyDue).toBe(true);
    expect(tidy(store).copied).toBeGreaterThan(0);
    expect(store.tidyDue).toBe(false);
    const after = slabsInUse(store, n);
    const liveBytes = n * (6 + 1000);
    // At most half of every full slab is dead, plus the slab being filled (the largest).
    expect(after.bytes - after.largest).toBeLessThanOrEqual(2 * liveBytes);
    expect(after.bytes).toBeLessThan(before.bytes);
    // Content is untouched, and so is each key's history.
    const kvs: KeyValue[] = store.range({ ...rangeReq('k', 'l'), limit: n + 1 }).kvs;
    kvs.forEach((kv, i) => {
      expect(kv.key.equals(key(i))).toBe(true);
      expect(kv.value.equals(value(i, 2))).toBe(true);
      expect([kv.version, kv.createRevision]).toEqual([2, 2 + i]);
    });
  });

  it('keeps prevKv chains pointing at the moved values', () => {
    // Tiny slabs: keys and values (up to 4 bytes) share them, and compaction empties many.
    const store = new MvccStore({ slabBytes: 32 });
    const put = (k: string, v: string) => store.write((t) => t.put(Buffer.from(k), Buffer.from(v)));
    for (let i = 0; i < 20; i++) put(`a${i % 4}`, `v${i}`);
    const rev = store.currentRevision;
    for (let i = 0; i < 8; i++) put(`a${i % 4}`, `w${i}`);
    store.compact(rev);
    expect(tidy(store).copied).toBeGreaterThan(0);
    const events = store.eventsFrom(rev + 1);
    expect(events.length).toBe(8);
    for (const ev of events) {
      const prev = store.range({ ...rangeReq(ev.kv.key.toString()), revision: ev.kv.modRevision - 1 }).kvs[0]!;
      expect(ev.prevKv?.value.toString()).toBe(prev.value.toString());
      // The very record the store keeps, not a copy left behind in a slab that was emptied.
      expect(ev.prevKv).toBe(prev);
    }
  });

  it('works in slices, lets writes in between, and gives way to a newer compaction', () => {
    const { store, key } = overwrittenStore(25_000);
    store.compact(store.currentRevision);
    const work = store.tidySlabs();
    expect(work.next().done).toBe(false);
    // A write between slices is fine; the tidy-up carries on.
    store.write((t) => t.put(key(1), Buffer.from('x')));
    expect(work.next().done).toBe(false);
    // A newer compaction supersedes it, and queues a fresh one.
    store.compact(store.currentRevision);
    let step = work.next();
    while (!step.done) step = work.next();
    expect(store.tidyDue).toBe(true);
    const second = tidy(store);
    expect(second.slices).toBeGreaterThan(2);
    expect(store.range(rangeReq('k000001')).kvs[0]!.value.toString()).toBe('x');
    expect(store.range(rangeReq('k024999')).kvs[0]!.value.toString()).toBe('1');
    expect(store.tidyDue).toBe(false);
    expect(tidy(store)).toEqual({ copied: 0, slices: 1 });
  });

  it('counts keys written after the compaction, so a slab they fill is not taken for empty', () => {
    const store = new MvccStore({ slabBytes: 64 });
    const put = (k: string, v: string) => store.write((t) => t.put(Buffer.from(k), Buffer.from(v)));
    for (let i = 0; i < 20; i++) put('old', `vvvvvvv${i % 10}`);
    put('keep', 'k1');
    store.compact(store.currentRevision);
    // Before the tidy-up starts, new keys fill the slab that holds 'keep'.
    for (let i = 0; i < 20; i++) put(`new${String(i).padStart(2, '0')}`, 'xxxxxxxx');
    const keyOf = (k: string) => store.range(rangeReq(k)).kvs[0]!.key;
    expect(keyOf('keep').buffer).toBe(keyOf('new00').buffer);
    tidy(store);
    // That slab is well used: 'keep' stays where it is instead of being copied next to a slab that cannot be freed.
    expect(keyOf('keep').buffer).toBe(keyOf('new00').buffer);
  });

  it('a superseded tidy-up ending late does not make a running one look finished', () => {
    const { store, key } = overwrittenStore(20_000);
    store.compact(store.currentRevision);
    const first = store.tidySlabs();
    first.next();
    store.write((t) => t.put(key(0), Buffer.from('x')));
    store.compact(store.currentRevision);
    const second = store.tidySlabs();
    second.next();
    while (!first.next().done);
    // The second is still running, so a compaction that drops almost nothing still queues a fresh one.
    store.write((t) => t.put(key(1), Buffer.from('y')));
    store.compact(store.currentRevision);
    expect(store.tidyDue).toBe(true);
    while (!second.next().done);
    expect(tidy(store).slices).toBeGreaterThan(1);
  });
});
