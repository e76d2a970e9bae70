import { describe, expect, it } from 'vitest';
import { SingleMemberLog, type LogPersistence } from '../../../etcd/server/log.js';
import type { Entry, HardState } from '../../../etcd/raft/types.js';

class MemoryPersistence implements LogPersistence {
  saved: Entry[] = [];
  durable: Entry[] = [];
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  syncs = 0;
  save(hs: HardState, entries: Entry[]): void {
    this.saved.push(...entries);
    this.hardState = hs;
  }
  async sync(): Promise<void> {
    this.syncs++;
    await new Promise((r) => setTimeout(r, 5));
    this.durable = [...this.saved];
  }
}

const data = (s: string) => Buffer.from(s);

describe('SingleMemberLog', () => {
  it('bootstraps, commits a new term entry, then applies proposals in order after they are durable', async () => {
    const p = new MemoryPersistence();
    const log = new SingleMemberLog({
      memberId: 1n,
      persistence: p,
      recovered: { hardState: { term: 0, vote: '', commit: 0 }, entries: [] },
      snapshotIndex: 0,
      snapshotTerm: 0,
      bootstrap: [{ type: 'conf', data: data('boot') }],
      onFatal: (err) => {
        throw err;
      },
    });
    const applied: Entry[] = [];
    await log.start((es) => {
      for (const e of es) expect(p.durable.some((d) => d.index === e.index)).toBe(true);
      applied.push(...es);
    });
    expect(applied.map((e) => [e.index, e.term, e.type])).toEqual([
      [1, 1, 'conf'],
      [2, 2, 'normal'],
    ]);
    const syncsBefore = p.syncs;
    for (let i = 0; i < 50; i++) log.propose(data(`p${i}`));
    await log.flush();
    expect(applied.slice(2).map((e) => Buffer.from(e.data).toString())).toEqual([...Array(50).keys()].map((i) => `p${i}`));
    expect(applied.at(-1)?.index).toBe(52);
    // Group commit: 50 proposals made in one tick share a sync.
    expect(p.syncs - syncsBefore).toBeLessThanOrEqual(2);
    expect(log.status()).toMatchObject({ term: 2, leader: 1n, commitIndex: 52, lastIndex: 52 });
    expect(p.hardState.commit).toBe(52);
    expect(await log.readIndex()).toBe(52);
    await log.close();
    expect(() => log.propose(data('late'))).toThrow(/dropped/);
  });

  it('replays recovered entries past the snapshot and starts a new term', async () => {
    const p = new MemoryPersistence();
    const entries: Entry[] = [3, 4, 5].map((index) => ({ index, term: 2, type: 'normal', data: data(`e${index}`) }));
    const log = new SingleMemberLog({
      memberId: 1n,
      persistence: p,
      recovered: { hardState: { term: 2, vote: '0000000000000001', commit: 4 }, entries },
      snapshotIndex: 2,
      snapshotTerm: 2,
      onFatal: () => undefined,
    });
    const applied: number[] = [];
    await log.start((es) => applied.push(...es.map((e) => e.index)));
    expect(applied).toEqual([3, 4, 5, 6]);
    expect(log.status().term).toBe(3);
  });

  it('stops and reports when persistence fails', async () => {
    const p = new MemoryPersistence();
    let fatal: unknown;
    const log = new SingleMemberLog({
      memberId: 1n,
      persistence: p,
      recovered: { hardState: { term: 1, vote: '', commit: 1 }, entries: [{ index: 1, term: 1, type: 'normal', data: data('x') }] },
      snapshotIndex: 0,
      snapshotTerm: 0,
      onFatal: (err) => {
        fatal = err;
      },
    });
    await log.start(() => undefined);
    p.sync = () => Promise.reject(new Error('EIO'));
    log.propose(data('y'));
    await log.flush();
    expect(String(fatal)).toContain('EIO');
    expect(() => log.propose(data('z'))).toThrow(/dropped/);
  });
});
