// A synchronous cluster for scenario tests: every Ready is persisted and
// applied at once, and stabilize() delivers messages until nothing moves.
// Links can be cut one way or both, nodes crashed and restarted from their
// MemoryStorage (which stands for what was fsynced).

import { decodeConfChange } from '../../../etcd/raft/confchange.js';
import { RawNode, type Ready } from '../../../etcd/raft/node.js';
import { seededRandom, mixSeed } from '../../../etcd/raft/prng.js';
import { bootstrapStorage } from '../../../etcd/raft/bootstrap.js';
import { MemoryStorage } from '../../../etcd/raft/storage.js';
import type { ConfState, Entry, Message, NodeId, ReadState } from '../../../etcd/raft/types.js';

export const id = (n: number): NodeId => n.toString(16).padStart(16, '0');

export interface TestNodeOptions {
  preVote?: boolean;
  checkQuorum?: boolean;
  electionTick?: number;
  heartbeatTick?: number;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
}

export class TestNode {
  raw: RawNode | undefined;
  applied: Entry[] = [];
  appliedIndex = 0;
  conf: ConfState = { voters: [], learners: [] };
  readStates: ReadState[] = [];
  incarnation = 0;

  constructor(readonly id: NodeId, readonly storage: MemoryStorage) {}

  get r(): RawNode {
    if (!this.raw) throw new Error(`${this.id} is down`);
    return this.raw;
  }

  /** Data of applied normal entries, as strings. */
  values(): string[] {
    return this.applied.filter((e) => e.type === 'normal' && e.data.byteLength > 0).map((e) => Buffer.from(e.data).toString());
  }
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  private cut = new Set<string>();
  /** Every message delivered (after filtering), for assertions on traffic. */
  sent: Message[] = [];
  /** Drops messages for which it returns true. */
  filter: ((m: Message) => boolean) | undefined;
  private queue: Message[] = [];

  constructor(voters: number[], readonly opts: TestNodeOptions = {}, idle: number[] = []) {
    const ids = voters.map(id);
    for (const v of voters) {
      const s = new MemoryStorage();
      bootstrapStorage(s, ids);
      this.add(id(v), s);
    }
    for (const i of idle) this.add(id(i), new MemoryStorage());
    this.stabilize();
  }

  private add(nid: NodeId, storage: MemoryStorage): void {
    const n = new TestNode(nid, storage);
    this.nodes.set(nid, n);
    this.boot(n);
  }

  private boot(n: TestNode): void {
    const snap = n.storage.snapshot();
    n.appliedIndex = snap.index;
    n.conf = snap.confState;
    n.applied = n.applied.filter((e) => e.index <= snap.index);
    n.raw = new RawNode({
      id: n.id,
      storage: n.storage,
      applied: snap.index,
      electionTick: this.opts.electionTick ?? 10,
      heartbeatTick: this.opts.heartbeatTick ?? 1,
      preVote: this.opts.preVote ?? true,
      checkQuorum: this.opts.checkQuorum ?? true,
      maxSizePerMsg: this.opts.maxSizePerMsg,
      maxInflightMsgs: this.opts.maxInflightMsgs,
      random: seededRandom(mixSeed(parseInt(n.id, 16), n.incarnation)),
    });
  }

  node(i: number): TestNode {
    const n = this.nodes.get(id(i));
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  /** Cuts both directions between a and each of others (default: everyone). */
  isolate(a: number, others?: number[]): void {
    for (const b of others ?? [...this.nodes.keys()].map((k) => parseInt(k, 16))) {
      if (b === a) continue;
      this.cut.add(`${id(a)}>${id(b)}`);
      this.cut.add(`${id(b)}>${id(a)}`);
    }
  }

  cutLink(from: number, to: number): void {
    this.cut.add(`${id(from)}>${id(to)}`);
  }

  heal(): void {
    this.cut.clear();
  }

  crash(i: number): void {
    const n = this.node(i);
    n.raw = undefined;
    n.incarnation++;
  }

  restart(i: number): void {
    const n = this.node(i);
    if (!n.raw) this.boot(n);
  }

  tick(i: number, times = 1): void {
    for (let k = 0; k < times; k++) this.node(i).raw?.tick();
  }

  tickAll(times = 1): void {
    for (let k = 0; k < times; k++) {
      for (const n of this.nodes.values()) n.raw?.tick();
      this.stabilize();
    }
  }

  /** Processes a node's Ready the way a server must: persist, send, apply, advance. */
  private handleReady(n: TestNode, rd: Ready): void {
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    this.queue.push(...rd.messages);
    if (rd.snapshot) {
      n.appliedIndex = rd.snapshot.index;
      n.conf = rd.snapshot.confState;
      n.applied = decodeApplied(rd.snapshot.data);
    }
    for (const e of rd.committedEntries) {
      if (e.index !== n.appliedIndex + 1) throw new Error(`${n.id} applies ${e.index} after ${n.appliedIndex}`);
      n.appliedIndex = e.index;
      n.applied.push(e);
      if (e.type === 'conf') n.conf = n.r.applyConfChange(decodeConfChange(e.data));
    }
    n.readStates.push(...rd.readStates);
    n.r.advance(rd);
  }

  /** Runs every Ready and delivers every message until the cluster is quiet. */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const n of this.nodes.values()) {
        if (n.raw?.hasReady()) {
          this.handleReady(n, n.raw.ready());
          moved = true;
        }
      }
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        moved = true;
        if (this.cut.has(`${m.from}>${m.to}`)) continue;
        if (this.filter?.(m)) continue;
        const dest = this.nodes.get(m.to);
        if (!dest?.raw) continue;
        this.sent.push(m);
        dest.raw.step(m);
        if (m.type === 'snap') this.nodes.get(m.from)?.raw?.reportSnapshot(m.to, 'finish');
      }
      if (!moved) return;
    }
    throw new Error('cluster did not stabilize');
  }

  /** Forces an election at node i and lets it settle. */
  elect(i: number): void {
    this.node(i).r.campaign();
    this.stabilize();
  }

  leaders(): TestNode[] {
    return [...this.nodes.values()].filter((n) => n.raw?.status().role === 'leader');
  }

  leader(): TestNode {
    const ls = this.leaders();
    if (ls.length !== 1) throw new Error(`expected one leader, found ${ls.length}`);
    return ls[0]!;
  }

  propose(i: number, value: string): void {
    this.node(i).r.propose(Buffer.from(value));
    this.stabilize();
  }

  /** Takes a state machine snapshot at node i's applied index and compacts its log up to it. */
  snapshotAndCompact(i: number): void {
    const n = this.node(i);
    n.storage.createSnapshot(n.appliedIndex, n.conf, encodeApplied(n.applied));
    n.storage.compact(n.appliedIndex);
  }
}

// The test state machine image is just the applied entries, serialized.
function encodeApplied(ents: Entry[]): Uint8Array {
  return Buffer.from(JSON.stringify(ents.map((e) => ({ ...e, data: Buffer.from(e.data).toString('base64') }))));
}

function decodeApplied(data: Uint8Array): Entry[] {
  const raw = JSON.parse(Buffer.from(data).toString()) as Array<Omit<Entry, 'data'> & { data: string }>;
  return raw.map((e) => ({ ...e, data: Buffer.from(e.data, 'base64') }));
}
