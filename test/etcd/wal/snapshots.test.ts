import fc from 'fast-check';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotCorruptError } from '../../../etcd/wal/errors.js';
import { decodeSnapshotFile, encodeSnapshotFile, snapshotFileName, SnapshotStore } from '../../../etcd/wal/snapshots.js';
import { snap } from './helpers.js';
import { crc32c } from '../../../etcd/util/crc32c.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'snap-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const data = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + 7) & 0xff);

describe('snapshot file format', () => {
  it('round-trips and detects any single bit flip', () => {
    const meta = { index: 1234, term: 5, confState: { voters: ['0000000000000001'], learners: ['0000000000000009'] } };
    const file = encodeSnapshotFile(meta, data(300, 3));
    const back = decodeSnapshotFile(file);
    expect(back.meta).toEqual(meta);
    expect([...back.data]).toEqual([...data(300, 3)]);
    fc.assert(
      fc.property(fc.nat(file.length - 1), fc.nat(7), (at, bit) => {
        const b = Buffer.from(file);
        b[at]! ^= 1 << bit;
        expect(() => decodeSnapshotFile(b)).toThrow();
      }),
      { numRuns: 300 },
    );
    expect(() => decodeSnapshotFile(file.subarray(0, file.length - 1))).toThrow(/crc mismatch/);
  });
});

describe('snapshot file versions', () => {
  it('reads version 1 files, checksummed with CRC-32C', () => {
    const meta = { index: 7, term: 2, confState: { voters: ['0000000000000001'], learners: [] } };
    const v2 = encodeSnapshotFile(meta, data(500, 9));
    expect(v2.subarray(0, 8).toString('latin1')).toBe('FLSNAP\x00\x02');
    const v1 = Buffer.from(v2);
    v1[7] = 1;
    v1.writeUInt32LE(crc32c(v1, 0, 12), 8);
    expect([...decodeSnapshotFile(v1).data]).toEqual([...data(500, 9)]);
    v1[7] = 3;
    expect(() => decodeSnapshotFile(v1)).toThrow('bad magic');
  });
});

describe('SnapshotStore', () => {
  it('returns undefined when there is no snapshot', async () => {
    expect(await new SnapshotStore(dir).loadNewest()).toBeUndefined();
    expect(await new SnapshotStore(path.join(dir, 'missing')).loadNewest()).toBeUndefined();
  });

  it('saves atomically under a term-index name and loads the newest', async () => {
    const store = new SnapshotStore(dir);
    await store.save(snap(10, 2), data(100, 1));
    await store.save(snap(300, 3), data(50, 2));
    await store.save(snap(25, 2), data(10, 3));
    expect((await readdir(dir)).sort()).toEqual(
      [snapshotFileName(2, 10), snapshotFileName(2, 25), snapshotFileName(3, 300)].sort(),
    );
    expect(snapshotFileName(3, 300)).toBe('0000000000000003-000000000000012c.snap');
    const newest = await store.loadNewest();
    expect(newest?.meta).toEqual(snap(300, 3));
    expect([...newest!.data]).toEqual([...data(50, 2)]);
    expect([...(await store.load({ term: 2, index: 25 })).data]).toEqual([...data(10, 3)]);
  });

  it('writes an image produced slice by slice as it comes, byte for byte the same file', async () => {
    const store = new SnapshotStore(dir);
    const whole = data(70_000, 5);
    const produced: number[] = [];
    // Uneven slices, an empty one among them, parts of every size.
    const cuts = [0, 1, 1, 9000, 30_000, 30_000, 70_000];
    const slices = function* (): Generator<Uint8Array[]> {
      for (let i = 1; i < cuts.length; i++) {
        produced.push(i);
        const from = cuts[i - 1]!;
        const to = cuts[i]!;
        yield from === to ? [] : [whole.subarray(from, from + 1), whole.subarray(from + 1, to)].filter((p) => p.length > 0);
      }
    };
    let pauses = 0;
    await store.save(snap(40, 2), { length: whole.length, slices: { [Symbol.iterator]: slices } }, async () => {
      pauses++;
    });
    expect(produced).toHaveLength(cuts.length - 1);
    expect(pauses).toBeGreaterThanOrEqual(cuts.length - 1);
    const file = await readFile(path.join(dir, snapshotFileName(2, 40)));
    expect(file.equals(encodeSnapshotFile(snap(40, 2), whole))).toBe(true);
  });

  it('refuses an image whose slices do not add up to its stated length, and leaves no file', async () => {
    const store = new SnapshotStore(dir);
    const image = { length: 10, slices: [[data(6, 1)], [data(5, 2)]] };
    await expect(store.save(snap(41, 2), image)).rejects.toThrow('image is 11 bytes, its header says 10');
    expect(await store.loadNewest()).toBeUndefined();
  });

  it('refuses a corrupt newest snapshot instead of falling back to an older one', async () => {
    const store = new SnapshotStore(dir);
    await store.save(snap(10), data(100, 1));
    await store.save(snap(20), data(100, 2));
    const newest = path.join(dir, snapshotFileName(1, 20));
    const b = await readFile(newest);
    b[b.length - 10]! ^= 4;
    await writeFile(newest, b);
    await expect(store.loadNewest()).rejects.toThrow(SnapshotCorruptError);
    await expect(store.loadNewest()).rejects.toThrow(new RegExp(`${snapshotFileName(1, 20)} is corrupt \\(crc mismatch`));
    await writeFile(newest, b.subarray(0, 40)); // truncated
    await expect(store.loadNewest()).rejects.toThrow(SnapshotCorruptError);
  });

  it('refuses a snapshot whose name does not match its contents', async () => {
    const store = new SnapshotStore(dir);
    await store.save(snap(10), data(10, 1));
    await rename(path.join(dir, snapshotFileName(1, 10)), path.join(dir, snapshotFileName(1, 11)));
    await expect(store.loadNewest()).rejects.toThrow(/contains term 1 index 10, not what its name says/);
  });

  it('ignores interrupted saves and purges old snapshots and temp files', async () => {
    const store = new SnapshotStore(dir);
    for (const i of [5, 10, 15, 20]) await store.save(snap(i), data(8, i));
    await writeFile(path.join(dir, `${snapshotFileName(1, 25)}.tmp`), 'partial');
    expect((await store.loadNewest())?.meta.index).toBe(20);
    const removed = await store.purge(2);
    expect(removed.sort()).toEqual([snapshotFileName(1, 5), snapshotFileName(1, 10), `${snapshotFileName(1, 25)}.tmp`].sort());
    expect((await store.list()).map((f) => f.index)).toEqual([15, 20]);
    await expect(store.purge(0)).rejects.toThrow(RangeError);
  });
});
