import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../../etcd/util/crc32.js';
import { crc32c } from '../../../etcd/util/crc32c.js';
import { runSlices, SnapshotFormatError } from '../../../etcd/mvcc/snapshot.js';
import { MvccStore } from '../../../etcd/mvcc/store.js';
import { applyDeleteRange, applyPut, applyTxn } from '../../../etcd/mvcc/txn.js';
import { stepArb } from './arbitraries.js';
import { b, delReq, putReq, rangeReq } from './helpers.js';

const LEASES = { exists: (id: bigint) => id !== 9n };

function sample(): MvccStore {
  const s = new MvccStore();
  applyPut(s, putReq('alpha', 'one'), LEASES);
  applyPut(s, putReq('beta', 'two', { lease: 0x7fff_ffff_ffff_fff0n }), LEASES);
  applyPut(s, putReq('alpha', 'three'), LEASES);
  applyDeleteRange(s, delReq('beta'));
  applyPut(s, putReq('gamma', 'x'.repeat(5000)), LEASES);
  applyPut(s, putReq('neg', 'lease', { lease: -5n }), LEASES);
  s.compact(3);
  applyPut(s, putReq('beta', 'again'), LEASES);
  return s;
}

/** Builds a snapshot from hand-written body bytes, with a valid checksum. */
function withChecksum(body: number[]): Buffer {
  const buf = Buffer.from(body);
  const out = Buffer.alloc(buf.length + 4);
  buf.copy(out);
  out.writeUInt32BE(crc32c(buf), buf.length);
  return out;
}

const HEADER = [0x46, 0x4c, 0x4d, 0x56, 1];

describe('snapshot round trip', () => {
  it('restores every revision, the compact revision and the hashes', () => {
    const s = sample();
    const copy = MvccStore.deserialize(s.serialize());
    expect(copy.currentRevision).toBe(s.currentRevision);
    expect(copy.compactRevision).toBe(3);
    expect(copy.hash()).toBe(s.hash());
    expect(copy.hashKV(0)).toEqual(s.hashKV(0));
    for (let rev = 3; rev <= s.currentRevision; rev++) {
      expect(copy.range(rangeReq('\0', '\0', { revision: rev }))).toEqual(s.range(rangeReq('\0', '\0', { revision: rev })));
    }
    expect(copy.eventsFrom(3)).toEqual(s.eventsFrom(3));
    // The restored store keeps working like the original.
    for (const store of [s, copy]) applyTxn(store, { compare: [], success: [{ type: 'put', put: putReq('alpha', 'four') }], failure: [] }, LEASES, { maxTxnOps: 128 });
    expect(copy.serialize().equals(s.serialize())).toBe(true);
  });

  it('round-trips a fresh store and a never-compacted one', () => {
    const fresh = MvccStore.deserialize(new MvccStore().serialize());
    expect([fresh.currentRevision, fresh.compactMainRevision, fresh.keyCount]).toEqual([1, -1, 0]);
    const s = new MvccStore();
    s.write((t) => t.put(b('k'), b('')));
    const copy = MvccStore.deserialize(s.serialize());
    expect(copy.compactMainRevision).toBe(-1);
    expect(copy.range(rangeReq('k')).kvs[0]!.value.length).toBe(0);
  });

  it('encodes equal stores identically (random histories)', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 30, size: 'max' }), (steps) => {
        const s = new MvccStore();
        for (const step of steps) {
          try {
            if (step.kind === 'put') applyPut(s, step.req, LEASES);
            else if (step.kind === 'delete') applyDeleteRange(s, step.req);
            else if (step.kind === 'txn') applyTxn(s, step.req, LEASES, { maxTxnOps: 128 });
            else if (step.kind === 'compact') s.compact(s.currentRevision - step.back);
          } catch {
            // Rejected requests are part of the history too; they change nothing.
          }
        }
        const bytes = s.serialize();
        const copy = MvccStore.deserialize(bytes);
        expect(copy.serialize().equals(bytes)).toBe(true);
        expect(copy.hash()).toBe(s.hash());
        expect(copy.hash()).toBe(crc32c(bytes.subarray(0, bytes.length - 4)));
      }),
      { numRuns: 150 },
    );
  });
});

