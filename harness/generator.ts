// The generator: workers issuing the workload's operations at a target rate
// with jitter, each bound to one member, and the phase plan of a run
// (warm-up → faults → heal → recovery → final reads).
import type { Clock } from './clock.js';
import { sleep } from './clock.js';
import type { EtcdClient } from './client/etcd-client.js';
import type { HistoryWriter } from './history-log.js';
import type { ProcessId } from './history.js';
import type { Rng } from './random.js';
import type { Invocation, Workload } from '../workloads/types.js';

export interface PhasePlan {
  /** Ops only, no faults. */
  warmupMs: number;
  /** Ops with faults every nemesis interval. */
  faultsMs: number;
  /** After healing: ops only, so the cluster can show it recovered. */
  recoveryMs: number;
}

/**
 * --time-limit covers warm-up plus the fault phase (as Jepsen's time limit
 * covers the main phase); recovery and final reads come after.
 */
export function planPhases(timeLimitS: number, withFaults: boolean): PhasePlan {
  const totalMs = Math.max(1, timeLimitS) * 1000;
  const warmupMs = withFaults ? Math.min(5000, Math.round(totalMs * 0.2)) : 0;
  const recoveryMs = withFaults ? Math.min(10_000, Math.max(2000, Math.round(totalMs * 0.2))) : 0;
  return { warmupMs, faultsMs: totalMs - warmupMs, recoveryMs };
}

/**
 * Delay before a worker's next op. With `concurrency` workers each waiting a
 * uniform [0, 2·concurrency/rate) s, the cluster sees `rate` ops/s on average
 * (less when ops are slow: a worker never has two ops in flight).
 */
export function staggerMs(rng: Rng, rate: number, concurrency: number): number {
  if (!(rate > 0)) return 0;
  return rng.next() * 2 * (concurrency / rate) * 1000;
}

/** Worker i is bound to member i mod n, as in Jepsen. */
export function memberForWorker(worker: number, members: readonly string[]): string {
  return members[worker % members.length]!;
}

/**
 * A worker whose op ended in info may still have that op in flight, so it
 * continues under a fresh process id: worker + k·concurrency (Jepsen's scheme),
 * which keeps ids unique and maps back to the worker by modulo.
 */
export function nextProcessId(current: number, concurrency: number): number {
  return current + concurrency;
}

export interface OpCounters {
  ok: number;
  fail: number;
  info: number;
}

export interface WorkerPoolOptions<V> {
  concurrency: number;
  members: readonly string[];
  rate: number;
  workload: Workload<V>;
  history: HistoryWriter;
  clock: Clock;
  rng: Rng;
  /** A fresh client bound to a member; called again when a worker changes process. */
  connect: (member: string) => EtcdClient;
  counters: OpCounters;
}

/** Runs one op: invoke record, call, completion record. Returns the completion type. */
async function runOne<V>(
  opts: WorkerPoolOptions<V>,
  client: EtcdClient,
  process: ProcessId,
  member: string,
  op: Invocation<V>,
): Promise<'ok' | 'fail' | 'info'> {
  opts.history.append({ type: 'invoke', process, f: op.f, value: op.value, time: opts.clock.now(), member });
  const c = await opts.workload.invoke(client, op);
  opts.history.append({
    type: c.type,
    process,
    f: op.f,
    value: c.value,
    time: opts.clock.now(),
    member,
    ...(c.revision !== undefined ? { revision: c.revision } : {}),
    ...(c.memberId !== undefined ? { memberId: c.memberId } : {}),
    ...(c.error !== undefined ? { error: c.error } : {}),
  });
  opts.counters[c.type]++;
  return c.type;
}

export class WorkerPool<V> {
  private readonly processes: number[];
  private readonly clients: EtcdClient[];

  constructor(private readonly opts: WorkerPoolOptions<V>) {
    this.processes = Array.from({ length: opts.concurrency }, (_, i) => i);
    this.clients = this.processes.map((w) => opts.connect(memberForWorker(w, opts.members)));
  }

  /** Issues ops until `signal` aborts; each worker finishes its op in flight. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(
      this.processes.map(async (_, w) => {
        const rng = this.opts.rng.fork(`worker-${w}`);
        await sleep(staggerMs(rng, this.opts.rate, this.opts.concurrency), signal);
        while (!signal.aborted) {
          const op = this.opts.workload.next();
          if (op === null) break;
          await this.runAs(w, op);
          await sleep(staggerMs(rng, this.opts.rate, this.opts.concurrency), signal);
        }
      }),
    );
  }

  /**
   * Final reads: every key read once through every member, spread over the
   * workers bound to that member.
   */
  async finalReads(): Promise<void> {
    const reads = this.opts.workload.finalReads();
    const members = this.opts.members;
    await Promise.all(
      this.processes.map(async (_, w) => {
        const member = memberForWorker(w, members);
        const peers = this.processes.map((__, i) => i).filter((i) => memberForWorker(i, members) === member);
        const rank = peers.indexOf(w);
        for (let k = rank; k < reads.length; k += peers.length) await this.runAs(w, reads[k]!);
      }),
    );
  }

  private async runAs(w: number, op: Invocation<V>): Promise<void> {
    const member = memberForWorker(w, this.opts.members);
    const type = await runOne(this.opts, this.clients[w]!, this.processes[w]!, member, op);
    if (type === 'info') {
      this.processes[w] = nextProcessId(this.processes[w]!, this.opts.concurrency);
      this.clients[w]!.close();
      this.clients[w] = this.opts.connect(member);
    }
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
