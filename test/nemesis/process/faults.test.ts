import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createClock } from '../../../harness/clock.js';
import { HistoryWriter } from '../../../harness/history-log.js';
import { pairOps } from '../../../harness/history.js';
import { createRng } from '../../../harness/random.js';
import { KillFault } from '../../../nemesis/process/kill.js';
import { PauseFault } from '../../../nemesis/process/pause.js';
import { NemesisScheduler } from '../../../nemesis/schedule.js';
import { chooseTargets } from '../../../nemesis/targets.js';
import type { ClusterControl, MemberControl, NemesisEnv } from '../../../nemesis/types.js';

class FakeMember implements MemberControl {
  state: MemberControl['state'] = 'running';
  readonly calls: string[] = [];
  constructor(readonly name: string) {}
  async kill() {
    this.calls.push('kill');
    this.state = 'killed';
  }
  start() {
    this.calls.push('start');
    this.state = 'running';
  }
  pause() {
    this.calls.push('pause');
    if (this.state === 'running') this.state = 'paused';
  }
  resume() {
    this.calls.push('resume');
    if (this.state === 'paused') this.state = 'running';
  }
}

function fakeCluster(n: number, leader = 'n2'): ClusterControl & { ms: FakeMember[] } {
  const ms = Array.from({ length: n }, (_, i) => new FakeMember(`n${i + 1}`));
  return { ms, names: ms.map((m) => m.name), member: (name) => ms.find((m) => m.name === name)!, leader: async () => leader };
}

const env = (cluster: ClusterControl, seed = 1): NemesisEnv => ({ cluster, rng: createRng(seed), log: () => undefined });

describe('chooseTargets', () => {
  const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
  it('picks sizes by mode', () => {
    for (let seed = 0; seed < 50; seed++) {
      const rng = createRng(seed);
      expect(chooseTargets('one', names, undefined, rng).targets).toHaveLength(1);
      const minority = chooseTargets('minority', names, undefined, rng).targets;
      expect(minority.length).toBeGreaterThanOrEqual(1);
      expect(minority.length).toBeLessThanOrEqual(2);
      expect(chooseTargets('majority', names, undefined, rng).targets).toHaveLength(3);
      expect(chooseTargets('all', names, undefined, rng).targets).toEqual(names);
    }
  });
  it('targets the leader, or says it could not', () => {
    expect(chooseTargets('leader', ['n1', 'n2', 'n3'], 'n3', createRng(1))).toEqual({ mode: 'leader', targets: ['n3'] });
    const c = chooseTargets('leader', ['n1', 'n2', 'n3'], undefined, createRng(1));
    expect(c.targets).toHaveLength(1);
    expect(c.note).toMatch(/leader unknown/);
  });
});

describe('KillFault', () => {
  it('kills the chosen members and restarts exactly those', async () => {
    const cluster = fakeCluster(3);
    const fault = new KillFault(env(cluster), ['leader']);
    const started = await fault.start();
    expect(started).toEqual({ mode: 'leader', targets: ['n2'] });
    expect(cluster.ms[1]!.state).toBe('killed');
    expect(fault.active).toBe(true);
    const stopped = await fault.stop();
    expect(stopped).toEqual({ targets: ['n2'] });
    expect(cluster.ms.map((m) => m.calls)).toEqual([[], ['kill', 'start'], []]);
    expect(fault.active).toBe(false);
  });
  it('kills everyone in mode all', async () => {
    const cluster = fakeCluster(3);
    const fault = new KillFault(env(cluster), ['all']);
    await fault.start();
    expect(cluster.ms.every((m) => m.state === 'killed')).toBe(true);
    await fault.stop();
    expect(cluster.ms.every((m) => m.state === 'running')).toBe(true);
  });
});

describe('PauseFault', () => {
  it('pauses running members only and resumes those still paused', async () => {
    const cluster = fakeCluster(3);
    cluster.ms[1]!.state = 'killed';
    const fault = new PauseFault(env(cluster), ['leader']);
    // The leader is down: nothing to pause.
    expect((await fault.start()).targets).toEqual([]);
    cluster.ms[1]!.state = 'running';
    const r = await fault.start();
    expect(r.targets).toEqual(['n2']);
    expect(cluster.ms[1]!.state).toBe('paused');
    expect((await fault.stop()).targets).toEqual(['n2']);
    expect(cluster.ms[1]!.state).toBe('running');
  });
});

describe('NemesisScheduler', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('alternates each fault, records start/stop as sequential nemesis ops, and heals at the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-nem-'));
    dirs.push(dir);
    const history = new HistoryWriter(join(dir, 'h.jsonl'));
    const cluster = fakeCluster(3);
    const e = env(cluster, 3);
    const faults = [new KillFault(e), new PauseFault(e)];
    const failing = {
      name: 'flaky',
      active: false,
      start: async () => {
        throw new Error('cannot');
      },
      stop: async () => ({}),
    };
    const s = new NemesisScheduler({ faults: [...faults, failing], intervalMs: 30, history, clock: createClock(), rng: createRng(9) });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 400);
    await s.run(stop.signal);
    await s.healAll();
    history.close();
    const ops = history.ops;
    expect(ops.every((o) => o.process === 'nemesis')).toBe(true);
    // Never two nemesis ops open at once: pairOps would throw.
    const pairs = pairOps(ops);
    expect(pairs.every((p) => p.complete !== undefined)).toBe(true);
    expect(s.stats.kill!.starts).toBeGreaterThanOrEqual(2);
    expect(s.stats.pause!.starts).toBeGreaterThanOrEqual(2);
    expect(s.stats.flaky!.errors.length).toBeGreaterThanOrEqual(1);
    expect(pairs.some((p) => p.complete!.type === 'info' && p.invoke.f === 'start-flaky')).toBe(true);
    expect(s.active).toEqual([]);
    expect(cluster.ms.every((m) => m.state === 'running')).toBe(true);
    const starts = ops.filter((o) => o.type === 'ok' && o.f === 'start-kill');
    expect((starts[0]!.value as { targets: string[] }).targets.length).toBeGreaterThanOrEqual(1);
  });
});