describe('snapshot corruption', () => {
  it('detects every flipped byte and every truncation', () => {
    const bytes = sample().serialize();
    for (let i = 0; i < bytes.length; i += i < 200 ? 1 : 97) {
      const bad = Buffer.from(bytes);
      bad[i] = bad[i]! ^ 0x10;
      expect(() => MvccStore.deserialize(bad), `byte ${i}`).toThrow(SnapshotFormatError);
    }
    for (const len of [0, 3, 5, 9, 20, bytes.length - 5, bytes.length - 1]) {
      expect(() => MvccStore.deserialize(bytes.subarray(0, len))).toThrow(SnapshotFormatError);
    }
    expect(() => MvccStore.deserialize(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(SnapshotFormatError);
  });

  it('rejects random garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (arr) => {
        expect(() => MvccStore.deserialize(Buffer.from(arr))).toThrow(SnapshotFormatError);
      }),
      { numRuns: 300 },
    );
  });

  it('names the problem for a wrong version', () => {
    const bytes = Buffer.from(new MvccStore().serialize());
    bytes[4] = 3;
    expect(() => MvccStore.deserialize(bytes)).toThrow('unsupported format version 3');
  });

  it('rejects well-checksummed snapshots whose content is inconsistent', () => {
    // currentRev 3, never compacted, one key "k", then records.
    const start = [...HEADER, 3, 0, 1, 1, 0x6b];
    const put = (delta: number, sub: number, create: number, version: number) => [0, delta, sub, 0, create, version, 0];
    const cases: [number[], RegExp][] = [
      [[...start, 1, ...put(2, 0, 2, 1)], /^$/],
      [[...start, 1, 0, 2, 0, 1], /tombstone of a key that does not exist/],
      [[...start, 2, ...put(2, 0, 2, 1), ...put(1, 0, 2, 1)], /version history inconsistent/],
      [[...start, 2, ...put(2, 0, 2, 1), ...put(0, 0, 2, 2)], /not strictly ascending/],
      [[...start, 1, ...put(4, 0, 4, 1)], /outside/],
      [[...start, 1, ...put(2, 0, 1, 1)], /first retained revision inconsistent/],
      [[...start, 0], /key without revisions/],
      [[...HEADER, 3, 0, 2, 1, 0x6b, 1, 0x6a, 0], /keys not strictly ascending/],
      [[...start, 1, 1, 2, 0, 0, 2, 1, 0], /key index out of range/],
      [[...start, 1, 0, 2, 0, 4, 2, 1, 0], /unknown record flags/],
      // Compacted at 3 yet a tombstone at revision 3 survives.
      [[...HEADER, 3, 4, 1, 1, 0x6b, 2, ...put(2, 0, 2, 1), 0, 1, 0, 1], /older than the compact revision/],
    ];
    for (const [body, message] of cases) {
      const buf = withChecksum(body);
      if (message.source === '^$') expect(MvccStore.deserialize(buf).range(rangeReq('k')).count).toBe(1);
      else expect(() => MvccStore.deserialize(buf)).toThrow(message);
    }
  });
});

describe('snapshot format versions', () => {
  it('writes version 2 (CRC-32) and still reads version 1 (CRC-32C)', () => {
    const v2 = sample().serialize();
    expect(v2[4]).toBe(2);
    expect(v2.readUInt32BE(v2.length - 4)).toBe(crc32(v2.subarray(0, v2.length - 4)));
    const v1 = Buffer.from(v2);
    v1[4] = 1;
    v1.writeUInt32BE(crc32c(v1.subarray(0, v1.length - 4)), v1.length - 4);
    expect(MvccStore.deserialize(v1).range(rangeReq('alpha')).kvs[0]!.value.toString()).toBe('three');
    // A version 1 header with a version 2 checksum is corruption, not a format to guess at.
    const mixed = Buffer.from(v2);
    mixed[4] = 1;
    mixed.writeUInt32BE(crc32(mixed.subarray(0, mixed.length - 4)), mixed.length - 4);
    expect(() => MvccStore.deserialize(mixed)).toThrow('checksum mismatch');
  });
});

