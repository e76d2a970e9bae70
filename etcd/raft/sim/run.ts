// Runs a schedule against a Simulation, then heals everything and checks
// liveness: a leader appears and a new proposal commits within a bounded
// simulated time, every member catches up, and no acknowledged write is lost.

import { ProposalDroppedError } from '../types.js';
import { ELECTION_TICK, logView, simNodeId, Simulation, TICK_STEPS } from './cluster.js';
import { entryKey, SafetyViolation } from './checker.js';
import { LEADER, type Schedule, type SimEvent } from './schedule.js';

/** Bound on recovery after healing: generous against split votes, tiny against "never". */
export const RECOVERY_STEPS = 60 * ELECTION_TICK * TICK_STEPS;

export interface RunResult {
  steps: number;
  proposals: number;
  acked: number;
  reads: number;
  readsAnswered: number;
  maxTerm: number;
}

export function applyEvent(sim: Simulation, ev: SimEvent): void {
  const n = sim.cfg.nodes;
  const resolve = (i: number): number => (i === LEADER ? sim.leader()?.idx ?? -2 : i);
  const valid = (i: number) => i >= 0 && i < n;
  // A stopped process takes no client requests.
  const running = (i: number) => valid(i) && (sim.nodes[i]?.pausedUntil ?? 0) <= sim.now;
  if ('node' in ev) ev = { ...ev, node: resolve(ev.node) };
  if (ev.t === 'transfer') ev = { ...ev, to: resolve(ev.to) };
  switch (ev.t) {
    case 'run':
      sim.run(ev.steps);
      return;
    case 'propose':
      if (valid(ev.node)) for (let k = 0; k < ev.count; k++) sim.propose(ev.node);
      return;
    case 'read':
      if (valid(ev.node)) sim.read(ev.node);
      return;
    case 'crash':
      if (valid(ev.node)) sim.crash(ev.node);
      return;
    case 'restart':
      if (valid(ev.node)) sim.restart(ev.node);
      return;
    case 'partition':
      sim.log(`partition ${JSON.stringify(ev.blocked)}`);
      sim.setPartition(ev.blocked);
      return;
    case 'isolateLeader': {
      const l = sim.leader();
      if (!l) return;
      const blocked: Array<[number, number]> = [];
      for (let j = 0; j < n; j++) {
        if (j === l.idx) continue;
        blocked.push([l.idx, j]);
        if (!ev.oneWay) blocked.push([j, l.idx]);
      }
      sim.log(`isolate leader ${l.idx}${ev.oneWay ? ' (outgoing only)' : ''}, clock slowed ${ev.slow}x`);
      sim.setPartition(blocked);
      l.tickEvery = Math.max(1, Math.floor(ev.slow));
      return;
    }
    case 'heal':
      sim.log('heal');
      sim.setPartition([]);
      return;
    case 'net':
      sim.net = { drop: ev.drop, dup: ev.dup, delay: ev.delay };
      return;
    case 'transfer': {
      const raw = sim.nodes[ev.node]?.raw;
      if (!raw || !running(ev.node) || !valid(ev.to)) return;
      try {
        raw.transferLeader(simNodeId(ev.to));
      } catch (e) {
        if (!(e instanceof ProposalDroppedError)) throw e;
      }
      return;
    }
    case 'campaign':
      if (running(ev.node)) sim.nodes[ev.node]?.raw?.campaign();
      return;
    case 'slow':
      if (valid(ev.node)) sim.nodes[ev.node]!.tickEvery = Math.max(1, Math.floor(ev.factor));
      return;
    case 'pause':
      if (valid(ev.node)) sim.pause(ev.node, ev.steps);
      return;
    case 'conf':
      proposeConf(sim, ev);
      return;
  }
}

/** Conf changes go through the current leader, keeping at least two voters so the cluster stays live. */
function proposeConf(sim: Simulation, ev: Extract<SimEvent, { t: 'conf' }>): void {
  const leader = sim.leader();
  if (!leader?.raw || leader.pausedUntil > sim.now || ev.node < 0 || ev.node >= sim.cfg.nodes) return;
  const target = simNodeId(ev.node);
  const { voters, learners } = leader.app.conf;
  const isVoter = voters.includes(target);
  const isLearner = learners.includes(target);
  switch (ev.op) {
    case 'addNode':
    case 'addLearner':
      if (isVoter || isLearner) return;
      break;
    case 'promote':
      if (!isLearner) return;
      break;
    case 'removeNode':
      if (!isVoter && !isLearner) return;
      if (isVoter && voters.length <= 2) return;
      break;
  }
  try {
    leader.raw.proposeConfChange({ type: ev.op, nodeId: target, context: new Uint8Array() });
    sim.log(`propose conf ${ev.op} ${ev.node} via ${leader.idx}`);
  } catch (e) {
    if (!(e instanceof ProposalDroppedError)) throw e;
  }
}

