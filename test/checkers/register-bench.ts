// Throughput check for the register checkers on a large simulated history:
// by default 100,000 ops over 100 keys with 1% indeterminate ops. Not a test;
// run it compiled, e.g. `node register-bench.js [ops] [keys] [processes] [info%] [anomaly]`,
// where anomaly is stale-read, lost-write or duplicated-write (injected on key k0).

import { checkRegister } from '../../checkers/index.js';
import { seededRandom } from '../../etcd/util/prng.js';
import type { RegisterOp } from '../../harness/history.js';
import { inject, simulate, toHistory } from './register-sim.js';
import type { InjectionKind, OpSpec } from './register-sim.js';


export function benchHistory(
  ops: number,
  keys: number,
  processes: number,
  infoPercent: number,
  anomaly?: InjectionKind,
  seed = 1,
): RegisterOp[] {
  const rnd = seededRandom(seed);
  const pick = (n: number): number => Math.floor(rnd() * n);
  const fs = ['read', 'read', 'write', 'cas'] as const;
  const specs: OpSpec[] = [];
  for (let i = 0; i < ops; i++) {
    const info = rnd() * 100 < infoPercent;
    specs.push({
      proc: pick(processes),
      key: pick(keys),
      f: fs[pick(fs.length)]!,
      gap: pick(5),
      dur: 1 + pick(8),
      lp: pick(98),
      outcome: info ? (rnd() < 0.5 ? 'info-applied' : 'info-lost') : 'ok',
      casHit: rnd() < 0.75,
    });
  }
  const simulated = simulate(specs, { processes, keys, cutPercent: 100 });
  return toHistory(anomaly === undefined ? simulated : inject(simulated, { kind: anomaly, at: 0.6, key: 0, pick: 3 }).ops);
}

function main(): void {
  const args = process.argv.slice(2);
  const [ops = 100_000, keys = 100, processes = 50, infoPercent = 1] = args.slice(0, 4).map(Number);
  const anomaly = args[4] as InjectionKind | undefined;
  const history = benchHistory(ops, keys, processes, infoPercent, anomaly);
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  const r = checkRegister(history, { budget: { deadline: start + 60_000, now: () => performance.now() } });
  const ms = performance.now() - start;
  const rss = process.memoryUsage().rss;
  console.log(
    JSON.stringify({
      ops,
      keys,
      processes,
      infoPercent,
      events: history.length,
      anomaly,
      valid: r.valid,
      linearizable: r.linearizable.valid,
      cause: r.linearizable.cause,
      counts: r.counts,
      steps: r.linearizable.steps,
      ms: Math.round(ms),
      rssMB: Math.round(rss / 2 ** 20),
      rssGrowthMB: Math.round((rss - rssBefore) / 2 ** 20),
    }),
  );
}

if (process.argv[1]?.endsWith('register-bench.js')) main();
