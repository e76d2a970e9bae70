// Binary snapshot of the whole MVCC store: every retained revision plus the
// current and compact revisions. The encoding is canonical (one byte string
// per store content), so MvccStore.hash() is simply a CRC of it.
//
// Layout, version 2 (varints are unsigned LEB128, at most 2^53 - 1):
//   "FLMV" | u8 version = 2
//   varint currentRev | varint compactMainRev + 1   (0 = never compacted)
//   varint keyCount, then per key in ascending order: varint length, bytes
//   varint recordCount, then per record in (main, sub) order:
//     varint keyIndex | varint main - previous main | varint sub | u8 flags
//     (bit 0 tombstone, bit 1 has lease); puts continue with
//     varint createRevision | varint version | varint valueLength | value
//     | i64 big-endian lease (only with bit 1)
//   u32 big-endian CRC-32 (IEEE) of everything before it
// Version 1 is the same with a CRC-32C, and is still read; version 2 uses
// CRC-32 because Node computes it natively, several times faster, and a
// snapshot checksums every byte of the store.
// Decoding checks the checksum, every bound and the per-key invariants
// (versions, create revisions, generations, compaction) and throws
// SnapshotFormatError rather than build a store that differs from the one
// that was encoded.

import type { KeyValue } from '../types.js';
import { EMPTY } from '../types.js';
import { Crc32, crc32 } from '../util/crc32.js';
import { Crc32c, crc32c } from '../util/crc32c.js';
import { OrderedIndex } from './ordered-index.js';
import type { KeyEntry, RevisionRecord, StoreState } from './state.js';
import { ByteSlabs } from './slab.js';
import { latest, newKeyEntry, recordCost } from './state.js';

const MAGIC = Buffer.from('FLMV');
export const SNAPSHOT_FORMAT_VERSION = 2;
const FLAG_TOMBSTONE = 1;
const FLAG_LEASE = 2;
/** Chunk size when a sink keeps the chunks: large enough that allocating them costs nothing next to filling them. */
const OWNED_CHUNK = 1 << 20;
/** Chunk size when a sink only reads each chunk (a running checksum): reused, so it can stay small. */
const STREAM_CHUNK = 1 << 16;

export class SnapshotFormatError extends Error {
  constructor(detail: string) {
    super(`mvcc snapshot: ${detail}`);
    this.name = 'SnapshotFormatError';
  }
}

/**
 * Appends to a growing buffer, or streams into a sink in chunks. With an
 * owning sink (one that keeps its chunks) a flushed part of the buffer is
 * never written again: writing continues after it, and a new buffer is
 * taken only when this one is full.
 */
