import fc from 'fast-check';
import { cp, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WalCorruptError } from '../../../etcd/wal/errors.js';
import type { Entry, HardState } from '../../../etcd/wal/records.js';
import { Wal, type WalLogger } from '../../../etcd/wal/wal.js';
import { entries, entry, plain, snap } from './helpers.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'wal-test-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function collectLogs(): { logger: WalLogger; lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  return { logger: (level, message) => lines.push({ level, message }), lines };
}

const hs = (term: number, commit: number, vote = ''): HardState => ({ term, vote, commit });

describe('Wal', () => {
  it('creates the directory and a first segment; an empty WAL reopens empty', async () => {
    const dir = path.join(root, 'a', 'wal');
    expect(await Wal.exists(dir)).toBe(false);
    const { wal, recovered } = await Wal.open(dir);
    expect(recovered).toEqual({ hardState: hs(0, 0), entries: [] });
    expect(await readdir(dir)).toEqual(['0000000000000000-0000000000000001.wal']);
    expect(await Wal.exists(dir)).toBe(true);
    await wal.close();
    const again = await Wal.open(dir);
    expect(again.recovered).toEqual({ hardState: hs(0, 0), entries: [] });
    await again.wal.close();
  });

  it('round-trips metadata, entries, hard state and snapshot markers', async () => {
    const { wal } = await Wal.open(root);
    wal.setMetadata(Buffer.from('cluster-id:abc'));
    expect(() => wal.setMetadata(Buffer.from('again'))).toThrow(/already set/);
    await wal.saveAndSync(hs(1, 0, '0000000000000001'), entries(1, 5));
    wal.save(hs(2, 5, '0000000000000002'), entries(6, 9, 2));
    wal.saveSnapshot(snap(3));
    await wal.sync();
    await wal.close();
    const { wal: w2, recovered } = await Wal.open(root);
    expect(Buffer.from(recovered.metadata!).toString()).toBe('cluster-id:abc');
    expect(recovered.hardState).toEqual(hs(2, 5, '0000000000000002'));
    expect(recovered.snapshot).toEqual(snap(3));
    expect(plain(recovered.entries)).toEqual(plain([...entries(4, 5), ...entries(6, 9, 2)]));
    expect(w2.lastIndex).toBe(9);
    expect(() => w2.setMetadata(Buffer.from('x'))).toThrow(/already set/);
    await w2.close();
  });

  it('validates entry indexes: no gaps, consecutive, truncation allowed', async () => {
    const { wal } = await Wal.open(root);
    expect(() => wal.save(undefined, [entry(2)])).toThrow(/gap/);
    expect(() => wal.save(undefined, [entry(1), entry(3)])).toThrow(/consecutive/);
    wal.save(undefined, entries(1, 4));
    wal.save(undefined, entries(3, 3, 2)); // truncation
    expect(wal.lastIndex).toBe(3);
    await wal.close();
    const { wal: w2, recovered } = await Wal.open(root);
    expect(recovered.entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 1], [3, 2]]);
    await w2.close();
  });

  it('group commit: one fdatasync per batch, concurrent syncs coalesce', async () => {
    const { wal } = await Wal.open(root);
    await wal.sync(); // nothing buffered: no fsync
    expect(wal.stats.syncs).toBe(0);
    wal.save(hs(1, 0), [entry(1)]);
    const p1 = wal.sync();
    wal.save(undefined, [entry(2)]);
    const p2 = wal.sync();
    wal.save(undefined, [entry(3)]);
    const p3 = wal.sync();
    expect(p3).toBe(p2);
    await Promise.all([p1, p2, p3]);
    expect(wal.stats.syncs).toBe(2);

    // Many writers each awaiting their own entry: far fewer fsyncs than writers.
    const acks: number[] = [];
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        wal.save(undefined, [entry(4 + i)]);
        await wal.sync();
        acks.push(4 + i);
      }),
    );
    expect(acks.length).toBe(50);
    expect(wal.stats.syncs).toBeLessThanOrEqual(4);
    await wal.close();
    const { wal: w2, recovered } = await Wal.open(root);
    expect(recovered.entries.map((e) => e.index)).toEqual(Array.from({ length: 53 }, (_, i) => i + 1));
    await w2.close();
  });

  it('a sync issued while one is in flight with nothing new waits for the in-flight one', async () => {
    const { wal } = await Wal.open(root);
    wal.save(undefined, [entry(1)]);
    const p1 = wal.sync();
    const p2 = wal.sync();
    await p2;
    await p1;
    expect(wal.stats.syncs).toBe(1);
    await wal.close();
  });

  it('rolls segments past segmentBytes and names them by sequence and first index', async () => {
    const { wal } = await Wal.open(root, { segmentBytes: 512 });
    wal.setMetadata(Buffer.from('meta'));
    for (let i = 1; i <= 60; i += 3) await wal.saveAndSync(hs(1, i - 1), entries(i, i + 2));
    const names = wal.segmentFiles();
    expect(names.length).toBeGreaterThan(3);
    expect((await readdir(root)).sort()).toEqual(names);
    names.forEach((n, seq) => expect(n.startsWith(seq.toString(16).padStart(16, '0'))).toBe(true));
    const firsts = names.map((n) => Number.parseInt(n.slice(17, 33), 16));
    expect(firsts[0]).toBe(1);
    for (let k = 1; k < firsts.length; k++) expect((firsts[k]! - 1) % 3).toBe(0); // cut after whole batches
    for (const n of names.slice(0, -1)) expect((await stat(path.join(root, n))).size).toBeGreaterThanOrEqual(512);
    await wal.close();
    const { wal: w2, recovered } = await Wal.open(root, { segmentBytes: 512 });
    expect(plain(recovered.entries)).toEqual(plain(entries(1, 60)));
    expect(recovered.hardState).toEqual(hs(1, 57));
    expect(w2.segmentFiles()).toEqual(names);
    await w2.close();
  });

  it('releaseTo deletes segments before the one holding the snapshot index; restart still recovers', async () => {
    const { wal } = await Wal.open(root, { segmentBytes: 400 });
    wal.setMetadata(Buffer.from('meta'));
    for (let i = 1; i <= 80; i += 2) await wal.saveAndSync(hs(3, i + 1, '00000000000000ff'), entries(i, i + 1, 3));
    await expect(wal.releaseTo(50)).rejects.toThrow(/snapshot marker/);
    const before = wal.segmentFiles();
    wal.saveSnapshot(snap(50, 3));
    await wal.sync();
    await wal.releaseTo(50);
    const after = wal.segmentFiles();
    expect(after.length).toBeLessThan(before.length);
    const firsts = after.map((n) => Number.parseInt(n.slice(17, 33), 16));
    expect(firsts[0]).toBeLessThanOrEqual(50);
    expect(firsts[1] ?? Infinity).toBeGreaterThan(50);
    expect(before.slice(before.length - after.length)).toEqual(after);
    expect((await readdir(root)).sort()).toEqual(after);
    await wal.saveAndSync(undefined, entries(81, 82, 3));
    await wal.close();
    const { wal: w2, recovered } = await Wal.open(root, { segmentBytes: 400 });
    expect(recovered.snapshot).toEqual(snap(50, 3));
    expect(plain(recovered.entries)).toEqual(plain(entries(51, 82, 3)));
    expect(Buffer.from(recovered.metadata!).toString()).toBe('meta');
    expect(recovered.hardState).toEqual(hs(3, 80, '00000000000000ff'));
    await w2.close();
  });

  it('keeps metadata and hard state when every segment that first wrote them is released', async () => {
    const { wal } = await Wal.open(root, { segmentBytes: 256 });
    wal.setMetadata(Buffer.from('ids'));
    await wal.saveAndSync(hs(7, 1, 'abcdef0123456789'), [entry(1, 7)]);
    for (let i = 2; i <= 40; i++) await wal.saveAndSync(undefined, [entry(i, 7)]);
    wal.saveSnapshot(snap(40, 7));
    await wal.saveAndSync(undefined, [entry(41, 7)]);
    await wal.releaseTo(40);
    await wal.close();
    const { wal: w2, recovered } = await Wal.open(root, { segmentBytes: 256 });
    expect(Buffer.from(recovered.metadata!).toString()).toBe('ids');
    expect(recovered.hardState).toEqual(hs(7, 1, 'abcdef0123456789'));
    expect(recovered.entries.map((e) => e.index)).toEqual([41]);
    await w2.close();
  });

  it('repairs a torn tail cut at every byte offset of the last record, then keeps appending', async () => {
    const src = path.join(root, 'src');
    const { wal } = await Wal.open(src);
    for (let i = 1; i <= 6; i++) await wal.saveAndSync(hs(1, i - 1), [entry(i)]);
    const name = wal.segmentFiles()[0]!;
    const start = (await stat(path.join(src, name))).size;
    await wal.saveAndSync(undefined, [entry(7, 1, 20)]);
    const end = (await stat(path.join(src, name))).size;
    await wal.close();
    expect(end - start).toBeGreaterThan(16);
    for (let cut = start; cut < end; cut++) {
      const dir = path.join(root, `cut-${cut}`);
      await cp(src, dir, { recursive: true });
      await truncate(path.join(dir, name), cut);
      const { logger, lines } = collectLogs();
      const { wal: w, recovered } = await Wal.open(dir, { logger });
      expect(plain(recovered.entries)).toEqual(plain(entries(1, 6)));
      expect(recovered.hardState).toEqual(hs(1, 5));
      expect((await stat(path.join(dir, name))).size).toBe(start);
      if (cut > start) expect(lines).toEqual([{ level: 'warn', message: expect.stringContaining(`truncating at offset ${start}`) }]);
      else expect(lines).toEqual([]);
      await w.saveAndSync(undefined, [entry(7, 2)]);
      await w.close();
      const { wal: w3, recovered: r3 } = await Wal.open(dir, { logger });
      expect(r3.entries.map((e) => [e.index, e.term]).at(-1)).toEqual([7, 2]);
      await w3.close();
      await rm(dir, { recursive: true });
    }
  });

  it('repairs a zero-filled tail', async () => {
    const { wal } = await Wal.open(root);
    await wal.saveAndSync(undefined, entries(1, 3));
    const name = wal.segmentFiles()[0]!;
    await wal.close();
    const file = path.join(root, name);
    const size = (await stat(file)).size;
    await writeFile(file, Buffer.alloc(8192), { flag: 'a' });
    const { logger, lines } = collectLogs();
    const { wal: w, recovered } = await Wal.open(root, { logger });
    expect(recovered.entries.length).toBe(3);
    expect(lines[0]?.message).toMatch(/zero-filled/);
    expect((await stat(file)).size).toBe(size);
    await w.close();
  });

  it('refuses to open a WAL corrupted in the middle, naming file and offset', async () => {
    // Middle of the last (only) segment: later batches follow the damaged one.
    const one = path.join(root, 'one');
    const { wal } = await Wal.open(one);
    for (let i = 1; i <= 10; i++) await wal.saveAndSync(undefined, [entry(i)]);
    const [name] = wal.segmentFiles();
    await wal.close();
    const file = path.join(one, name!);
    const buf = await readFile(file);
    buf[40]! ^= 0x10; // inside entry 1, just after the 32-byte segment header
    await writeFile(file, buf);
    await expect(Wal.open(one)).rejects.toThrow(WalCorruptError);
    await expect(Wal.open(one)).rejects.toThrow(new RegExp(`${name} at offset 32: crc mismatch in entry record`));
    expect((await readFile(file)).equals(buf)).toBe(true); // nothing was "repaired"

    // The tail of a segment that is not the last one.
    const many = path.join(root, 'many');
    const { wal: w2 } = await Wal.open(many, { segmentBytes: 300 });
    for (let i = 1; i <= 30; i++) await w2.saveAndSync(undefined, [entry(i)]);
    const names = w2.segmentFiles();
    await w2.close();
    expect(names.length).toBeGreaterThan(2);
    const firstFile = path.join(many, names[0]!);
    const b0 = await readFile(firstFile);
    b0[b0.length - 5]! ^= 1;
    await writeFile(firstFile, b0);
    await expect(Wal.open(many)).rejects.toThrow(new RegExp(`${names[0]} at offset \\d+: .*not the last segment`));
  });

  it('refuses a missing segment in the sequence', async () => {
    const { wal } = await Wal.open(root, { segmentBytes: 200 });
    for (let i = 1; i <= 20; i++) await wal.saveAndSync(undefined, [entry(i)]);
    const names = wal.segmentFiles();
    await wal.close();
    expect(names.length).toBeGreaterThan(2);
    await rm(path.join(root, names[1]!));
    await expect(Wal.open(root)).rejects.toThrow(/missing segment 1/);
  });

  it('removes an interrupted segment creation', async () => {
    const { wal } = await Wal.open(root);
    await wal.saveAndSync(undefined, entries(1, 2));
    await wal.close();
    await writeFile(path.join(root, '0000000000000001-0000000000000003.wal.tmp'), Buffer.alloc(10, 1));
    const { wal: w, recovered } = await Wal.open(root, { logger: () => undefined });
    expect(recovered.entries.length).toBe(2);
    expect(await readdir(root)).toEqual(['0000000000000000-0000000000000001.wal']);
    await w.close();
  });

  it('matches a model log under random appends, truncations, snapshots, releases and restarts', async () => {
    type Op =
      | { t: 'append'; n: number; back: number; term: number }
      | { t: 'hs'; commitBack: number }
      | { t: 'snap'; back: number }
      | { t: 'sync' }
      | { t: 'reopen' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ t: fc.constant('append' as const), n: fc.integer({ min: 1, max: 10 }), back: fc.nat(3), term: fc.nat(2) }) },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('hs' as const), commitBack: fc.nat(3) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('snap' as const), back: fc.nat(20) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('sync' as const) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('reopen' as const) }) },
    );
    let run = 0;
    let released = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 60 }), fc.integer({ min: 100, max: 500 }), async (ops, segmentBytes) => {
        const dir = path.join(root, `model-${run++}`);
        const opts = { segmentBytes, logger: () => undefined };
        let { wal } = await Wal.open(dir, opts);
        let log: Entry[] = []; // model: entries after the snapshot
        let snapIndex = 0;
        let term = 1;
        let commit = 0;
        let hard = hs(0, 0);
        const lastIndex = () => (log.length ? log[log.length - 1]!.index : snapIndex);
        try {
          for (const o of ops) {
            if (o.t === 'append') {
              term += o.term;
              // Only uncommitted entries may be overwritten.
              const from = Math.max(commit, lastIndex() - o.back) + 1;
              const es = Array.from({ length: o.n }, (_, k) => entry(from + k, term, (from + k + term) % 9));
              wal.save(undefined, es);
              log = [...log.filter((e) => e.index < from), ...es];
            } else if (o.t === 'hs') {
              commit = Math.max(commit, lastIndex() - o.commitBack);
              hard = hs(term, commit, term % 2 ? '0000000000000001' : '');
              wal.save(hard, []);
            } else if (o.t === 'snap') {
              if (commit <= snapIndex) continue;
              const at = commit - (o.back % (commit - snapIndex));
              const e = log.find((x) => x.index === at)!;
              wal.saveSnapshot(snap(at, e.term));
              await wal.sync();
              const segmentsBefore = wal.segmentFiles().length;
              await wal.releaseTo(at);
              released += wal.segmentFiles().length < segmentsBefore ? 1 : 0;
              log = log.filter((x) => x.index > at);
              snapIndex = at;
            } else if (o.t === 'sync') {
              await wal.sync();
            } else {
              await wal.close();
              const r = await Wal.open(dir, opts);
              wal = r.wal;
              expect(plain(r.recovered.entries)).toEqual(plain(log));
              expect(r.recovered.snapshot?.index ?? 0).toBe(snapIndex);
            }
          }
          await wal.close();
          const r = await Wal.open(dir, opts);
          wal = r.wal;
          expect(plain(r.recovered.entries)).toEqual(plain(log));
          expect(r.recovered.hardState).toEqual(hard);
          expect(r.recovered.snapshot?.index ?? 0).toBe(snapIndex);
        } finally {
          await wal.close();
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 25 },
    );
    expect(released).toBeGreaterThan(10); // the generator really exercises releases
  });
});
