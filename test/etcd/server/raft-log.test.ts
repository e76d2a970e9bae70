// RaftLog on its own: three logs over an in-memory network with fake WALs
// whose fsync can be held, to check the Ready-loop contract (group commit,
// the leader's early appends, votes only after the vote is durable), ReadIndex
// batching, and resuming term, vote and log after a restart.

import { afterEach, describe, expect, it } from 'vitest';
import { encodeConfChange } from '../../../etcd/raft/confchange.js';
import { seededRandom } from '../../../etcd/raft/prng.js';
import type { Entry, HardState, Message, NodeId } from '../../../etcd/raft/types.js';
import { silentLogger } from '../../../etcd/server/logger.js';
import { RaftLog, type RaftWal } from '../../../etcd/server/raft-log.js';
import type { SnapshotMeta } from '../../../etcd/wal/records.js';
import { MemoryNetwork, MemoryTransport } from '../cluster/memory-transport.js';

const IDS: NodeId[] = ['000000000000000a', '000000000000000b', '000000000000000c'];

class FakeWal implements RaftWal {
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  entries: Entry[] = [];
  syncs = 0;
  /** While set, sync() waits for it. */
  gate: Promise<void> | undefined;
  private pendingHs: HardState | undefined;
  private pendingEnts: Entry[] = [];

  save(hs: HardState | undefined, ents: readonly Entry[]): void {
    if (hs) this.pendingHs = { ...hs };
    this.pendingEnts.push(...ents);
  }
  saveSnapshot(_meta: SnapshotMeta): void {}
  async sync(): Promise<void> {
    const hs = this.pendingHs;
    const ents = this.pendingEnts;
    this.pendingHs = undefined;
    this.pendingEnts = [];
    this.syncs++;
    if (this.gate) await this.gate;
    for (const e of ents) {
      this.entries.length = Math.min(this.entries.length, e.index - 1);
      this.entries.push(e);
    }
    if (hs) this.hardState = hs;
  }
  async releaseTo(): Promise<void> {}
}

/** Counts what each member sends, by message type. */
class CountingTransport extends MemoryTransport {
  sent: Message[] = [];
  onSend: (m: Message) => void = () => {};
  override send(messages: Message[]): void {
    for (const m of messages) this.onSend(m);
    this.sent.push(...messages);
    super.send(messages);
  }
}

/** Granted votes that left before the vote was on disk (must stay empty). */
const earlyVotes: string[] = [];

interface Node {
  id: NodeId;
  log: RaftLog;
  wal: FakeWal;
  transport: CountingTransport;
  applied: Entry[];
}

const logs: RaftLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) l.halt();
});

function bootstrapEntries(): Uint8Array[] {
  return IDS.map((id) => encodeConfChange({ type: 'addNode', nodeId: id, context: new Uint8Array() }));
}

async function startNode(net: MemoryNetwork, id: NodeId, wal: FakeWal, seed: number): Promise<Node> {
  const transport = net.register(new CountingTransport(net, id));
  transport.onSend = (m) => {
    if (m.type === 'voteResp' && !m.reject && (wal.hardState.vote !== m.to || wal.hardState.term !== m.term)) earlyVotes.push(`${id}->${m.to}@${m.term}`);
  };
  for (const other of IDS) if (other !== id) transport.addPeer(other, [`http://${other}`]);
  const applied: Entry[] = [];
  const recovered = { hardState: { ...wal.hardState }, entries: wal.entries.map((e) => ({ ...e })) };
  const log: RaftLog = new RaftLog({
    id,
    wal,
    snapshots: { save: async () => {}, purge: async () => [], load: async () => Promise.reject(new Error('no snapshots in this test')) },
    recovered,
    bootstrap: bootstrapEntries(),
    transport,
    tickMs: 10,
    electionTicks: 10,
    preVote: true,
    requestTimeoutMs: 2000,
    random: seededRandom(seed),
    logger: silentLogger,
    onFatal: (err) => {
      throw err;
    },
    onSnapshotInstalled: () => {},
  });
  logs.push(log);
  await log.start((ents) => {
    for (const e of ents) {
      applied.push(e);
      if (e.type === 'conf' && e.index <= IDS.length) log.applyConfChange({ type: 'addNode', nodeId: IDS[e.index - 1]!, context: new Uint8Array() });
    }
  });
  return { id, log, wal, transport, applied };
}