class Writer {
  private buf: Buffer;
  private pos = 0;
  /** Bytes handed out or passed through before the current buffer's start (see written). */
  private before = 0;
  /** Where the part not yet given to the sink starts. */
  private start = 0;
  /** Owning sink: full buffers whose chunks the caller may still hold, and buffers it has released. */
  private retired: Buffer[] = [];
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly sink?: (chunk: Buffer) => void,
    private readonly owned = false,
  ) {
    // A fresh 4 KiB buffer per chunk made a 130 MB image cost 30,000
    // ArrayBuffer allocations, which dominated a snapshot's CPU time.
    this.buf = Buffer.allocUnsafe(sink === undefined ? 4096 : owned ? OWNED_CHUNK : STREAM_CHUNK);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.sink) {
      this.flush();
      if (this.owned) {
        this.before += this.pos;
        this.retired.push(this.buf);
        const spare = n <= OWNED_CHUNK ? this.spare.pop() : undefined;
        this.buf = spare ?? Buffer.allocUnsafe(Math.max(OWNED_CHUNK, n));
        this.pos = this.start = 0;
      }
      if (n <= this.buf.length) return;
    }
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  private flush(): void {
    if (this.pos > this.start) this.sink!(this.buf.subarray(this.start, this.pos));
    if (this.owned) {
      this.start = this.pos;
    } else {
      this.before += this.pos;
      this.pos = this.start = 0;
    }
  }

  /**
   * Owning sink: the caller is done with every chunk handed out so far (it
   * has written them), so the full buffers they came from may be filled
   * again. Without this a 180 MB image allocated 180 buffers of 1 MiB, and
   * that much new external memory pushed V8 into extra full collections of
   * a large heap at every snapshot.
   */
  release(): void {
    for (const b of this.retired) if (b.length === OWNED_CHUNK) this.spare.push(b);
    this.retired = [];
  }

  /** Bytes written so far, passed-through values included. */
  get written(): number {
    return this.before + this.pos;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  uvarint(v: number): void {
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  i64(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  bytes(b: Buffer): void {
    // Large values go to the sink as they are (they are immutable), not copied.
    if (this.sink && b.length >= 4096) {
      this.flush();
      this.sink(b);
      this.before += b.length;
      return;
    }
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Buffer mode: the bytes written so far. Sink mode: flushes the rest. */
  finish(): Buffer {
    if (this.sink) {
      this.flush();
      return EMPTY;
    }
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * What a snapshot contains, captured at one instant: the keys (in order) and
 * the revision records as they are now. Later writes append new records and
 * keys elsewhere and compaction builds a new log array, so a plan stays valid
 * while it is encoded piece by piece.
 */
export interface SnapshotPlan {
  readonly currentRev: number;
  readonly compactMainRev: number;
  /**
   * The key entries in key order. An entry's key Buffer may be replaced while
   * the plan is encoded (a tidy-up moves it to another slab), never its bytes.
   */
  readonly entries: readonly KeyEntry[];
  readonly log: readonly RevisionRecord[];
}

export function planSnapshot(state: StoreState): SnapshotPlan {
  return { currentRev: state.currentRev, compactMainRev: state.compactMainRev, entries: state.index.valuesInOrder(), log: state.log.slice() };
}

/** Records looked at between two yields of the passes that only count or index: a few milliseconds of work. */
const RECORDS_PER_SLICE = 20_000;
/**
 * Bytes encoded between two yields of writeBody. A request passes through
 * several event-loop turns, each of which may wait behind one slice, so a
 * slice is kept to about a millisecond of copying: 20 000 records of 1 KiB
 * values were 20 MB per slice and put the p99 of a 1000 writes/s load at
 * hundreds of milliseconds while a snapshot was written.
 */
const BYTES_PER_SLICE = 1 << 20;

/** Numbers the snapshots whose key positions are stamped on the key entries. */
let lastGen = 0;

/**
 * Each key's position in a plan's key table, which records refer to. The
 * positions are stamped on the key entries themselves: a Map from entry to
 * position cost more than a third of preparing and encoding a 300 000-key
 * image (hashing every entry object, then a lookup per record, twice). A
 * snapshot taken while this one is still being encoded stamps its own
 * numbers over some of these; an entry found with another snapshot's number
 * makes this one fall back to a Map of its own.
 */
class KeyPositions {
  private readonly gen = ++lastGen;
  private fallback: Map<KeyEntry, number> | null = null;

  constructor(private readonly entries: readonly KeyEntry[]) {}

  /** Stamps every entry; yields between slices. */
  *stamp(): Generator<void, void, void> {
    const { entries, gen } = this;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      e.snapGen = gen;
      e.snapPos = i;
      if ((i + 1) % RECORDS_PER_SLICE === 0) yield;
    }
  }

  of(e: KeyEntry): number {
    if (e.snapGen === this.gen) return e.snapPos;
    const pos = (this.fallback ??= new Map(this.entries.map((x, i) => [x, i]))).get(e);
    if (pos === undefined) throw new Error('mvcc snapshot: a record refers to a key outside the snapshot');
    return pos;
  }
}

/** The plan's key positions, stamped in slices. */
function* keyTable(plan: SnapshotPlan): Generator<void, KeyPositions, void> {
  const positions = new KeyPositions(plan.entries);
  yield* positions.stamp();
  return positions;
}

function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** The exact length writeBody will produce, checksum included, computed without encoding; yields between slices. */
function* encodedLength(plan: SnapshotPlan, keyIndex: KeyPositions): Generator<void, number, void> {
  let n = MAGIC.length + 1 + uvarintSize(plan.currentRev) + uvarintSize(plan.compactMainRev + 1) + uvarintSize(plan.entries.length);
  const entries = plan.entries;
  for (let i = 0; i < entries.length; i++) n += uvarintSize(entries[i]!.key.length) + entries[i]!.key.length;
  const log = plan.log;
  n += uvarintSize(log.length);
  let prevMain = 0;
  for (let i = 0; i < log.length; i++) {
    if ((i + 1) % RECORDS_PER_SLICE === 0) yield;
    const rec = log[i]!;
    const kv = rec.kv;
    n += uvarintSize(keyIndex.of(rec.entry)) + uvarintSize(kv.modRevision - prevMain) + uvarintSize(rec.sub) + 1;
    prevMain = kv.modRevision;
    if (rec.tombstone) continue;
    n += uvarintSize(kv.createRevision) + uvarintSize(kv.version) + uvarintSize(kv.value.length) + kv.value.length;
    if (kv.lease !== 0n) n += 8;
  }
  return n + 4;
}

/** Encodes the plan; yields every RECORDS_PER_SLICE keys or records, or BYTES_PER_SLICE bytes, so a caller can spread the work out. */
function* writeBody(plan: SnapshotPlan, keyIndex: KeyPositions, w: Writer): Generator<void, void, void> {
  w.bytes(MAGIC);
  w.u8(SNAPSHOT_FORMAT_VERSION);
  w.uvarint(plan.currentRev);
  w.uvarint(plan.compactMainRev + 1);
  let n = 0;
  let sliceEnd = w.written + BYTES_PER_SLICE;
  /** Counts one key or record; true when this slice is full and the next starts. */
  const sliceFull = (): boolean => {
    if (++n % RECORDS_PER_SLICE !== 0 && w.written < sliceEnd) return false;
    sliceEnd = w.written + BYTES_PER_SLICE;
    return true;
  };
  const entries = plan.entries;
  w.uvarint(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const key = entries[i]!.key;
    w.uvarint(key.length);
    w.bytes(key);
    if (sliceFull()) yield;
  }
  const log = plan.log;
  w.uvarint(log.length);
  let prevMain = 0;
  for (let i = 0; i < log.length; i++) {
    if (sliceFull()) yield;
    const rec = log[i]!;
    const kv = rec.kv;
    w.uvarint(keyIndex.of(rec.entry));
    w.uvarint(kv.modRevision - prevMain);
    prevMain = kv.modRevision;
    w.uvarint(rec.sub);
    if (rec.tombstone) {
      w.u8(FLAG_TOMBSTONE);
      continue;
    }
    const hasLease = kv.lease !== 0n;
    w.u8(hasLease ? FLAG_LEASE : 0);
    w.uvarint(kv.createRevision);
    w.uvarint(kv.version);
    w.uvarint(kv.value.length);
    w.bytes(kv.value);
    if (hasLease) w.i64(kv.lease);
  }
}

/** An encoding whose length is known before any of it is produced, handed out slice by slice. */
export interface SlicedImage {
  readonly length: number;
  /**
   * Each step encodes about a millisecond's worth and yields the chunks it
   * completed; in order, they are the image. A slice's chunks are valid only
   * until the next slice is asked for (their memory is reused): copy them to
   * keep them.
   */
  readonly slices: Iterable<Buffer[]>;
}

function* encodeSlices(plan: SnapshotPlan, keyIndex: KeyPositions, length: number): Generator<Buffer[], void, void> {
  let pending: Buffer[] = [];
  let produced = 0;
  const crc = new Crc32();
  // Owned chunks: each one is handed out and written out before the next
  // slice is asked for, while the writer goes on in a fresh part of its
  // buffer; full buffers are filled again once their slice is consumed.
  const w = new Writer((chunk) => {
    crc.update(chunk);
    produced += chunk.length;
    pending.push(chunk);
  }, true);
  const body = writeBody(plan, keyIndex, w);
  // A slice may complete no chunk (they are 1 MiB); it is yielded all the
  // same, since the consumer's pause between slices is the point.
  for (let r = body.next(); !r.done; r = body.next()) {
    yield pending;
    // Asking for the next slice means the last one was consumed.
    w.release();
    pending = [];
  }
  w.finish();
  const tail = Buffer.allocUnsafe(4);
  tail.writeUInt32BE(crc.digest(), 0);
  pending.push(tail);
  // The length went into headers before the first byte was produced.
  if (produced + 4 !== length) throw new Error(`mvcc snapshot: encoded ${produced + 4} bytes, planned ${length}`);
  yield pending;
}

/**
 * The encoding of a plan taken earlier, to be produced slice by slice (so a
 * large store is written out without stalling the event loop) and written
 * out as it is produced (so a large image never exists whole in memory).
 * Preparing it (the key table, the exact length) takes a pass over the
 * plan too, so it is a generator as well: it yields between slices and
 * returns the image.
 */
export function* sliceSnapshot(plan: SnapshotPlan): Generator<void, SlicedImage, void> {
  const keyIndex = yield* keyTable(plan);
  const length = yield* encodedLength(plan, keyIndex);
  return { length, slices: { [Symbol.iterator]: () => encodeSlices(plan, keyIndex, length) } };
}

/** Runs a generator's slices back to back; returns what it returns. */
export function runSlices<T>(g: Generator<void, T, void>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

export function encodeSnapshot(state: StoreState): Buffer {
  const image = runSlices(sliceSnapshot(planSnapshot(state)));
  const out = Buffer.allocUnsafe(image.length);
  let at = 0;
  for (const slice of image.slices) for (const c of slice) at += c.copy(out, at);
  return out;
}

/** CRC-32C of the snapshot body, computed without materialising it. */
export function snapshotChecksum(state: StoreState): number {
  const h = new Crc32c();
  const w = new Writer((chunk) => h.update(chunk));
  const plan = planSnapshot(state);
  runSlices(writeBody(plan, runSlices(keyTable(plan)), w));
  w.finish();
  return h.digest();
}

class Reader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly end: number,
    private readonly slabs: ByteSlabs,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw new SnapshotFormatError('truncated');
    return this.buf[this.pos++]!;
  }

  uvarint(what: string): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (!Number.isSafeInteger(v)) break;
        if (i > 0 && b === 0) throw new SnapshotFormatError(`non-canonical varint in ${what}`);
        return v;
      }
      mul *= 0x80;
    }
    throw new SnapshotFormatError(`${what} out of range`);
  }

  i64(): bigint {
    if (this.remaining < 8) throw new SnapshotFormatError('truncated');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A copy in the store's slabs, so the store does not pin the snapshot buffer. */
  bytes(n: number): Buffer {
    if (n > this.remaining) throw new SnapshotFormatError('truncated');
    const b = this.slabs.copy(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return b;
  }
}

function fail(detail: string): never {
  throw new SnapshotFormatError(detail);
}

export function decodeSnapshot(buf: Buffer): StoreState {
  if (!Buffer.isBuffer(buf)) fail('not a buffer');
  if (buf.length < MAGIC.length + 1 + 4) fail('truncated');
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) fail('bad magic (not an MVCC snapshot)');
  const version = buf[MAGIC.length]!;
  if (version !== SNAPSHOT_FORMAT_VERSION && version !== 1) fail(`unsupported format version ${version}`);
  const bodyEnd = buf.length - 4;
  const checksum = version === 1 ? crc32c : crc32;
  if (checksum(buf.subarray(0, bodyEnd)) !== buf.readUInt32BE(bodyEnd)) fail('checksum mismatch (corrupt snapshot)');

  const slabs = new ByteSlabs();
  const r = new Reader(buf, bodyEnd, slabs);
  r.pos = MAGIC.length + 1;
  const currentRev = r.uvarint('current revision');
  const compactMainRev = r.uvarint('compact revision') - 1;
  if (currentRev < 1) fail('current revision below 1');
  if (compactMainRev > currentRev) fail('compact revision beyond current revision');

  const keyCount = r.uvarint('key count');
  if (keyCount > r.remaining) fail('key count exceeds snapshot size');
  const entries: KeyEntry[] = new Array<KeyEntry>(keyCount);
  const keys: Buffer[] = new Array<Buffer>(keyCount);
  for (let i = 0; i < keyCount; i++) {
    const len = r.uvarint('key length');
    if (len === 0) fail('empty key');
    const key = r.bytes(len);
    if (i > 0 && Buffer.compare(keys[i - 1]!, key) >= 0) fail('keys not strictly ascending');
    keys[i] = key;
    entries[i] = newKeyEntry(key);
  }

  const recordCount = r.uvarint('record count');
  if (recordCount > r.remaining) fail('record count exceeds snapshot size');
  const log: RevisionRecord[] = new Array<RevisionRecord>(recordCount);
  let prevMain = 0;
  let prevSub = -1;
  for (let i = 0; i < recordCount; i++) {
    const ki = r.uvarint('key index');
    const entry = entries[ki] ?? fail('key index out of range');
    const main = prevMain + r.uvarint('revision');
    const sub = r.uvarint('sub revision');
    if (main < 1 || main > currentRev) fail(`revision ${main} outside [1, ${currentRev}]`);
    if (main === prevMain && sub <= prevSub) fail('revisions not strictly ascending');
    prevMain = main;
    prevSub = sub;
    const flags = r.u8();
    if ((flags & ~(FLAG_TOMBSTONE | FLAG_LEASE)) !== 0) fail(`unknown record flags ${flags}`);
    const before = entry.revs[entry.revs.length - 1];
    const prevLive = before && !before.tombstone ? before.kv : undefined;
    let rec: RevisionRecord;
    if (flags & FLAG_TOMBSTONE) {
      if (flags & FLAG_LEASE) fail('tombstone with a lease');
      if (!prevLive) fail('tombstone of a key that does not exist');
      const kv: KeyValue = Object.freeze({ key: entry.key, createRevision: 0, modRevision: main, version: 0, value: EMPTY, lease: 0n });
      rec = { sub, tombstone: true, kv, prevKv: prevLive, entry };
    } else {
      const createRevision = r.uvarint('create revision');
      const ver = r.uvarint('version');
      const value = r.bytes(r.uvarint('value length'));
      const lease = flags & FLAG_LEASE ? r.i64() : 0n;
      if (flags & FLAG_LEASE && lease === 0n) fail('lease flag with lease 0');
      if (prevLive) {
        if (createRevision !== prevLive.createRevision || ver !== prevLive.version + 1) fail('version history inconsistent');
      } else if (before) {
        if (createRevision !== main || ver !== 1) fail('re-created key must start a new generation');
      } else if (ver < 1 || createRevision < 1 || createRevision > main || (ver === 1) !== (createRevision === main)) {
        fail('first retained revision inconsistent');
      }
      const kv: KeyValue = Object.freeze({ key: entry.key, createRevision, modRevision: main, version: ver, value, lease });
      rec = { sub, tombstone: false, kv, prevKv: prevLive, entry };
    }
    if (compactMainRev >= 0 && main <= compactMainRev && (before !== undefined || rec.tombstone)) {
      fail('history older than the compact revision is retained');
    }
    entry.revs.push(rec);
    log[i] = rec;
  }
  if (r.remaining !== 0) fail('trailing bytes');

  let retainedBytes = 0;
  let liveBytes = 0;
  let liveKeys = 0;
  for (const entry of entries) {
    if (entry.revs.length === 0) fail('key without revisions');
    for (const rec of entry.revs) retainedBytes += recordCost(rec.kv);
    const live = latest(entry);
    if (live) {
      liveBytes += recordCost(live);
      liveKeys++;
    }
  }
  const index = new OrderedIndex<KeyEntry>();
  index.bulkLoad(keys, entries);
  return { index, slabs, log, currentRev, compactMainRev, retainedBytes, liveBytes, liveKeys, writeActive: false };
}
