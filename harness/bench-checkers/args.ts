// `faultline bench-checkers` options: which cases to run and the shape of the
// generated histories. Every mistake is a UsageError naming the flag.
import { num, parseFlags, str, UsageError } from '../cli/args.js';

export const CASE_NAMES = ['append', 'wr', 'linearizable', 'pathological'] as const;
export type CaseName = (typeof CASE_NAMES)[number];

export interface BenchCheckersOptions {
  cases: CaseName[];
  /** append and wr: transactions in the history. */
  txns: number;
  /** linearizable: operations in the history. */
  ops: number;
  /** linearizable: independent register keys. */
  keys: number;
  /** linearizable: percent of operations that end indeterminate. */
  infoPercent: number;
  /** Concurrent client processes in the append, wr and linearizable histories. */
  processes: number;
  /** pathological: the checker's time budget, seconds. */
  budgetS: number;
  seed: number;
  json: boolean;
}

interface FlagSpec {
  value: boolean;
  help: string;
  placeholder?: string;
}

export const BENCH_CHECKERS_FLAGS: Record<string, FlagSpec> = {
  only: { value: true, placeholder: 'CASES', help: `comma list of ${CASE_NAMES.join(', ')} (default: all four)` },
  txns: { value: true, placeholder: 'N', help: 'append and wr: transactions per history (default 100000)' },
  ops: { value: true, placeholder: 'N', help: 'linearizable: register operations (default 100000)' },
  keys: { value: true, placeholder: 'N', help: 'linearizable: register keys (default 100)' },
  'info-percent': { value: true, placeholder: 'P', help: 'linearizable: percent of operations that end indeterminate (default 1)' },
  processes: { value: true, placeholder: 'N', help: 'append, wr, linearizable: concurrent client processes (default 10)' },
  budget: { value: true, placeholder: 'S', help: 'pathological: the checker\'s time budget in seconds (default 2)' },
  seed: { value: true, placeholder: 'N', help: 'seed of the generated histories (default 1)' },
  json: { value: false, help: 'one JSON document on stdout, no human text' },
  help: { value: false, help: 'show this help' },
};

function usageBlock(flags: Record<string, FlagSpec>): string {
  return Object.entries(flags)
    .map(([name, spec]) => `  --${(name + (spec.value ? ` ${spec.placeholder ?? 'VALUE'}` : '')).padEnd(26)} ${spec.help}`)
    .join('\n');
}

export const BENCH_CHECKERS_HELP = `Usage: faultline bench-checkers [options]

Measures the checkers on large generated histories, with no cluster
involved. Each history is generated first (not timed); then the check runs
alone and the command reports its size, wall and CPU time, throughput,
memory and verdict, against these targets:

  append        Elle list-append, 100,000 txns: at least 100,000 txns/s, valid
  wr            Elle rw-register, 100,000 txns: at least 100,000 txns/s, valid
  linearizable  100,000 register ops over 100 keys, 1% indeterminate:
                under 2 s and under 500 MB peak RSS, valid
  pathological  4 keys, each with 40 concurrent writes (a third of them
                indeterminate) and 10 concurrent reads, crafted so the
                linearizability search explodes: ends "unknown" within
                its --budget plus 1 s

The Elle histories use 3 active keys, each retired after 200 writes, as
\`faultline run --workload append|wr\` does by default. Histories are
strict-serializable or linearizable by construction (except the
pathological one), and the same seed gives the same histories.

Targets are judged on wall time; throughput per CPU second is shown too,
since other work on the machine lengthens wall time. Memory: peak RSS is
the whole process's (the history included), sampled every 5 ms by a worker
thread while the check runs; heap used is V8's main heap just before the
check (after a forced GC, when GC can be forced) and right after it.
MB = 10^6 bytes.

Options:
${usageBlock(BENCH_CHECKERS_FLAGS)}

Exit codes: 0 every target met, 1 a target missed, 3 bad options.
`;

function parseCases(raw: string): CaseName[] {
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--only needs at least one of ${CASE_NAMES.join(', ')}`);
  for (const item of items) {
    if (!(CASE_NAMES as readonly string[]).includes(item)) throw new UsageError(`unknown case "${item}" for --only (choose from ${CASE_NAMES.join(', ')})`);
  }
  // Always in the documented order, each once.
  return CASE_NAMES.filter((c) => items.includes(c));
}

export function parseBenchCheckersArgs(argv: readonly string[]): BenchCheckersOptions | 'help' {
  const p = parseFlags(argv, BENCH_CHECKERS_FLAGS);
  if (p.flags.has('help')) return 'help';
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0]}" (options start with --)`);
  const onlyRaw = str(p, 'only');
  return {
    cases: onlyRaw === undefined ? [...CASE_NAMES] : parseCases(onlyRaw),
    txns: num(p, 'txns', 100_000, { min: 1, max: 10_000_000, integer: true }),
    ops: num(p, 'ops', 100_000, { min: 1, max: 10_000_000, integer: true }),
    keys: num(p, 'keys', 100, { min: 1, max: 1_000_000, integer: true }),
    infoPercent: num(p, 'info-percent', 1, { min: 0, max: 100 }),
    processes: num(p, 'processes', 10, { min: 1, max: 10_000, integer: true }),
    budgetS: num(p, 'budget', 2, { min: 0.01, max: 3600 }),
    seed: num(p, 'seed', 1, { min: 0, max: 2 ** 31 - 1, integer: true }),
    json: p.flags.has('json'),
  };
}
