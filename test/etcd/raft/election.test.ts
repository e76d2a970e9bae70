import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../../etcd/raft/storage.js';
import { RawNode } from '../../../etcd/raft/node.js';
import { bootstrapStorage } from '../../../etcd/raft/bootstrap.js';
import { seededRandom } from '../../../etcd/raft/prng.js';
import { decodeConfChange } from '../../../etcd/raft/confchange.js';
import { id, TestCluster } from './harness.js';

describe('leader election', () => {
  it('elects exactly one leader by timeout, and the leader commits an entry of its term', () => {
    const c = new TestCluster([1, 2, 3]);
    for (let t = 0; t < 50 && c.leaders().length === 0; t++) c.tickAll();
    const leader = c.leader();
    const st = leader.r.status();
    expect(st.term).toBeGreaterThanOrEqual(2);
    for (const n of c.nodes.values()) {
      expect(n.r.status().term).toBe(st.term);
      expect(n.r.status().lead).toBe(leader.id);
    }
    // The empty entry appended on election commits and is applied everywhere.
    const last = leader.applied[leader.applied.length - 1]!;
    expect(last.term).toBe(st.term);
    expect(last.data.byteLength).toBe(0);
    for (const n of c.nodes.values()) expect(n.appliedIndex).toBe(last.index);
  });

  it('randomizes the election timeout within [electionTick, 2*electionTick)', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const s = new MemoryStorage();
      bootstrapStorage(s, [id(1), id(2), id(3)]);
      const n = new RawNode({ id: id(1), storage: s, electionTick: 10, preVote: false, random: seededRandom(seed) });
      // Apply the bootstrap conf entries so the node knows it is a voter.
      const rd = n.ready();
      s.setHardState(rd.hardState ?? s.hardState());
      for (const e of rd.committedEntries) n.applyConfChange(decodeConfChange(e.data));
      n.advance(rd);
      let ticks = 0;
      while (n.status().role === 'follower') {
        n.tick();
        ticks++;
        expect(ticks).toBeLessThan(20);
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      seen.add(ticks);
    }
    expect(seen.size).toBeGreaterThan(3);
  });

  it('a vote is never granted to a candidate with a less up-to-date log', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    c.propose(1, 'x');
    c.heal();
    // Node 3 missed 'x': its election must fail, and node 1 or 2 stays/gets elected instead.
    c.node(3).r.campaign();
    c.stabilize();
    expect(c.node(3).r.status().role).not.toBe('leader');
  });

  it('pre-vote: a partitioned node that rejoins does not disrupt the leader or bump terms', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const term = c.node(1).r.status().term;
    c.isolate(3);
    for (let t = 0; t < 100; t++) {
      c.tick(3);
      c.tickAll();
    }
    expect(c.node(3).r.status().term).toBe(term); // pre-votes failed, so no term increase
    expect(c.node(3).r.status().role).toBe('preCandidate');
    c.heal();
    c.tickAll(5);
    expect(c.leader().id).toBe(id(1));
    expect(c.node(1).r.status().term).toBe(term);
    expect(c.node(3).r.status().lead).toBe(id(1));
  });

  it('without pre-vote the same partitioned node inflates its term and forces a new election', () => {
    const c = new TestCluster([1, 2, 3], { preVote: false, checkQuorum: false });
    c.elect(1);
    const term = c.node(1).r.status().term;
    c.isolate(3);
    for (let t = 0; t < 100; t++) c.tickAll();
    expect(c.node(3).r.status().term).toBeGreaterThan(term + 2);
    c.heal();
    c.tickAll(40);
    expect(c.leader().r.status().term).toBeGreaterThan(term);
  });

  it('check-quorum: a leader cut off from the quorum steps down within two election timeouts', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(1);
    for (let t = 0; t < 20; t++) c.tickAll();
    expect(c.node(1).r.status().role).toBe('follower');
    expect(c.node(1).r.status().lead).toBe('');
    // Meanwhile the majority elected someone else.
    c.tickAll(30);
    expect(c.leaders().map((n) => n.id)).not.toContain(id(1));
    expect(c.leaders().length).toBe(1);
  });

  it('leader lease: followers that recently heard from the leader ignore vote requests', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const term = c.node(1).r.status().term;
    // Node 3 campaigns without pre-vote style politeness (forced MsgVote at a higher term).
    c.node(2).r.step({ type: 'vote', from: id(3), to: id(2), term: term + 5, index: 100, logTerm: 100, force: false });
    c.stabilize();
    expect(c.node(2).r.status().term).toBe(term);
    expect(c.node(2).r.status().lead).toBe(id(1));
  });

  it('a crashed node restarts with its persisted term, vote and log', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(2);
    c.propose(2, 'a');
    const before = c.node(3).r.status();
    c.crash(3);
    c.restart(3);
    const after = c.node(3).r.status();
    expect(after.term).toBe(before.term);
    expect(after.vote).toBe(before.vote);
    expect(after.commit).toBe(before.commit);
    expect(c.node(3).r.raft.log.lastIndex()).toBe(c.node(2).r.raft.log.lastIndex());
    c.tickAll(3);
    c.propose(2, 'b');
    expect(c.node(3).values()).toEqual(['a', 'b']);
  });

  it('a single-node cluster elects itself and commits alone', () => {
    const c = new TestCluster([1]);
    c.tickAll(25);
    expect(c.leader().id).toBe(id(1));
    c.propose(1, 'solo');
    expect(c.node(1).values()).toEqual(['solo']);
  });
});
