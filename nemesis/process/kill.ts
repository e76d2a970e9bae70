// The kill nemesis: SIGKILL one member, a minority, the leader, or all of
// them; stop restarts them on the same data dir.
import { chooseTargets, type TargetMode } from '../targets.js';
import type { Fault, FaultReport, NemesisEnv } from '../types.js';

export const KILL_MODES: readonly TargetMode[] = ['one', 'minority', 'leader', 'all'];

export class KillFault implements Fault {
  readonly name = 'kill';
  private killed: string[] = [];

  constructor(
    private readonly env: NemesisEnv,
    private readonly modes: readonly TargetMode[] = KILL_MODES,
  ) {}

  get active(): boolean {
    return this.killed.length > 0;
  }

  async start(): Promise<FaultReport> {
    const { cluster, rng } = this.env;
    const mode = rng.pick(this.modes);
    const leader = mode === 'leader' ? await cluster.leader() : undefined;
    const choice = chooseTargets(mode, cluster.names, leader, rng);
    const targets = choice.targets.filter((n) => !this.killed.includes(n));
    await Promise.all(targets.map((n) => cluster.member(n).kill()));
    this.killed.push(...targets);
    return { mode, targets, ...(choice.note ? { note: choice.note } : {}) };
  }

  async stop(): Promise<FaultReport> {
    const restarted: string[] = [];
    for (const name of this.killed) {
      const m = this.env.cluster.member(name);
      if (m.state === 'running' || m.state === 'paused') continue;
      m.start();
      restarted.push(name);
    }
    this.killed = [];
    return { targets: restarted };
  }
}
