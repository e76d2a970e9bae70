// The pause nemesis: SIGSTOP one member, a minority, or the leader; stop
// sends SIGCONT. A paused member keeps its sockets open, so clients bound to
// it hang until their deadline instead of failing fast.
import { chooseTargets, type TargetMode } from '../targets.js';
import type { Fault, FaultReport, NemesisEnv } from '../types.js';

export const PAUSE_MODES: readonly TargetMode[] = ['one', 'minority', 'leader'];

export class PauseFault implements Fault {
  readonly name = 'pause';
  private paused: string[] = [];

  constructor(
    private readonly env: NemesisEnv,
    private readonly modes: readonly TargetMode[] = PAUSE_MODES,
  ) {}

  get active(): boolean {
    return this.paused.length > 0;
  }

  async start(): Promise<FaultReport> {
    const { cluster, rng } = this.env;
    const mode = rng.pick(this.modes);
    const leader = mode === 'leader' ? await cluster.leader() : undefined;
    const choice = chooseTargets(mode, cluster.names, leader, rng);
    // A member that is down (killed) cannot be paused.
    const targets = choice.targets.filter((n) => cluster.member(n).state === 'running');
    for (const n of targets) cluster.member(n).pause();
    this.paused.push(...targets);
    return { mode, targets, ...(choice.note ? { note: choice.note } : {}) };
  }

  async stop(): Promise<FaultReport> {
    const resumed: string[] = [];
    for (const n of this.paused) {
      const m = this.env.cluster.member(n);
      if (m.state === 'paused') {
        m.resume();
        resumed.push(n);
      }
    }
    this.paused = [];
    return { targets: resumed };
  }
}