describe('snapshot in slices', () => {
  it('encodes the store as it was when called, whatever is written or compacted between slices', () => {
    const s = new MvccStore();
    // Enough records for several slices (a slice is 20 000 keys or records).
    for (let i = 0; i < 30_000; i++) applyPut(s, putReq(`k${i % 25_000}`, `v${i}`), LEASES);
    const expected = s.serialize();
    let n = 0;
    // Meanwhile: new keys, overwrites, deletes and a compaction.
    const meddle = (): void => {
      for (let i = 0; i < 500; i++) applyPut(s, putReq(`k${n++}`, `later${n}`), LEASES);
      applyDeleteRange(s, delReq('k1'));
      s.compact(s.currentRevision - 10);
    };
    const preparing = s.imageInSlices();
    let step = preparing.next();
    let preparePauses = 0;
    for (; !step.done; step = preparing.next()) {
      preparePauses++;
      meddle();
    }
    const sliced = step.value;
    let pauses = 0;
    const chunks: Buffer[] = [];
    for (const slice of sliced.slices) {
      // A slice's chunks are reused once the next one is asked for.
      chunks.push(...slice.map((c) => Buffer.from(c)));
      pauses++;
      meddle();
    }
    const image = Buffer.concat(chunks);
    expect(sliced.length).toBe(image.length);
    expect([preparePauses, pauses].every((p) => p > 1)).toBe(true);
    expect(image.equals(expected)).toBe(true);
    expect(MvccStore.deserialize(image).serialize().equals(expected)).toBe(true);
    expect(s.serialize().equals(expected)).toBe(false);
  });

  it('stays exact when other snapshots of a changed store are taken between its slices', () => {
    const s = new MvccStore();
    for (let i = 0; i < 45_000; i++) applyPut(s, putReq(`k${i}`, `v${i}`), LEASES);
    const expected = s.serialize();
    let n = 0;
    // New keys that sort before most others move every later key's position
    // in the other snapshots' key tables.
    const other = (): void => {
      for (let i = 0; i < 300; i++) applyPut(s, putReq(`a${n++}`, 'x'), LEASES);
      s.serialize();
      runSlices(s.imageInSlices());
    };
    const preparing = s.imageInSlices();
    let step = preparing.next();
    for (; !step.done; step = preparing.next()) other();
    const chunks: Buffer[] = [];
    for (const slice of step.value.slices) {
      chunks.push(...slice.map((c) => Buffer.from(c)));
      other();
    }
    expect(n).toBeGreaterThan(600);
    expect(Buffer.concat(chunks).equals(expected)).toBe(true);
  });

  it('cuts the encoding into slices of about a megabyte, however few the records', () => {
    // 6000 values of 1 KiB: far below the record count per slice, so only
    // the byte bound can keep each slice (a stall of the event loop) short.
    const s = new MvccStore();
    for (let i = 0; i < 6000; i++) applyPut(s, putReq(`k-${i}`, 'v'.repeat(1024)), LEASES);
    const expected = s.serialize();
    const sliced = runSlices(s.imageInSlices());
    const sizes = [...sliced.slices].map((slice) => slice.reduce((n, c) => n + c.length, 0));
    expect(sizes.reduce((a, n) => a + n, 0)).toBe(expected.length);
    // A slice encodes about 1 MiB; it hands out the 1 MiB chunks it completed, so at most two.
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2 << 20);
    expect(sizes.filter((n) => n > 0).length).toBeGreaterThanOrEqual(Math.floor(expected.length / (2 << 20)));
    expect(sizes.length).toBeGreaterThanOrEqual(5);
  });

  it('fills the same few buffers again once each slice is consumed, and the image stays exact', () => {
    const s = new MvccStore();
    for (let i = 0; i < 6000; i++) applyPut(s, putReq(`k-${i}`, `${i}`.padEnd(1024, '.')), LEASES);
    const expected = s.serialize();
    const sliced = runSlices(s.imageInSlices());
    const copies: Buffer[] = [];
    const memory = new Set<ArrayBufferLike>();
    for (const slice of sliced.slices) {
      for (const c of slice) {
        memory.add(c.buffer);
        copies.push(Buffer.from(c));
      }
    }
    expect(Buffer.concat(copies).equals(expected)).toBe(true);
    // About 6 MB went out through at most three buffers of 1 MiB (and the 4-byte checksum),
    // where one fresh buffer per MiB would be six or more.
    expect(expected.length).toBeGreaterThan(5 << 20);
    expect(memory.size).toBeLessThanOrEqual(4);
  });

  it('keeps large values as their own chunks and packs the rest into few large ones', () => {
    const s = new MvccStore();
    let big = 0;
    for (let i = 0; i < 4000; i++) {
      const large = i % 20 === 0;
      if (large) big++;
      applyPut(s, putReq(`key-${i}`, large ? `L${i}`.padEnd(6000, '.') : `small-${i}`.padEnd(400, '-')), LEASES);
    }
    const expected = s.serialize();
    const sliced = runSlices(s.imageInSlices());
    const chunks: Buffer[] = [];
    for (const slice of sliced.slices) chunks.push(...slice.map((c) => Buffer.from(c)));
    expect(Buffer.concat(chunks).equals(expected)).toBe(true);
    expect(sliced.length).toBe(expected.length);
    expect(expected.length).toBeGreaterThan(2 << 20);
    // One chunk per large value, one partial chunk before each, and one per MiB
    // of the rest: not one per few kilobytes.
    expect(chunks.length).toBeLessThanOrEqual(2 * big + Math.ceil(expected.length / (1 << 20)) + 2);
  });
});
