// Runs the faults: each fault class alternates start and stop on its own
// staggered clock (interval × [0.5, 1.5)), so faults of different classes
// overlap as in Jepsen's combined nemesis. Every start/stop is recorded in the
// history as process 'nemesis', invocation then completion; a lock keeps the
// nemesis's records strictly sequential.
import { sleep, type Clock } from '../harness/clock.js';
import type { HistoryWriter } from '../harness/history-log.js';
import type { Rng } from '../harness/random.js';
import type { Fault, FaultReport } from './types.js';

export interface FaultStats {
  starts: number;
  stops: number;
  errors: string[];
}

export interface NemesisScheduleOptions {
  faults: Fault[];
  intervalMs: number;
  history: HistoryWriter;
  clock: Clock;
  rng: Rng;
  log?: (msg: string) => void;
}

export class NemesisScheduler {
  private lock: Promise<unknown> = Promise.resolve();
  readonly stats: Record<string, FaultStats> = {};

  constructor(private readonly opts: NemesisScheduleOptions) {
    for (const f of opts.faults) this.stats[f.name] = { starts: 0, stops: 0, errors: [] };
  }

  /** Names of faults currently in effect. */
  get active(): string[] {
    return this.opts.faults.filter((f) => f.active).map((f) => f.name);
  }

  /** Alternates each fault until `signal` aborts; does not heal. */
  async run(signal: AbortSignal): Promise<void> {
    const { intervalMs } = this.opts;
    await Promise.all(
      this.opts.faults.map(async (fault) => {
        const rng = this.opts.rng.fork(`schedule-${fault.name}`);
        await sleep(rng.between(0, intervalMs), signal);
        while (!signal.aborted) {
          await this.record(fault, 'start');
          await sleep(rng.between(0.5, 1.5) * intervalMs, signal);
          if (signal.aborted) break;
          await this.record(fault, 'stop');
          await sleep(rng.between(0.5, 1.5) * intervalMs, signal);
        }
      }),
    );
  }

  /** Stops every active fault, recording each stop. */
  async healAll(): Promise<void> {
    for (const fault of this.opts.faults) if (fault.active) await this.record(fault, 'stop');
  }

  private record(fault: Fault, action: 'start' | 'stop'): Promise<void> {
    const run = async () => {
      const { history, clock } = this.opts;
      const f = `${action}-${fault.name}`;
      history.append({ type: 'invoke', process: 'nemesis', f, value: null, time: clock.now() });
      try {
        const report: FaultReport = action === 'start' ? await fault.start() : await fault.stop();
        history.append({ type: 'ok', process: 'nemesis', f, value: report, time: clock.now() });
        this.stats[fault.name]![action === 'start' ? 'starts' : 'stops']++;
        this.opts.log?.(`nemesis ${f} ${JSON.stringify(report)}`);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        history.append({ type: 'info', process: 'nemesis', f, value: null, time: clock.now(), error });
        this.stats[fault.name]!.errors.push(`${f}: ${error}`);
        this.opts.log?.(`nemesis ${f} failed: ${error}`);
      }
    };
    const next = this.lock.then(run, run);
    this.lock = next;
    return next;
  }
}
