// A deterministic, single-process Raft cluster: N RawNodes over a simulated
// network and clock, all randomness drawn from one seed. The network drops,
// delays (hence reorders) and duplicates messages and honours directed
// partitions; nodes crash and restart from what they had fsynced, losing the
// write that was in flight. The SafetyChecker watches every step.

import { decodeConfChange } from '../confchange.js';
import { RawNode, canSendBeforePersist, type Ready } from '../node.js';
import { mixSeed, randInt, seededRandom, type Random } from '../prng.js';
import { bootstrapStorage } from '../bootstrap.js';
import { MemoryStorage } from '../storage.js';
import { type ConfState, type Entry, type Message, type NodeId, ProposalDroppedError, type Snapshot } from '../types.js';
import { chainDigest, entryKey, SafetyChecker, SafetyViolation, type LogView } from './checker.js';
import type { SimConfig } from './schedule.js';

export const ELECTION_TICK = 10;
export const HEARTBEAT_TICK = 2;
/** Simulated steps per raft tick; message delays are in steps. */
export const TICK_STEPS = 5;

export function simNodeId(idx: number): NodeId {
  return (idx + 1).toString(16).padStart(16, '0');
}

interface AppState {
  applied: number;
  digest: number;
  conf: ConfState;
}

interface PendingWrite {
  rd: Ready;
  doneAt: number;
  /** Messages already sent early (leader's parallel append). */
  sentEarly: Set<Message>;
}

interface Proposal {
  node: number;
  incarnation: number;
  acked?: number;
}

interface ReadRequest {
  node: number;
  incarnation: number;
  /** Highest index of a proposal acknowledged before the read was issued. */
  mustCover: number;
  answered?: number;
}

export class SimNode {
  raw: RawNode | undefined;
  pending: PendingWrite | undefined;
  incarnation = 0;
  pausedUntil = 0;
  /** Ticks only every tickEvery tick periods: a slow clock. */
  tickEvery = 1;
  app: AppState;
  readonly storage = new MemoryStorage();

  constructor(readonly idx: number, readonly id: NodeId) {
    this.app = { applied: 0, digest: 0, conf: { voters: [], learners: [] } };
  }

  get alive(): boolean {
    return this.raw !== undefined;
  }
}

export interface NetConfig {
  drop: number;
  dup: number;
  delay: number;
}

export class Simulation {
  readonly nodes: SimNode[];
  readonly checker = new SafetyChecker();
  readonly rand: Random;
  now = 0;
  net: NetConfig = { drop: 0, dup: 0, delay: 3 };
  readonly blocked = new Set<string>();
  private queue = new Map<number, Message[]>();
  private inFlight = 0;
  readonly proposals = new Map<string, Proposal>();
  readonly reads = new Map<string, ReadRequest>();
  private proposalSeq = 0;
  private readSeq = 0;
  maxAcked = 0;
  /** Background client load (cfg.load) is on until the final liveness phase. */
  clients = true;
  /** Trace of notable events for failure reports (bounded). */
  readonly trace: string[] = [];

  constructor(readonly cfg: SimConfig) {
    this.rand = seededRandom(cfg.seed);
    this.nodes = Array.from({ length: cfg.nodes }, (_, i) => new SimNode(i, simNodeId(i)));
    const voters = this.nodes.slice(0, cfg.voters).map((n) => n.id);
    for (const n of this.nodes) {
      if (n.idx < cfg.voters) bootstrapStorage(n.storage, voters);
      this.start(n);
    }
  }

  log(msg: string): void {
    this.trace.push(`[${this.now}] ${msg}`);
    if (this.trace.length > 400) this.trace.splice(0, 100);
  }

  // ---- node lifecycle ------------------------------------------------------

  private start(n: SimNode): void {
    const snap = n.storage.snapshot();
    n.app = { applied: snap.index, digest: snap.index > 0 ? decodeDigest(snap.data) : 0, conf: snap.confState };
    this.checker.observeDigest(n.id, snap.index, n.app.digest);
    n.raw = new RawNode({
      id: n.id,
      storage: n.storage,
      applied: snap.index,
      electionTick: ELECTION_TICK,
      heartbeatTick: HEARTBEAT_TICK,
      maxSizePerMsg: this.cfg.maxSizePerMsg,
      maxInflightMsgs: this.cfg.maxInflight,
      random: seededRandom(mixSeed(this.cfg.seed, n.idx * 7919 + n.incarnation)),
    });
  }

  crash(i: number): void {
    const n = this.nodes[i]!;
    if (!n.alive) return;
    this.log(`crash ${i}${n.pending ? ' (losing an unsynced write)' : ''}`);
    n.raw = undefined;
    n.pending = undefined;
    n.pausedUntil = 0;
    n.incarnation++;
  }

  pause(i: number, steps: number): void {
    const n = this.nodes[i]!;
    if (!n.alive) return;
    this.log(`pause ${i} for ${steps}`);
    n.pausedUntil = Math.max(n.pausedUntil, this.now + steps);
  }