export function runSchedule(s: Schedule): RunResult {
  const sim = new Simulation(s.config);
  try {
    for (const ev of s.events) applyEvent(sim, ev);
    heal(sim);
  } catch (e) {
    if (e instanceof Error) e.message += `\n--- last trace ---\n${sim.trace.slice(-40).join('\n')}`;
    throw e;
  }
  const proposals = [...sim.proposals.values()];
  const reads = [...sim.reads.values()];
  return {
    steps: sim.now,
    proposals: proposals.length,
    acked: proposals.filter((p) => p.acked !== undefined).length,
    reads: reads.length,
    readsAnswered: reads.filter((r) => r.answered !== undefined).length,
    maxTerm: Math.max(...sim.nodes.map((n) => n.raw?.raft.term ?? 0)),
  };
}

function heal(sim: Simulation): void {
  sim.log('--- heal: all links up, all nodes running ---');
  sim.setPartition([]);
  sim.net = { drop: 0, dup: 0, delay: 3 };
  sim.clients = false;
  for (let i = 0; i < sim.cfg.nodes; i++) sim.restart(i);
  for (const n of sim.nodes) {
    n.pausedUntil = 0;
    n.tickEvery = 1;
  }

  const deadline = sim.now + RECOVERY_STEPS;
  const markers: string[] = [];
  let lastProposal = -Infinity;
  let markerAcked = false;
  while (sim.now < deadline && !markerAcked) {
    sim.step();
    markerAcked = markers.some((m) => sim.proposals.get(m)?.acked !== undefined);
    const leader = sim.leader();
    if (!markerAcked && leader && sim.now - lastProposal >= ELECTION_TICK * TICK_STEPS) {
      const m = sim.propose(leader.idx);
      if (m) {
        markers.push(m);
        lastProposal = sim.now;
      }
    }
  }
  if (!markerAcked) {
    const st = sim.nodes.map((n) => n.raw?.status()).map((s) => s && `${s.id.slice(-2)} ${s.role} t${s.term} lead ${s.lead.slice(-2)} commit ${s.commit} applied ${s.applied} voters ${s.confState.voters.map((v) => v.slice(-2))}`);
    throw new SafetyViolation(`liveness: no proposal committed within ${RECOVERY_STEPS} steps after healing\n${st.join('\n')}`);
  }

  // Every member of the final configuration catches up to the leader's commit.
  const catchUpDeadline = sim.now + RECOVERY_STEPS;
  for (;;) {
    const leader = sim.leader();
    if (leader?.raw) {
      const commit = leader.raw.raft.log.committed;
      const conf = leader.app.conf;
      const members = [...conf.voters, ...conf.learners];
      const behind = sim.nodes.filter((n) => members.includes(n.id) && n.app.applied < commit);
      if (behind.length === 0) {
        checkAckedDurable(sim, leader.idx);
        return;
      }
    }
    if (sim.now >= catchUpDeadline) throw new SafetyViolation(`liveness: members did not catch up within ${RECOVERY_STEPS} steps`);
    sim.step();
  }
}

/** Every acknowledged proposal is at its index in the final leader's log (or under its snapshot, covered by digests). */
function checkAckedDurable(sim: Simulation, leaderIdx: number): void {
  const raw = sim.nodes[leaderIdx]!.raw!;
  const view = logView(raw);
  for (const [data, p] of sim.proposals) {
    if (p.acked === undefined) continue;
    const c = sim.checker.committed.get(p.acked);
    const key = entryKey({ type: 'normal', data: Buffer.from(data) });
    if (!c || c.key !== key) throw new SafetyViolation(`acknowledged ${data} at ${p.acked} is not the committed entry there`);
    if (p.acked >= view.firstIndex()) {
      const e = view.entry(p.acked);
      if (!e || entryKey(e) !== key) throw new SafetyViolation(`acknowledged ${data} at ${p.acked} lost from the final leader's log`);
    }
  }
}
