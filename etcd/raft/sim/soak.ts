// Soak: runs many random simulation schedules and prints the failing ones
// with what is needed to replay them.
//   node dist/etcd/raft/sim/soak.js --runs 2000 [--seed 42] [--events 60]
//   node dist/etcd/raft/sim/soak.js --replay <run seed>   (re-runs one failing run, printing its schedule)

import { seededRandom, mixSeed } from '../prng.js';
import { randomSchedule } from './schedule.js';
import { runSchedule } from './run.js';

interface Args {
  runs: number;
  seed: number;
  events: number;
  stopAfter: number;
  replay: number | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { runs: 1000, seed: Date.now() % 2 ** 31, events: 60, stopAfter: 5, replay: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const val = Number(argv[i + 1]);
    if (flag === '--runs' && Number.isInteger(val)) args.runs = val;
    else if (flag === '--seed' && Number.isInteger(val)) args.seed = val;
    else if (flag === '--events' && Number.isInteger(val)) args.events = val;
    else if (flag === '--stop-after' && Number.isInteger(val)) args.stopAfter = val;
    else if (flag === '--replay' && Number.isInteger(val)) args.replay = val;
    else if (flag === '--help') {
      console.log('usage: soak [--runs N] [--seed S] [--events MAX] [--stop-after FAILURES] [--replay RUN_SEED]');
      process.exit(0);
    } else continue;
    i++;
  }
  return args;
}

function replay(runSeed: number, events: number): void {
  const schedule = randomSchedule(seededRandom(runSeed), events);
  console.log(`schedule: ${JSON.stringify(schedule)}`);
  try {
    console.log(JSON.stringify(runSchedule(schedule)));
    console.log('1 passed, 0 failed');
  } catch (e) {
    console.log(e instanceof Error ? (e.stack ?? e.message) : String(e));
    console.log('0 passed, 1 failed');
    process.exitCode = 1;
  }
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (args.replay !== undefined) {
    replay(args.replay, args.events);
    return;
  }
  console.log(`raft soak: ${args.runs} runs, seed ${args.seed}, up to ${args.events} events each`);
  const started = Date.now();
  let failures = 0;
  let steps = 0;
  let acked = 0;
  for (let run = 0; run < args.runs; run++) {
    const runSeed = mixSeed(args.seed, run);
    const schedule = randomSchedule(seededRandom(runSeed), args.events);
    try {
      const r = runSchedule(schedule);
      steps += r.steps;
      acked += r.acked;
    } catch (e) {
      failures++;
      console.log(`FAIL run ${run}: replay with --replay ${runSeed} --events ${args.events}`);
      console.log(e instanceof Error ? e.message : String(e));
      console.log(`schedule: ${JSON.stringify(schedule)}`);
      if (failures >= args.stopAfter) break;
    }
    if ((run + 1) % Math.max(500, Math.floor(args.runs / 10)) === 0) console.log(`... ${run + 1} runs, ${failures} failures, ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${args.runs - failures} passed, ${failures} failed (${steps} simulated steps, ${acked} acknowledged writes, ${secs}s)`);
  process.exitCode = failures > 0 ? 1 : 0;
}

main();