  restart(i: number): void {
    const n = this.nodes[i]!;
    if (n.alive) return;
    this.log(`restart ${i}`);
    this.start(n);
  }

  // ---- network -----------------------------------------------------------------

  private linkBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  setPartition(blocked: Array<[number, number]>): void {
    this.blocked.clear();
    for (const [a, b] of blocked) {
      const na = this.nodes[a];
      const nb = this.nodes[b];
      if (na && nb && a !== b) this.blocked.add(`${na.id}>${nb.id}`);
    }
  }

  private byId(id: NodeId): SimNode | undefined {
    const idx = parseInt(id, 16) - 1;
    return this.nodes[idx];
  }

  private send(m: Message): void {
    if (this.linkBlocked(m.from, m.to) || this.rand() * 100 < this.net.drop) {
      this.dropped(m);
      return;
    }
    const copies = this.rand() * 100 < this.net.dup ? 2 : 1;
    for (let c = 0; c < copies; c++) this.enqueue(m, this.now + 1 + randInt(this.rand, 0, this.net.delay));
  }

  private enqueue(m: Message, at: number): void {
    let bucket = this.queue.get(at);
    if (!bucket) this.queue.set(at, (bucket = []));
    bucket.push(m);
    this.inFlight++;
  }

  private dropped(m: Message): void {
    if (m.type !== 'snap' && m.type !== 'app') return;
    const sender = this.byId(m.from);
    if (m.type === 'snap') sender?.raw?.reportSnapshot(m.to, 'failure');
    else if (this.linkBlocked(m.from, m.to)) sender?.raw?.reportUnreachable(m.to);
  }

  private deliverDue(): void {
    const bucket = this.queue.get(this.now);
    if (!bucket) return;
    this.queue.delete(this.now);
    this.inFlight -= bucket.length;
    for (const m of bucket) {
      const dest = this.byId(m.to);
      if (!dest?.raw || this.linkBlocked(m.from, m.to)) {
        this.dropped(m);
        continue;
      }
      if (dest.pausedUntil > this.now) {
        // Buffered in the socket; a resumed process may serve clients before draining it.
        this.enqueue(m, dest.pausedUntil + randInt(this.rand, 1, 20));
        continue;
      }
      dest.raw.step(m);
      if (m.type === 'snap') this.byId(m.from)?.raw?.reportSnapshot(m.to, 'finish');
    }
  }

  // ---- Ready processing -----------------------------------------------------------

