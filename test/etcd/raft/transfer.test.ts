import { describe, expect, it } from 'vitest';
import { ProposalDroppedError } from '../../../etcd/raft/types.js';
import { id, TestCluster } from './harness.js';

describe('leader transfer', () => {
  it('hands leadership to an up-to-date follower via MsgTimeoutNow, bypassing the lease', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.propose(1, 'x');
    const term = c.node(1).r.status().term;
    c.node(1).r.transferLeader(id(2));
    c.stabilize();
    expect(c.sent.some((m) => m.type === 'timeoutNow' && m.to === id(2))).toBe(true);
    expect(c.leader().id).toBe(id(2));
    expect(c.node(2).r.status().term).toBe(term + 1);
    c.propose(2, 'y');
    for (const n of c.nodes.values()) expect(n.values()).toEqual(['x', 'y']);
  });

  it('catches a lagging transferee up before asking it to campaign', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (let k = 0; k < 5; k++) c.propose(1, `w${k}`);
    c.heal();
    c.sent = [];
    c.node(1).r.transferLeader(id(3));
    c.stabilize();
    const firstTimeout = c.sent.findIndex((m) => m.type === 'timeoutNow');
    const lastApp = c.sent.map((m) => m.type === 'app' && m.to === id(3) && m.entries.length > 0).lastIndexOf(true);
    expect(lastApp).toBeGreaterThanOrEqual(0);
    expect(firstTimeout).toBeGreaterThan(lastApp);
    expect(c.leader().id).toBe(id(3));
  });

  it('refuses proposals while transferring and aborts after an election timeout', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3, [1]);
    c.node(1).r.transferLeader(id(3));
    c.stabilize();
    expect(c.node(1).r.status().leadTransferee).toBe(id(3));
    expect(() => c.node(1).r.propose(Buffer.from('no'))).toThrow(ProposalDroppedError);
    c.tickAll(10);
    expect(c.node(1).r.status().leadTransferee).toBe('');
    expect(c.leader().id).toBe(id(1));
    c.propose(1, 'yes');
    expect(c.node(1).values()).toEqual(['yes']);
  });

  it('a follower forwards a transfer request to the leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.node(3).r.transferLeader(id(2));
    c.stabilize();
    expect(c.leader().id).toBe(id(2));
  });
});
