import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WalCorruptError } from '../../../etcd/wal/errors.js';
import {
  decodeEntry,
  decodeHardState,
  decodeSnapshotMeta,
  readFrame,
  RecordBuffer,
  RecordType,
  type Entry,
} from '../../../etcd/wal/records.js';
import { replaySegments } from '../../../etcd/wal/replay.js';
import { entries, MemWal, plain, snap, type Rec } from './helpers.js';

const hs = (term: number, commit: number, vote = '') => ({ term, vote, commit });

/** A WAL of one segment: header, then batches of 1-3 entries each, with hard states. */
function sampleWal(batches = 8): { wal: MemWal; all: Entry[] } {
  const wal = new MemWal();
  wal.batch([{ kind: 'metadata', bytes: Buffer.from('cluster=1;member=2') }]);
  const all: Entry[] = [];
  let next = 1;
  for (let b = 0; b < batches; b++) {
    const n = 1 + (b % 3);
    const es = entries(next, next + n - 1, 2);
    next += n;
    all.push(...es);
    wal.batch([{ kind: 'entries', entries: es }, { kind: 'hardState', hs: hs(2, next - 1, '00000000000000aa') }]);
  }
  return { wal, all };
}

describe('record codec', () => {
  it('round-trips every record type through seal and readFrame', () => {
    const arbEntry = fc.record({
      index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      term: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      type: fc.constantFrom('normal' as const, 'conf' as const),
      data: fc.uint8Array({ maxLength: 40 }),
    });
    const arbId = fc.string({ maxLength: 20 });
    fc.assert(
      fc.property(
        arbEntry,
        fc.record({ term: fc.nat(), vote: arbId, commit: fc.nat() }),
        fc.record({
          index: fc.nat(),
          term: fc.nat(),
          confState: fc.record({ voters: fc.array(arbId, { maxLength: 5 }), learners: fc.array(arbId, { maxLength: 3 }) }),
        }),
        fc.nat(),
        (e, h, s, prev) => {
          const rb = new RecordBuffer(8);
          rb.appendEntry(e);
          rb.appendHardState(h);
          rb.appendSnapshot(s);
          const { bytes, lastCrc } = rb.seal(prev >>> 0);
          expect(bytes.length % 8).toBe(0);
          const f1 = readFrame(bytes, 0);
          if (!f1.ok) throw new Error(f1.reason);
          expect(f1.frame.type).toBe(RecordType.entry);
          expect(f1.frame.prevCrc).toBe(prev >>> 0);
          expect(f1.frame.flags).toBe(1);
          const got = decodeEntry(bytes, f1.frame.payloadStart, f1.frame.payloadEnd);
          expect({ ...got, data: [...got.data] }).toEqual({ ...e, data: [...e.data] });
          const f2 = readFrame(bytes, f1.frame.end);
          if (!f2.ok) throw new Error(f2.reason);
          expect(f2.frame.prevCrc).toBe(f1.frame.crc);
          expect(f2.frame.flags).toBe(0);
          expect(decodeHardState(bytes, f2.frame.payloadStart, f2.frame.payloadEnd)).toEqual(h);
          const f3 = readFrame(bytes, f2.frame.end);
          if (!f3.ok) throw new Error(f3.reason);
          expect(decodeSnapshotMeta(bytes, f3.frame.payloadStart, f3.frame.payloadEnd)).toEqual(s);
          expect(f3.frame.crc).toBe(lastCrc);
          expect(f3.frame.end).toBe(bytes.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects values that cannot be stored exactly', () => {
    const rb = new RecordBuffer();
    expect(() => rb.appendEntry({ index: 2 ** 53, term: 1, type: 'normal', data: new Uint8Array() })).toThrow(RangeError);
    expect(() => rb.appendHardState({ term: -1, vote: '', commit: 0 })).toThrow(RangeError);
  });
});

describe('replay', () => {
  it('recovers metadata, entries and the latest hard state', () => {
    const { wal, all } = sampleWal();
    const r = replaySegments(wal.segments);
    expect(plain(r.entries)).toEqual(plain(all));
    expect(r.hardState).toEqual(hs(2, all.length, '00000000000000aa'));
    expect(Buffer.from(r.metadata!).toString()).toBe('cluster=1;member=2');
    expect(r.tail).toBeUndefined();
    expect(r.lastIndex).toBe(all.length);
    expect(r.snapshot).toBeUndefined();
  });

  it('resolves overwritten suffixes as Raft truncations', () => {
    const wal = new MemWal();
    wal.batch([{ kind: 'entries', entries: entries(1, 10, 1) }]);
    wal.batch([{ kind: 'entries', entries: entries(6, 8, 2) }]);
    let r = replaySegments(wal.segments);
    expect(r.entries.map((e) => [e.index, e.term])).toEqual([
      [1, 1], [2, 1], [3, 1], [4, 1], [5, 1], [6, 2], [7, 2], [8, 2],
    ]);
    // Truncation to before the first entry, across a segment boundary.
    wal.newSegment(9);
    wal.batch([{ kind: 'entries', entries: entries(1, 2, 3) }]);
    r = replaySegments(wal.segments);
    expect(r.entries.map((e) => [e.index, e.term])).toEqual([[1, 3], [2, 3]]);
    expect(r.lastIndex).toBe(2);
  });

  it('starts after the latest snapshot marker', () => {
    const wal = new MemWal();
    wal.batch([{ kind: 'entries', entries: entries(1, 10) }]);
    wal.batch([{ kind: 'snapshot', meta: snap(4) }]);
    wal.batch([{ kind: 'entries', entries: entries(11, 12) }, { kind: 'snapshot', meta: snap(7) }]);
    const r = replaySegments(wal.segments);
    expect(r.snapshot).toEqual(snap(7));
    expect(r.entries.map((e) => e.index)).toEqual([8, 9, 10, 11, 12]);
    // A snapshot beyond the log (installed from a leader) empties it.
    wal.batch([{ kind: 'snapshot', meta: snap(50, 3) }]);
    wal.batch([{ kind: 'entries', entries: entries(51, 52, 3) }]);
    const r2 = replaySegments(wal.segments);
    expect(r2.entries.map((e) => e.index)).toEqual([51, 52]);
    expect(r2.lastIndex).toBe(52);
  });

  it('accepts a released log whose first segment starts after a snapshot marker it does not hold', () => {
    const wal = new MemWal();
    wal.batch([{ kind: 'entries', entries: entries(1, 100) }]);
    wal.newSegment(101, [{ kind: 'hardState', hs: hs(1, 100) }]);
    wal.batch([{ kind: 'snapshot', meta: snap(60) }]); // a lagging apply, written after 100
    wal.batch([{ kind: 'entries', entries: entries(101, 120) }]);
    wal.batch([{ kind: 'snapshot', meta: snap(110) }]);
    const released = wal.segments.slice(1);
    const r = replaySegments(released);
    expect(r.snapshot?.index).toBe(110);
    expect(r.entries.map((e) => e.index)).toEqual(entries(111, 120).map((e) => e.index));
    expect(r.hardState.commit).toBe(100);
  });

  it('refuses logs with holes', () => {
    const wal = new MemWal();
    wal.batch([{ kind: 'entries', entries: entries(1, 3) }]);
    wal.batch([{ kind: 'entries', entries: entries(5, 6) }]);
    expect(() => replaySegments(wal.segments)).toThrow(/entry 5 leaves a gap after entry 3/);

    const w2 = new MemWal();
    w2.batch([{ kind: 'entries', entries: entries(1, 100) }]);
    w2.newSegment(101);
    w2.batch([{ kind: 'entries', entries: entries(101, 102) }]);
    // Releasing segment 0 without a snapshot marker would lose entries 1..100.
    expect(() => replaySegments(w2.segments.slice(1))).toThrow(/no snapshot marker/);
  });

  describe('torn tail', () => {
    it('at every byte offset of the last record yields exactly the records fully written before', () => {
      const { wal, all } = sampleWal();
      wal.batch([{ kind: 'entries', entries: entries(all.length + 1, all.length + 1, 2) }]);
      const last = wal.batches[wal.batches.length - 1]!;
      const seg = wal.segments[0]!;
      for (let cut = last.start; cut < last.end; cut++) {
        const r = replaySegments([{ name: seg.name, bytes: seg.bytes.subarray(0, cut) }]);
        expect(plain(r.entries)).toEqual(plain(all));
        expect(r.lastSegmentBytes).toBe(last.start);
        if (cut === last.start) expect(r.tail).toBeUndefined();
        else expect(r.tail).toMatchObject({ offset: last.start, droppedBytes: cut - last.start });
      }
    });

    it('at every byte offset of a multi-record last batch keeps the complete records of that batch', () => {
      const { wal, all } = sampleWal(4);
      const n = all.length;
      const tailEntries = entries(n + 1, n + 4, 3);
      const last = wal.batch([{ kind: 'entries', entries: tailEntries }, { kind: 'hardState', hs: hs(3, n + 4) }]);
      const seg = wal.segments[0]!;
      for (let cut = last.start; cut <= last.end; cut++) {
        const r = replaySegments([{ name: seg.name, bytes: seg.bytes.subarray(0, cut) }]);
        const complete = last.records.filter((x) => x.end <= cut);
        const expected = [...all, ...complete.flatMap((x) => x.entries)];
        expect(plain(r.entries)).toEqual(plain(expected));
        expect(r.lastSegmentBytes).toBe(complete.length ? complete[complete.length - 1]!.end : last.start);
        expect(r.hardState.commit).toBe(complete.length === last.records.length ? n + 4 : n);
      }
    });

    it('treats a zero-filled tail as torn', () => {
      const { wal, all } = sampleWal();
      const seg = wal.segments[0]!;
      const r = replaySegments([{ name: seg.name, bytes: Buffer.concat([seg.bytes, Buffer.alloc(4096)]) }]);
      expect(plain(r.entries)).toEqual(plain(all));
      expect(r.tail).toMatchObject({ offset: seg.bytes.length, droppedBytes: 4096, zeroFilled: true });
    });

    it('drops the rest of the final batch after a hole (out-of-order page writeback)', () => {
      const { wal, all } = sampleWal(3);
      const n = all.length;
      const last = wal.batch([{ kind: 'entries', entries: entries(n + 1, n + 3, 2) }]);
      const seg = wal.segments[0]!;
      const bytes = Buffer.from(seg.bytes);
      const firstEnd = last.records[0]!.end;
      bytes.fill(0, last.start, firstEnd); // first record never reached the disk, the rest did
      const r = replaySegments([{ name: seg.name, bytes }]);
      expect(plain(r.entries)).toEqual(plain(all));
      expect(r.tail?.offset).toBe(last.start);
    });

    it('is only repaired in the last segment', () => {
      const { wal } = sampleWal(3);
      wal.newSegment(100);
      const first = wal.segments[0]!;
      const files = [{ name: first.name, bytes: first.bytes.subarray(0, first.bytes.length - 3) }, wal.segments[1]!];
      expect(() => replaySegments(files)).toThrow(WalCorruptError);
      expect(() => replaySegments(files)).toThrow(new RegExp(`${first.name} at offset \\d+: .*not the last segment`));
    });
  });

  describe('corruption', () => {
    it('any bit flip before the final batch is reported, never replayed', () => {
      const wal = new MemWal();
      wal.batch([{ kind: 'metadata', bytes: Buffer.from('m') }]);
      for (let i = 1; i <= 30; i++) {
        const recs: Rec[] = [{ kind: 'entries', entries: entries(i, i, 1) }];
        if (i % 4 === 0) recs.push({ kind: 'hardState', hs: hs(1, i) });
        if (i === 10) recs.push({ kind: 'snapshot', meta: snap(5) });
        wal.batch(recs);
        if (i === 12 || i === 24) wal.newSegment(i + 1, [{ kind: 'metadata', bytes: Buffer.from('m') }]);
      }
      const finalStart = wal.batches[wal.batches.length - 1]!.start;
      const lastSeg = wal.segments.length - 1;
      fc.assert(
        fc.property(fc.nat(lastSeg), fc.nat(), fc.nat(7), (s, pos, bit) => {
          const files = wal.copy();
          const f = files[s]!;
          const limit = s === lastSeg ? finalStart : f.bytes.length;
          const at = pos % limit;
          f.bytes[at]! ^= 1 << bit;
          let err: unknown;
          try {
            replaySegments(files);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(WalCorruptError);
          expect((err as WalCorruptError).file).toBe(f.name);
          expect((err as Error).message).toContain(f.name);
        }),
        { numRuns: 400 },
      );
    });

    it('a bit flip anywhere either throws or yields a prefix of what was written', () => {
      const { wal, all } = sampleWal(10);
      const seg = wal.segments[0]!;
      fc.assert(
        fc.property(fc.nat(seg.bytes.length - 1), fc.nat(7), (at, bit) => {
          const bytes = Buffer.from(seg.bytes);
          bytes[at]! ^= 1 << bit;
          let r;
          try {
            r = replaySegments([{ name: seg.name, bytes }]);
          } catch (e) {
            expect(e).toBeInstanceOf(WalCorruptError);
            return;
          }
          expect(plain(r.entries)).toEqual(plain(all.slice(0, r.entries.length)));
          expect(at).toBeGreaterThanOrEqual(wal.batches[wal.batches.length - 1]!.start);
        }),
        { numRuns: 300 },
      );
    });

    it('detects a missing, truncated, renamed or reordered segment', () => {
      const wal = new MemWal();
      wal.batch([{ kind: 'entries', entries: entries(1, 5) }]);
      wal.newSegment(6);
      wal.batch([{ kind: 'entries', entries: entries(6, 9) }]);
      wal.newSegment(10);
      wal.batch([{ kind: 'entries', entries: entries(10, 12) }]);
      const [s0, s1, s2] = wal.copy() as [{ name: string; bytes: Buffer }, { name: string; bytes: Buffer }, { name: string; bytes: Buffer }];
      expect(replaySegments([s0, s1, s2]).entries.length).toBe(12);
      expect(() => replaySegments([s0, s2])).toThrow(/missing segment 1/);
      // Cut exactly at a record boundary: every frame verifies, only the chain tells.
      const b1 = wal.batches[1]!;
      expect(() => replaySegments([s0, { name: s1.name, bytes: s1.bytes.subarray(0, b1.records[1]!.end) }, s2])).toThrow(
        /crc chain broken between/,
      );
      expect(() => replaySegments([s0, { name: s1.name.replace(/6\.wal$/, '7.wal'), bytes: s1.bytes }, s2])).toThrow(/renamed or replaced/);
      expect(() => replaySegments([{ name: s0.name, bytes: Buffer.alloc(0) }, s1, s2])).toThrow(/does not start with a valid crc record/);
    });

    it('reports a record spliced out of the middle of a segment', () => {
      const { wal } = sampleWal(6);
      const seg = wal.segments[0]!;
      const b = wal.batches[3]!;
      const spliced = Buffer.concat([seg.bytes.subarray(0, b.start), seg.bytes.subarray(b.end)]);
      expect(() => replaySegments([{ name: seg.name, bytes: spliced }])).toThrow(/crc chain broken/);
    });
  });
});