  private startReady(n: SimNode): void {
    const raw = n.raw!;
    const rd = raw.ready();
    const log = raw.raft.log;
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!;
      this.checker.observeAppend(n.id, rd.entries, log.maybeTerm(first.index - 1));
    }
    if (rd.committedEntries.length > 0) this.checker.observeCommitted(n.id, rd.committedEntries, raw.raft.term);
    const sentEarly = new Set<Message>();
    if (this.cfg.parallelAppend) {
      for (const m of rd.messages) {
        if (canSendBeforePersist(m)) {
          sentEarly.add(m);
          this.send(m);
        }
      }
    }
    // Most writes complete within the step; some linger so crashes can catch them in flight.
    const r = this.rand();
    const delay = r < 0.4 ? 0 : r < 0.8 ? randInt(this.rand, 1, 5) : randInt(this.rand, 6, 30);
    n.pending = { rd, doneAt: this.now + delay, sentEarly };
    if (delay === 0) this.finishReady(n);
  }

  private finishReady(n: SimNode): void {
    const { rd, sentEarly } = n.pending!;
    n.pending = undefined;
    const raw = n.raw!;
    // 1. Durable.
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    // 2. Send.
    for (const m of rd.messages) if (!sentEarly.has(m)) this.send(m);
    // 3. Apply.
    if (rd.snapshot) this.restoreApp(n, rd.snapshot);
    for (const e of rd.committedEntries) this.apply(n, e);
    for (const rs of rd.readStates) this.answerRead(n, Buffer.from(rs.ctx).toString(), rs.index);
    this.maybeSnapshot(n);
    raw.advance(rd);
  }

  private restoreApp(n: SimNode, s: Snapshot): void {
    const digest = decodeDigest(s.data);
    this.checker.observeDigest(n.id, s.index, digest);
    n.app = { applied: s.index, digest, conf: s.confState };
  }

  private apply(n: SimNode, e: Entry): void {
    if (e.index <= n.app.applied) throw new SafetyViolation(`${n.id} re-applies ${e.index} (applied ${n.app.applied})`);
    if (e.index !== n.app.applied + 1) throw new SafetyViolation(`${n.id} skips from ${n.app.applied} to ${e.index}`);
    const key = entryKey(e);
    n.app.digest = chainDigest(n.app.digest, key);
    n.app.applied = e.index;
    this.checker.observeDigest(n.id, e.index, n.app.digest);
    if (e.type === 'conf') {
      const cc = decodeConfChange(e.data);
      n.app.conf = n.raw!.applyConfChange(cc);
      if (e.term > 1) this.log(`${n.idx} applies conf ${cc.type} ${parseInt(cc.nodeId, 16) - 1} at ${e.index}: voters ${n.app.conf.voters.map((v) => parseInt(v, 16) - 1)}`);
      return;
    }
    if (e.data.byteLength === 0) return;
    const p = this.proposals.get(Buffer.from(e.data).toString());
    if (p && p.acked === undefined && p.node === n.idx && p.incarnation === n.incarnation) {
      p.acked = e.index;
      if (e.index > this.maxAcked) this.maxAcked = e.index;
    }
  }

  private maybeSnapshot(n: SimNode): void {
    const s = n.storage.snapshot();
    if (n.app.applied - s.index < this.cfg.snapshotEvery || n.app.applied > n.storage.hardState().commit) return;
    n.storage.createSnapshot(n.app.applied, n.app.conf, encodeDigest(n.app.digest));
    // Keep a short random tail of entries so followers sometimes catch up from the log, sometimes need the snapshot.
    const keep = randInt(this.rand, 0, 4);
    const upTo = n.app.applied - keep;
    if (upTo >= n.storage.firstIndex()) n.storage.compact(upTo);
  }

  // ---- clients -------------------------------------------------------------------

  propose(i: number): string | undefined {
    const n = this.nodes[i]!;
    if (!n.raw || n.pausedUntil > this.now) return undefined;
    const data = `p${++this.proposalSeq}`;
    try {
      n.raw.propose(Buffer.from(data));
    } catch (e) {
      if (e instanceof ProposalDroppedError) return undefined;
      throw e;
    }
    this.proposals.set(data, { node: i, incarnation: n.incarnation });
    return data;
  }

  read(i: number): string | undefined {
    const n = this.nodes[i]!;
    if (!n.raw || n.pausedUntil > this.now) return undefined;
    const ctx = `r${++this.readSeq}`;
    try {
      n.raw.readIndex(Buffer.from(ctx));
    } catch (e) {
      if (e instanceof ProposalDroppedError) return undefined;
      throw e;
    }
    this.reads.set(ctx, { node: i, incarnation: n.incarnation, mustCover: this.maxAcked });
    return ctx;
  }

  private answerRead(n: SimNode, ctx: string, index: number): void {
    const r = this.reads.get(ctx);
    if (!r || r.node !== n.idx || r.incarnation !== n.incarnation || r.answered !== undefined) return;
    r.answered = index;
    if (index < r.mustCover) {
      throw new SafetyViolation(`linearizability: read ${ctx} on ${n.idx} got read index ${index} but a write acknowledged before it is at ${r.mustCover}`);
    }
  }

  // ---- clock ---------------------------------------------------------------------

  step(): void {
    this.now++;
    if (this.clients && this.rand() * 100 < this.cfg.load) {
      const i = randInt(this.rand, 0, this.nodes.length - 1);
      if (this.rand() < 0.2) this.read(i);
      else this.propose(i);
    }
    this.deliverDue();
    for (const n of this.nodes) {
      if (n.pending && n.pending.doneAt <= this.now && n.pausedUntil <= this.now) this.finishReady(n);
    }
    if (this.now % TICK_STEPS === 0) {
      const period = this.now / TICK_STEPS;
      for (const n of this.nodes) if (n.pausedUntil <= this.now && period % n.tickEvery === 0) n.raw?.tick();
    }
    for (const n of this.nodes) {
      if (n.raw && !n.pending && n.pausedUntil <= this.now && n.raw.hasReady()) this.startReady(n);
    }
    this.checkStep();
  }

  run(steps: number): void {
    for (let k = 0; k < steps; k++) this.step();
  }

  private checkStep(): void {
    for (const n of this.nodes) {
      const r = n.raw?.raft;
      if (!r || r.role !== 'leader') continue;
      if (this.checker.leaderOf(r.term) === undefined) {
        this.log(`${n.idx} leads term ${r.term}`);
        this.checker.checkLeaderCompleteness(n.id, r.term, logView(n.raw!));
      }
      this.checker.observeLeader(r.term, n.id);
    }
  }

  /** The node that leads the highest term among the live ones, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes) {
      const r = n.raw?.raft;
      if (r?.role === 'leader' && (!best || r.term > best.raw!.raft.term)) best = n;
    }
    return best;
  }

  messagesInFlight(): number {
    return this.inFlight;
  }
}

export function logView(raw: RawNode): LogView {
  const log = raw.raft.log;
  return {
    term: (i) => log.maybeTerm(i),
    entry: (i) => log.slice(i, i + 1)?.[0],
    firstIndex: () => log.firstIndex(),
    lastIndex: () => log.lastIndex(),
  };
}

function encodeDigest(d: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, d);
  return b;
}

function decodeDigest(b: Uint8Array): number {
  if (b.byteLength !== 4) throw new SafetyViolation('snapshot data is not a digest');
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
}
