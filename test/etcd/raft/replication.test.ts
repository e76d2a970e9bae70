import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../../etcd/raft/storage.js';
import { RawNode } from '../../../etcd/raft/node.js';
import { seededRandom } from '../../../etcd/raft/prng.js';
import { bootstrapStorage } from '../../../etcd/raft/bootstrap.js';
import { decodeConfChange } from '../../../etcd/raft/confchange.js';
import { ProposalDroppedError, type Message, type MsgApp } from '../../../etcd/raft/types.js';
import { id, TestCluster } from './harness.js';

const apps = (ms: Message[]) => ms.filter((m): m is MsgApp => m.type === 'app');

describe('log replication', () => {
  it('replicates proposals to every node in order', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    for (let k = 0; k < 10; k++) c.propose(1, `v${k}`);
    c.tickAll(2);
    const want = Array.from({ length: 10 }, (_, k) => `v${k}`);
    for (const n of c.nodes.values()) expect(n.values()).toEqual(want);
  });

  it('forwards proposals made on a follower to the leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.propose(3, 'from-follower');
    c.tickAll(2);
    for (const n of c.nodes.values()) expect(n.values()).toEqual(['from-follower']);
    expect(c.sent.some((m) => m.type === 'prop' && m.from === id(3) && m.to === id(1))).toBe(true);
  });

  it('drops proposals with ErrProposalDropped when there is no leader', () => {
    const c = new TestCluster([1, 2, 3]);
    expect(() => c.node(2).r.propose(Buffer.from('x'))).toThrow(ProposalDroppedError);
    try {
      c.node(2).r.propose(Buffer.from('x'));
    } catch (e) {
      expect((e as ProposalDroppedError).code).toBe('ErrProposalDropped');
      expect((e as ProposalDroppedError).reason).toBe('no leader');
    }
  });

  it('does not commit without a majority', () => {
    const c = new TestCluster([1, 2, 3, 4, 5]);
    c.elect(1);
    const commit = c.node(1).r.status().commit;
    c.isolate(3);
    c.isolate(4);
    c.isolate(5);
    c.propose(1, 'minority');
    expect(c.node(1).r.status().commit).toBe(commit);
    expect(c.node(1).values()).toEqual([]);
    c.heal();
    c.tickAll(2);
    for (const n of c.nodes.values()) expect(n.values()).toEqual(['minority']);
  });

  it('commits an entry of an earlier term only through an entry of the current term (Raft §5.4.2)', () => {
    // Node 1 holds an uncommitted term-2 entry at index 4 and becomes leader of term 3.
    const s = new MemoryStorage();
    bootstrapStorage(s, [id(1), id(2), id(3)]);
    s.append([{ term: 2, index: 4, type: 'normal', data: Buffer.from('old') }]);
    s.setHardState({ term: 2, vote: '', commit: 3 });
    const n = new RawNode({ id: id(1), storage: s, random: seededRandom(3) });
    const flush = () => {
      while (n.hasReady()) {
        const rd = n.ready();
        s.append(rd.entries);
        if (rd.hardState) s.setHardState(rd.hardState);
        for (const e of rd.committedEntries) if (e.type === 'conf') n.applyConfChange(decodeConfChange(e.data));
        n.advance(rd);
      }
    };
    flush();
    n.campaign();
    flush();
    n.step({ type: 'preVoteResp', from: id(2), to: id(1), term: 3, reject: false });
    flush();
    n.step({ type: 'voteResp', from: id(2), to: id(1), term: 3, reject: false });
    flush();
    expect(n.status()).toMatchObject({ role: 'leader', term: 3, commit: 3 });
    // A majority (1 and 2) now holds the term-2 entry, but it must not be committed by counting replicas.
    n.step({ type: 'appResp', from: id(2), to: id(1), term: 3, index: 4, reject: false, rejectHint: 0, logTerm: 0 });
    flush();
    expect(n.status().commit).toBe(3);
    n.step({ type: 'appResp', from: id(2), to: id(1), term: 3, index: 5, reject: false, rejectHint: 0, logTerm: 0 });
    flush();
    expect(n.status().commit).toBe(5);
  });

  it('batches entries into appends bounded by maxSizePerMsg', () => {
    const c = new TestCluster([1, 2, 3], { maxSizePerMsg: 100 });
    c.elect(1);
    c.isolate(2);
    for (let k = 0; k < 30; k++) c.node(1).r.propose(Buffer.alloc(20, k));
    c.stabilize();
    c.sent = [];
    c.heal();
    c.tickAll(3);
    const toTwo = apps(c.sent).filter((m) => m.to === id(2) && m.entries.length > 0);
    expect(toTwo.length).toBeGreaterThan(1);
    for (const m of toTwo) {
      const size = m.entries.reduce((a, e) => a + e.data.byteLength + 16, 0);
      if (m.entries.length > 1) expect(size).toBeLessThanOrEqual(100);
    }
    expect(Math.max(...toTwo.map((m) => m.entries.length))).toBeGreaterThan(1);
    expect(c.node(2).values().length).toBe(30);
  });

  it('bounds in-flight appends per follower (maxInflightMsgs) while unacknowledged', () => {
    const c = new TestCluster([1, 2, 3], { maxInflightMsgs: 3 });
    c.elect(1);
    c.tickAll(2);
    // Responses from 2 are lost: the leader may not send more than 3 appends with entries.
    c.filter = (m) => m.type === 'appResp' && m.from === id(2);
    c.sent = [];
    for (let k = 0; k < 10; k++) c.propose(1, `e${k}`);
    const toTwo = apps(c.sent).filter((m) => m.to === id(2) && m.entries.length > 0);
    expect(toTwo.length).toBe(3);
    expect(c.node(1).r.status().progress?.[id(2)]?.state).toBe('replicate');
    // Node 3 still acknowledges, so everything commits.
    expect(c.node(1).values().length).toBe(10);
    c.filter = undefined;
    c.tickAll(3);
    expect(c.node(2).values().length).toBe(10);
  });

  it('repairs a divergent follower log, backtracking a whole term per round trip', () => {
    const c = new TestCluster([1, 2, 3], { maxSizePerMsg: 1 });
    c.elect(1);
    c.propose(1, 'base');
    // Old leader 1 appends 20 entries nobody else sees.
    c.isolate(1);
    for (let k = 0; k < 20; k++) c.node(1).r.propose(Buffer.from(`lost${k}`));
    c.stabilize();
    // The majority elects a new leader and writes its own history.
    for (let t = 0; t < 100 && !c.leaders().some((n) => n.id !== id(1)); t++) c.tickAll();
    const l = c.leaders().find((n) => n.id !== id(1))!;
    const li = parseInt(l.id, 16);
    for (let k = 0; k < 5; k++) c.propose(li, `kept${k}`);
    // A further leader change makes the next leader probe past node 1's matching point.
    const other = li === 2 ? 3 : 2;
    c.node(li).r.transferLeader(id(other));
    c.stabilize();
    expect(c.leaders().map((n) => n.id)).toContain(id(other));
    c.sent = [];
    c.heal();
    c.tickAll(25);
    const want = ['base', 'kept0', 'kept1', 'kept2', 'kept3', 'kept4'];
    for (const n of c.nodes.values()) expect(n.values()).toEqual(want);
    expect(c.node(1).r.raft.log.lastIndex()).toBe(c.node(other).r.raft.log.lastIndex());
    const rejects = c.sent.filter((m) => m.type === 'appResp' && m.reject && m.from === id(1));
    // One rejection skips all 20 conflicting term entries at once (no per-entry walk back).
    expect(rejects.length).toBeGreaterThan(0);
    expect(rejects.length).toBeLessThanOrEqual(2);
  });

  it('persists before acknowledging: an append response follows the durable write of its entries', () => {
    const s = new MemoryStorage();
    s.append([{ term: 1, index: 1, type: 'normal', data: new Uint8Array() }]);
    s.setHardState({ term: 1, vote: '', commit: 1 });
    const n = new RawNode({ id: id(2), storage: s, random: seededRandom(1) });
    n.step({ type: 'app', from: id(1), to: id(2), term: 2, index: 1, logTerm: 1, commit: 1, entries: [{ term: 2, index: 2, type: 'normal', data: Buffer.from('x') }] });
    const rd = n.ready();
    // The ack and the entries it acknowledges come in the same Ready: the contract sends it after persisting them.
    expect(rd.entries.map((e) => e.index)).toEqual([2]);
    expect(rd.mustSync).toBe(true);
    expect(rd.hardState?.term).toBe(2);
    const ack = rd.messages.find((m) => m.type === 'appResp');
    expect(ack).toMatchObject({ index: 2, reject: false });
  });
});
