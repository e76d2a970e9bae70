import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeConfChange, encodeConfChange, type ConfChange } from '../../../etcd/raft/confchange.js';
import { ProposalDroppedError } from '../../../etcd/raft/types.js';
import { id, TestCluster } from './harness.js';

const cc = (type: ConfChange['type'], n: number): ConfChange => ({ type, nodeId: id(n), context: new Uint8Array() });

describe('conf change codec', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<ConfChange['type']>('addNode', 'addLearner', 'removeNode', 'promote'),
        fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }),
        fc.uint8Array({ maxLength: 64 }),
        (type, nid, context) => {
          const c: ConfChange = { type, nodeId: nid.toString(16).padStart(16, '0'), context };
          const back = decodeConfChange(encodeConfChange(c));
          expect(back.type).toBe(type);
          expect(back.nodeId).toBe(c.nodeId);
          expect(Buffer.from(back.context).equals(Buffer.from(context))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects malformed input', () => {
    expect(() => decodeConfChange(new Uint8Array([9, 0]))).toThrow();
    expect(() => encodeConfChange({ type: 'addNode', nodeId: 'nope', context: new Uint8Array() })).toThrow();
  });
});

describe('membership changes', () => {
  it('adds a learner that catches up but neither votes nor counts toward quorum, then promotes it', () => {
    const c = new TestCluster([1, 2, 3], {}, [4]);
    c.elect(1);
    c.propose(1, 'a');
    c.node(1).r.proposeConfChange(cc('addLearner', 4));
    c.stabilize();
    c.tickAll(3);
    expect(c.node(1).conf.learners).toEqual([id(4)]);
    expect(c.node(4).values()).toEqual(['a']);
    expect(c.node(4).conf).toEqual({ voters: [id(1), id(2), id(3)], learners: [id(4)] });
    // Quorum is still 2 of {1,2,3}: with 4 and 3 cut off the leader still commits.
    c.isolate(4);
    c.isolate(3);
    c.propose(1, 'b');
    expect(c.node(1).values()).toEqual(['a', 'b']);
    // A learner never campaigns.
    for (let t = 0; t < 50; t++) c.tick(4);
    c.stabilize();
    expect(c.node(4).r.status().role).toBe('follower');
    c.heal();
    c.tickAll(3);
    c.node(1).r.proposeConfChange(cc('promote', 4));
    c.stabilize();
    c.tickAll(2);
    for (const n of c.nodes.values()) expect(n.conf).toEqual({ voters: [id(1), id(2), id(3), id(4)], learners: [] });
    // Now quorum is 3 of 4: with 3 and 4 cut off nothing commits.
    c.isolate(3);
    c.isolate(4);
    const commit = c.node(1).r.status().commit;
    c.propose(1, 'c');
    expect(c.node(1).r.status().commit).toBe(commit);
  });

  it('adds a voter directly and it can lead', () => {
    const c = new TestCluster([1, 2, 3], {}, [4]);
    c.elect(1);
    c.node(1).r.proposeConfChange(cc('addNode', 4));
    c.stabilize();
    c.tickAll(3);
    expect(c.node(4).conf.voters).toContain(id(4));
    c.node(1).r.transferLeader(id(4));
    c.stabilize();
    expect(c.leader().id).toBe(id(4));
  });

  it('allows one conf change at a time', () => {
    const c = new TestCluster([1, 2, 3], {}, [4, 5]);
    c.elect(1);
    c.isolate(2);
    c.isolate(3); // the first change cannot commit, so it stays pending
    c.node(1).r.proposeConfChange(cc('addLearner', 4));
    expect(() => c.node(1).r.proposeConfChange(cc('addLearner', 5))).toThrow(ProposalDroppedError);
    c.heal();
    c.stabilize();
    c.tickAll(2);
    c.node(1).r.proposeConfChange(cc('addLearner', 5));
    c.stabilize();
    expect(c.node(1).conf.learners).toEqual([id(4), id(5)]);
  });

  it('removes a follower: the rest commit without it', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.node(1).r.proposeConfChange(cc('removeNode', 3));
    c.stabilize();
    expect(c.node(1).conf.voters).toEqual([id(1), id(2)]);
    c.crash(3);
    c.propose(1, 'two');
    expect(c.node(2).values()).toEqual(['two']);
    expect(c.node(1).r.status().progress?.[id(3)]).toBeUndefined();
  });

  it('a removed leader steps down and the remaining voters elect a new one', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.node(1).r.proposeConfChange(cc('removeNode', 1));
    c.stabilize();
    expect(c.node(1).r.status().role).toBe('follower');
    c.tickAll(30);
    const l = c.leader();
    expect([id(2), id(3)]).toContain(l.id);
    expect(l.conf.voters).toEqual([id(2), id(3)]);
    // The removed node never campaigns again.
    for (let t = 0; t < 50; t++) c.tickAll();
    expect(c.leader().id).toBe(l.id);
  });
});
