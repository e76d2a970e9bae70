import { describe, expect, it } from 'vitest';
import { MemoryStorage, StorageError } from '../../../etcd/raft/storage.js';
import type { Entry } from '../../../etcd/raft/types.js';
import { id, TestCluster } from './harness.js';

const ent = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: Buffer.from(`${index}`) });

describe('MemoryStorage', () => {
  it('appends, truncates conflicting suffixes, snapshots and compacts', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
    s.append([ent(2, 2)]);
    expect(s.lastIndex()).toBe(2);
    expect(s.term(2)).toBe(2);
    s.append([ent(3, 2), ent(4, 2)]);
    s.setHardState({ term: 2, vote: '', commit: 4 });
    s.createSnapshot(3, { voters: [id(1)], learners: [] }, Buffer.from('img'));
    expect(s.firstIndex()).toBe(1); // createSnapshot alone keeps the log
    s.compact(3);
    expect(s.firstIndex()).toBe(4);
    expect(s.term(3)).toBe(2);
    expect(() => s.term(2)).toThrow(StorageError);
    expect(() => s.entries(3, 5)).toThrow(/ErrCompacted/);
    expect(s.entries(4, 5).map((e) => e.index)).toEqual([4]);
    expect(s.snapshot()).toMatchObject({ index: 3, term: 2 });
    expect(() => s.compact(4)).toThrow(/beyond snapshot/);
  });

  it('refuses to regress the hard state term or change a vote within a term', () => {
    const s = new MemoryStorage();
    s.setHardState({ term: 3, vote: id(1), commit: 0 });
    expect(() => s.setHardState({ term: 2, vote: '', commit: 0 })).toThrow();
    expect(() => s.setHardState({ term: 3, vote: id(2), commit: 0 })).toThrow();
    s.setHardState({ term: 4, vote: id(2), commit: 0 });
  });

  it('limits entries() by size but always returns at least one', () => {
    const s = new MemoryStorage();
    s.append([1, 2, 3, 4].map((i) => ({ index: i, term: 1, type: 'normal' as const, data: new Uint8Array(50) })));
    expect(s.entries(1, 5, 10).length).toBe(1);
    expect(s.entries(1, 5, 140).length).toBe(2);
  });
});

describe('snapshots and InstallSnapshot', () => {
  it('catches up a follower whose next entries were compacted away by sending the snapshot', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.propose(1, 'before');
    c.isolate(3);
    for (let k = 0; k < 20; k++) c.propose(1, `w${k}`);
    c.snapshotAndCompact(1);
    c.sent = [];
    c.heal();
    c.tickAll(5);
    expect(c.sent.some((m) => m.type === 'snap' && m.to === id(3))).toBe(true);
    const n3 = c.node(3);
    expect(n3.storage.snapshot().index).toBeGreaterThan(20);
    expect(n3.values()).toEqual(c.node(1).values());
    // Replication continues normally after the snapshot.
    c.propose(1, 'after');
    c.tickAll(2);
    expect(n3.values()[n3.values().length - 1]).toBe('after');
    expect(c.node(1).r.status().progress?.[id(3)]?.state).toBe('replicate');
  });

  it('restarts from a snapshot plus the log tail', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    for (let k = 0; k < 5; k++) c.propose(1, `a${k}`);
    c.tickAll(2);
    c.snapshotAndCompact(2);
    c.propose(1, 'tail');
    c.tickAll(2);
    const want = c.node(2).values();
    c.crash(2);
    c.restart(2);
    c.tickAll(2);
    expect(c.node(2).values()).toEqual(want);
    expect(c.node(2).r.status().applied).toBe(c.node(1).r.status().applied);
  });

  it('a leader whose snapshot send fails retries after the follower answers again', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (let k = 0; k < 5; k++) c.propose(1, `w${k}`);
    c.snapshotAndCompact(1);
    c.heal();
    let failed = 0;
    c.filter = (m) => {
      if (m.type === 'snap' && failed === 0) {
        failed++;
        c.node(1).r.reportSnapshot(m.to, 'failure');
        return true;
      }
      return false;
    };
    c.tickAll(10);
    expect(failed).toBe(1);
    expect(c.node(3).values()).toEqual(c.node(1).values());
  });
});

describe('MemoryStorage with the snapshot image released', () => {
  it('is temporarily unavailable, asks for the image once per request, and serves it again once restored', () => {
    const st = new MemoryStorage();
    st.append([1, 2, 3].map((index) => ({ term: 1, index, type: 'normal' as const, data: new Uint8Array([index]) })));
    st.setHardState({ term: 1, vote: '', commit: 3 });
    st.createSnapshot(2, { voters: ['a'], learners: [] }, new Uint8Array([7, 7]));
    const wanted: number[] = [];
    st.onSnapshotWanted = (w) => wanted.push(w.index);
    st.releaseSnapshotData(2);
    expect(() => st.snapshot()).toThrow(/ErrSnapshotTemporarilyUnavailable/);
    expect(wanted).toEqual([2]);
    // A stale restore (another index) is ignored.
    st.restoreSnapshotData(1, new Uint8Array([1]));
    expect(() => st.snapshot()).toThrow(/ErrSnapshotTemporarilyUnavailable/);
    st.restoreSnapshotData(2, new Uint8Array([7, 7]));
    expect([...st.snapshot().data]).toEqual([7, 7]);
    expect(st.snapshot().index).toBe(2);
    // A newer snapshot replaces a released one and holds its own image.
    st.releaseSnapshotData(2);
    st.createSnapshot(3, { voters: ['a'], learners: [] }, new Uint8Array([9]));
    expect([...st.snapshot().data]).toEqual([9]);
  });
});
