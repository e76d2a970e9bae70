// The faultline command line: `run`, `analyze`, `bench`, `bench-checkers`,
// `help`. Returns the exit code: 0 valid, 1 anomalies found, 2 unknown, 3 the
// test could not run (bench, bench-checkers: 0 targets met, 1 a target
// missed, 3 could not run).
import { analyzeRun } from '../analyze.js';
import { BENCH_HELP, parseBenchArgs } from '../bench/args.js';
import { runBench } from '../bench/bench.js';
import { BENCH_CHECKERS_HELP, parseBenchCheckersArgs } from '../bench-checkers/args.js';
import { runBenchCheckers } from '../bench-checkers/bench.js';
import { runTest } from '../run.js';
import { CouldNotRun } from '../server.js';
import { ANALYZE_HELP, MAIN_HELP, parseAnalyzeArgs, parseRunArgs, RUN_HELP, UsageError } from './args.js';

/** Help text per command, for `faultline help COMMAND`. */
const HELP: Record<string, string> = {
  run: RUN_HELP,
  analyze: ANALYZE_HELP,
  bench: BENCH_HELP,
  'bench-checkers': BENCH_CHECKERS_HELP,
};
const helpFor = (command: string | undefined): string | undefined => (command !== undefined && Object.hasOwn(HELP, command) ? HELP[command] : undefined);

export interface MainIo {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  installHooks: boolean;
}

export async function main(argv: string[], io: MainIo = { out: process.stdout, err: process.stderr, installHooks: true }): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h': {
        const topic = command === 'help' ? rest[0] : undefined;
        io.out.write(helpFor(topic) ?? MAIN_HELP);
        return command === undefined ? 3 : 0;
      }
      case 'run': {
        const opts = parseRunArgs(rest);
        if (opts === 'help') {
          io.out.write(RUN_HELP);
          return 0;
        }
        return (await runTest(opts, io)).exitCode;
      }
      case 'analyze': {
        const opts = parseAnalyzeArgs(rest);
        if (opts === 'help') {
          io.out.write(ANALYZE_HELP);
          return 0;
        }
        return await analyzeRun(opts, io.out);
      }
      case 'bench': {
        const opts = parseBenchArgs(rest);
        if (opts === 'help') {
          io.out.write(BENCH_HELP);
          return 0;
        }
        return (await runBench(opts, io, rest)).exitCode;
      }
      case 'bench-checkers': {
        const opts = parseBenchCheckersArgs(rest);
        if (opts === 'help') {
          io.out.write(BENCH_CHECKERS_HELP);
          return 0;
        }
        return (await runBenchCheckers(opts, io)).exitCode;
      }
      default:
        throw new UsageError(`unknown command "${command}" (commands: run, analyze, bench, bench-checkers, help)`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err.write(`faultline: ${err.message}\nRun \`faultline ${helpFor(command) !== undefined ? `${command} ` : ''}--help\` for usage.\n`);
      return 3;
    }
    if (err instanceof CouldNotRun) {
      io.err.write(`faultline: ${err.message}\n`);
      return 3;
    }
    throw err;
  }
}
