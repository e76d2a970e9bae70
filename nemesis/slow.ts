// The slow nemesis: latency with jitter on every peer link (Toxiproxy latency
// toxics); stop removes it. Like etcd's robustness DelayPeerNetwork.
import type { NetMechanism } from './net/index.js';
import type { Fault, FaultReport, NemesisEnv } from './types.js';

export const SLOW_LATENCIES_MS = [25, 75, 150] as const;

export class SlowFault implements Fault {
  readonly name = 'slow';
  private on = false;

  constructor(
    private readonly env: NemesisEnv,
    private readonly mechanism: NetMechanism,
  ) {
    if (!mechanism.slow || !mechanism.fast) throw new Error(`the ${mechanism.name} mechanism cannot slow the network`);
  }

  get active(): boolean {
    return this.on;
  }

  async start(): Promise<FaultReport> {
    const latencyMs = this.env.rng.pick(SLOW_LATENCIES_MS);
    const jitterMs = Math.round(latencyMs * 2 / 3);
    await this.mechanism.slow!({ latencyMs, jitterMs });
    this.on = true;
    return { latencyMs, jitterMs, mechanism: this.mechanism.name };
  }

  async stop(): Promise<FaultReport> {
    await this.mechanism.fast!();
    this.on = false;
    return { mechanism: this.mechanism.name };
  }
}
