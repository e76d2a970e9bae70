import { describe, expect, it } from 'vitest';
import { ProposalDroppedError, type MsgHeartbeat } from '../../../etcd/raft/types.js';
import { id, TestCluster } from './harness.js';

const ctx = (s: string) => Buffer.from(s);
const ctxs = (n: { readStates: Array<{ ctx: Uint8Array }> }) => n.readStates.map((r) => Buffer.from(r.ctx).toString());

describe('ReadIndex', () => {
  it('the leader answers with its commit index after a quorum heartbeat round', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.propose(1, 'x');
    const commit = c.node(1).r.status().commit;
    c.sent = [];
    c.node(1).r.readIndex(ctx('r1'));
    c.stabilize();
    expect(c.node(1).readStates).toEqual([{ index: commit, ctx: ctx('r1') }]);
    expect(c.sent.some((m) => m.type === 'heartbeat' && m.readRound > 0)).toBe(true);
  });

  it('batches concurrent requests into one heartbeat round', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.sent = [];
    for (let k = 0; k < 5; k++) c.node(1).r.readIndex(ctx(`r${k}`));
    c.stabilize();
    const rounds = c.sent.filter((m): m is MsgHeartbeat => m.type === 'heartbeat' && m.readRound > 0);
    expect(rounds.length).toBe(2); // one heartbeat per follower
    expect(new Set(rounds.map((m) => m.readRound)).size).toBe(1);
    expect(ctxs(c.node(1))).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
  });

  it('a leader cut off from the quorum does not answer', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(1);
    c.node(1).r.readIndex(ctx('stale'));
    c.stabilize();
    c.tick(1, 3);
    c.stabilize();
    expect(c.node(1).readStates).toEqual([]);
  });

  it('followers forward the request and receive the leader index', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.propose(1, 'x');
    c.node(3).r.readIndex(ctx('f'));
    c.stabilize();
    expect(c.node(3).readStates).toEqual([{ index: c.node(1).r.status().commit, ctx: ctx('f') }]);
    expect(c.node(1).readStates).toEqual([]);
  });

  it('without a leader the request is dropped with ErrProposalDropped', () => {
    const c = new TestCluster([1, 2, 3]);
    expect(() => c.node(2).r.readIndex(ctx('x'))).toThrow(ProposalDroppedError);
  });

  it('waits until the new leader commits an entry of its own term', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    // No append is acknowledged, so the next leader cannot commit its first entry: reads must wait.
    c.filter = (m) => m.type === 'appResp';
    c.isolate(1);
    c.tickAll(25);
    const l = c.leaders().find((n) => n.id !== id(1))!;
    const li = parseInt(l.id, 16);
    expect(l.r.raft.log.maybeTerm(l.r.status().commit)).not.toBe(l.r.status().term);
    l.readStates = [];
    c.node(li).r.readIndex(ctx('early'));
    c.tickAll(3);
    expect(l.readStates).toEqual([]);
    c.filter = undefined;
    c.tickAll(3);
    expect(ctxs(l)).toEqual(['early']);
    expect(l.readStates[0]!.index).toBe(l.r.status().commit);
  });

  it('a single-node cluster answers immediately', () => {
    const c = new TestCluster([1]);
    c.tickAll(25);
    c.node(1).r.readIndex(ctx('solo'));
    c.stabilize();
    expect(ctxs(c.node(1))).toEqual(['solo']);
  });
});