async function startCluster(): Promise<{ net: MemoryNetwork; nodes: Node[] }> {
  const net = new MemoryNetwork();
  const nodes = await Promise.all(IDS.map((id, i) => startNode(net, id, new FakeWal(), i + 1)));
  return { net, nodes };
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function leaderOf(nodes: Node[]): Promise<Node> {
  await waitFor(() => nodes.filter((n) => n.log.isLeader()).length === 1 && nodes.every((n) => n.log.leaderId() !== ''));
  return nodes.find((n) => n.log.isLeader())!;
}

const data = (s: string) => new TextEncoder().encode(s);

describe('RaftLog', () => {
  it('commits a burst of proposals with a few fsyncs (group commit) and applies them everywhere in order', async () => {
    const { nodes } = await startCluster();
    const leader = await leaderOf(nodes);
    const before = leader.wal.syncs;
    for (let i = 0; i < 200; i++) leader.log.propose(data(`p${i}`));
    await waitFor(() => nodes.every((n) => n.applied.filter((e) => e.data.length > 0 && e.type === 'normal').length === 200));
    expect(leader.wal.syncs - before).toBeLessThan(10);
    for (const n of nodes) {
      const seen = n.applied.filter((e) => e.type === 'normal' && e.data.length > 0).map((e) => new TextDecoder().decode(e.data));
      expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => `p${i}`));
    }
  });

  it('lets the leader send appends while its own fsync is still running', async () => {
    const { nodes } = await startCluster();
    const leader = await leaderOf(nodes);
    let release!: () => void;
    leader.wal.gate = new Promise<void>((r) => (release = r));
    const sentBefore = leader.transport.sent.length;
    leader.log.propose(data('early'));
    await waitFor(() => leader.transport.sent.slice(sentBefore).some((m) => m.type === 'app' && m.entries.some((e) => e.data.length > 0)));
    // The followers made it durable before the leader did; it is applied only after the leader's fsync.
    const followers = nodes.filter((n) => n !== leader);
    await waitFor(() => followers.every((f) => f.wal.entries.some((e) => new TextDecoder().decode(e.data) === 'early')));
    expect(leader.applied.some((e) => new TextDecoder().decode(e.data) === 'early')).toBe(false);
    release();
    leader.wal.gate = undefined;
    await waitFor(() => leader.applied.some((e) => new TextDecoder().decode(e.data) === 'early'));
  });

  it('sends a vote only after the vote is durable', async () => {
    const { nodes } = await startCluster();
    // Slow disks make an early send likely to show.
    for (const n of nodes) n.wal.gate = new Promise((r) => setTimeout(r, 5));
    earlyVotes.length = 0;
    const leader = await leaderOf(nodes);
    const granted = nodes.flatMap((n) => n.transport.sent.filter((m) => m.type === 'voteResp' && !m.reject));
    expect(granted.length).toBeGreaterThan(0);
    expect(earlyVotes).toEqual([]);
    expect(leader.wal.hardState.vote).toBe(leader.id);
  });

  it('answers many concurrent reads on a follower with one ReadIndex request', async () => {
    const { nodes } = await startCluster();
    const leader = await leaderOf(nodes);
    leader.log.propose(data('x'));
    await waitFor(() => nodes.every((n) => n.applied.some((e) => e.data.length === 1)));
    const follower = nodes.find((n) => n !== leader)!;
    const sentBefore = follower.transport.sent.length;
    const indexes = await Promise.all(Array.from({ length: 50 }, () => follower.log.readIndex()));
    expect(new Set(indexes).size).toBe(1);
    expect(indexes[0]).toBe(leader.log.status().commitIndex);
    const requests = follower.transport.sent.slice(sentBefore).filter((m) => m.type === 'readIndex');
    expect(requests.length).toBeLessThanOrEqual(2);
  });

  it('fails pending reads with "leader changed" and new ones with "no leader" when the leader goes away', async () => {
    const { net, nodes } = await startCluster();
    const leader = await leaderOf(nodes);
    const follower = nodes.find((n) => n !== leader)!;
    net.isolate(follower.id);
    // Asked while the follower still believes in its leader: the request is lost with the partition.
    const pending = follower.log.readIndex();
    await expect(pending).rejects.toThrow(/leader changed/);
    expect(follower.log.leaderId()).toBe('');
    await expect(follower.log.readIndex()).rejects.toThrow(/no leader/);
    expect(() => follower.log.propose(data('y'))).toThrow(/no leader/);
  });

  it('resumes term, vote and log from the WAL after a restart', async () => {
    const { net, nodes } = await startCluster();
    const leader = await leaderOf(nodes);
    for (let i = 0; i < 5; i++) leader.log.propose(data(`d${i}`));
    await waitFor(() => nodes.every((n) => n.applied.length >= IDS.length + 6));
    const victim = nodes.find((n) => n !== leader)!;
    const term = victim.log.status().term;
    victim.log.halt();
    const restarted = await startNode(net, victim.id, victim.wal, 9);
    expect(restarted.log.status().term).toBe(term);
    expect(restarted.log.storage.hardState().vote).toBe(victim.wal.hardState.vote);
    expect(restarted.log.storage.lastIndex()).toBe(victim.wal.entries.length);
    // It replays what it had committed, then follows the leader again.
    await waitFor(() => restarted.applied.filter((e) => e.type === 'normal' && e.data.length > 0).length === 5);
    leader.log.propose(data('after'));
    await waitFor(() => restarted.applied.some((e) => new TextDecoder().decode(e.data) === 'after'));
  });
});
