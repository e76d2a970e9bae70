// Command-line parsing for `faultline run` and `faultline analyze`. Every
// mistake is a UsageError with a message naming the flag, which main() turns
// into exit code 3.
import { findWorkload, workloadNames } from '../../workloads/index.js';
import { NEMESIS_NAMES, type NemesisName } from '../../nemesis/types.js';
import { FOREIGN_CHECKERS, FOREIGN_FORMATS, type ForeignChecker, type ForeignFormat } from '../../checkers/io/analyze-foreign.js';
import { NIL_READS, type NilReads } from '../../checkers/linearizable.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type DbKind = 'ours' | 'etcd';
export type NetKind = 'auto' | 'iptables' | 'toxiproxy';

export interface RunOptions {
  db: DbKind;
  etcdBin: string | undefined;
  nodes: number;
  workload: string;
  nemesis: NemesisName[];
  nemesisIntervalS: number;
  timeLimitS: number;
  concurrency: number;
  rate: number;
  seed: number | undefined;
  store: string;
  serializable: boolean;
  opsPerKey: number;
  toxiproxy: string | undefined;
  net: NetKind;
  /** Partition kinds to use; undefined = every kind the mechanism can express. */
  partitionKinds: string[] | undefined;
  basePort: number | undefined;
  /** Per-operation deadline. */
  opTimeoutMs: number;
  /** Linearizability checker's time budget. */
  checkTimeoutS: number;
  name: string | undefined;
  quiet: boolean;
  /** Keep members' data dirs even after a valid run. */
  keepData: boolean;
}

interface FlagSpec {
  /** Takes a value (otherwise boolean). */
  value: boolean;
  help: string;
  placeholder?: string;
}

export const RUN_FLAGS: Record<string, FlagSpec> = {
  db: { value: true, placeholder: 'ours|etcd', help: 'server under test: ours (faultline-etcd, default) or etcd (the real binary)' },
  'etcd-bin': { value: true, placeholder: 'PATH', help: 'etcd binary for --db etcd (default: etcd on PATH)' },
  nodes: { value: true, placeholder: 'N', help: 'cluster size, 1–7 (default 3)' },
  workload: { value: true, placeholder: 'NAME', help: `workload: ${workloadNames().join(', ')} (default register)` },
  nemesis: { value: true, placeholder: 'LIST', help: 'comma list of none, partition, kill, pause, slow, all (default partition,kill,pause)' },
  'nemesis-interval': { value: true, placeholder: 'S', help: 'seconds between fault changes (default 5)' },
  'time-limit': { value: true, placeholder: 'S', help: 'seconds of warm-up plus faults (default 50); recovery and final reads follow' },
  concurrency: { value: true, placeholder: 'N', help: 'worker count (default 2 × nodes)' },
  rate: { value: true, placeholder: 'OPS', help: 'target operations per second over all workers (default 100)' },
  seed: { value: true, placeholder: 'N', help: 'random seed for op mix, values and fault choices (default: random, recorded)' },
  store: { value: true, placeholder: 'DIR', help: 'where runs are stored (default ./store)' },
  serializable: { value: false, help: 'clients read serializable (may return stale data; expect anomalies)' },
  'ops-per-key': { value: true, placeholder: 'N', help: 'operations per register key before moving to a fresh key (default 200)' },
  toxiproxy: { value: true, placeholder: 'URL', help: 'use this Toxiproxy server instead of the built-in one' },
  net: { value: true, placeholder: 'auto|iptables|toxiproxy', help: 'partition mechanism (default auto: iptables namespaces when root and --db etcd, else toxiproxy)' },
  'partition-kinds': { value: true, placeholder: 'LIST', help: 'partitions to use (default: all the mechanism can express)' },
  'base-port': { value: true, placeholder: 'PORT', help: 'first port to probe (below 32768; default random in 20000–30000)' },
  'op-timeout': { value: true, placeholder: 'MS', help: 'deadline per operation (default 5000)' },
  'check-timeout': { value: true, placeholder: 'S', help: 'time budget for the linearizability checker (default 120)' },
  name: { value: true, placeholder: 'NAME', help: 'test name for the store directory (default derived from the options)' },
  quiet: { value: false, help: 'no progress output' },
  'keep-data': { value: false, help: 'keep members\' data dirs after a valid run (always kept otherwise)' },
  help: { value: false, help: 'show this help' },
};

function usageBlock(flags: Record<string, FlagSpec>): string {
  return Object.entries(flags)
    .map(([name, spec]) => `  --${(name + (spec.value ? ` ${spec.placeholder ?? 'VALUE'}` : '')).padEnd(30)} ${spec.help}`)
    .join('\n');
}

export const MAIN_HELP = `faultline: Jepsen-style tests for etcd and faultline-etcd

Usage:
  faultline run [options]      run a test, check it, store and report it
  faultline analyze DIR        re-run the checkers on a stored run (DIR or store/latest)
  faultline analyze --format jepsen-edn|porcupine FILE [--checker linearizable|append|wr]
                               check a history written by Jepsen or Porcupine
  faultline bench [options]    throughput and latency against a target, optionally --vs etcd
  faultline bench-checkers [options]
                               the checkers' speed and memory on large generated histories
  faultline help [command]     show help

Exit codes: 0 valid, 1 anomalies found, 2 unknown, 3 the test could not run.
Run \`faultline run --help\` for the test options.
`;

export const RUN_HELP = `Usage: faultline run [options]

Starts a cluster, runs the workload under faults, checks the history and
writes store/<test>/<timestamp>/ (test.json, history.jsonl, results.json,
member logs, index.html).

Options:
${usageBlock(RUN_FLAGS)}

Exit codes: 0 valid, 1 anomalies found, 2 unknown, 3 the test could not run.
`;

export const ANALYZE_FLAGS: Record<string, FlagSpec> = {
  store: { value: true, placeholder: 'DIR', help: 'store to resolve "latest" in (default ./store)' },
  'check-timeout': { value: true, placeholder: 'S', help: 'time budget for the linearizability checker (default 120)' },
  format: { value: true, placeholder: 'FMT', help: 'faultline (a run directory, default), jepsen-edn or porcupine (a history file)' },
  checker: { value: true, placeholder: 'NAME', help: 'for --format jepsen-edn|porcupine: linearizable, append or wr (default: guessed)' },
  'initial-value': { value: true, placeholder: 'V', help: 'for --format jepsen-edn|porcupine, linearizable: every register\'s value before the first op, a number or nil (default nil = absent)' },
  'nil-reads': { value: true, placeholder: 'unknown|absent', help: 'for --format jepsen-edn|porcupine, linearizable: what an ok read of nil means (default unknown for jepsen-edn, absent for porcupine)' },
  'export-edn': { value: true, placeholder: 'FILE', help: 'also write the run\'s history as Jepsen history.edn to FILE' },
  help: { value: false, help: 'show this help' },
};

export const ANALYZE_HELP = `Usage: faultline analyze [DIR] [options]

Re-runs the checkers on a stored run's history.jsonl and rewrites its
results.json and index.html. DIR defaults to <store>/latest.

With --format jepsen-edn or porcupine, checks a history FILE written by
another tool instead: --checker linearizable (a cas-register per key),
append (Elle list-append) or wr (Elle rw-register). A checker that finds
nothing in the file it can check (e.g. a mutex history of :acquire and
:release) answers UNKNOWN (exit 2) and says what the file holds.

For Knossos's cas-register histories use --initial-value 0: Knossos checks
them against (cas-register 0), while faultline's registers start absent.
With --nil-reads unknown (the default for jepsen-edn, as in Knossos's
register models) an ok read returning nil means its value was not recorded
and constrains nothing; with absent it means the key did not exist, as in
faultline's own histories (use it for files written by --export-edn) and
Porcupine's models.
Explanations name ops as "invoked #I, ok #C": the entries' :index values
when the file has them, else their positions in the file (from 0).

Options:
${usageBlock(ANALYZE_FLAGS)}
`;

export interface ParsedFlags {
  flags: Map<string, string | true>;
  positional: string[];
}

/** Splits argv into --flags (with `--f v` or `--f=v`) and positional arguments. */
export function parseFlags(argv: readonly string[], specs: Record<string, FlagSpec>): ParsedFlags {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') {
      flags.set('help', true);
      continue;
    }
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown option --${name}`);
    if (flags.has(name)) throw new UsageError(`--${name} given twice`);
    if (!spec.value) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`--${name} needs a value (${spec.placeholder ?? 'VALUE'})`);
      i++;
    }
    flags.set(name, value);
  }
  return { flags, positional };
}

/** A flag's string value, if given. */
export function str(p: ParsedFlags, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** A numeric flag with bounds, or a UsageError naming the flag. */
export function num(p: ParsedFlags, name: string, def: number, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
  const raw = str(p, name);
  if (raw === undefined) return def;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${raw}"`);
  if (opts.integer && !Number.isInteger(n)) throw new UsageError(`--${name} must be a whole number, got "${raw}"`);
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name} must be at least ${opts.min}, got ${raw}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${name} must be at most ${opts.max}, got ${raw}`);
  return n;
}

export const DEFAULT_NEMESES: NemesisName[] = ['partition', 'kill', 'pause'];

export function parseNemesisList(raw: string): NemesisName[] {
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError('--nemesis needs at least one of none, partition, kill, pause, slow, all');
  const out = new Set<NemesisName>();
  for (const item of items) {
    if (item === 'none') continue;
    if (item === 'all') {
      for (const n of NEMESIS_NAMES) out.add(n);
      continue;
    }
    if (!(NEMESIS_NAMES as readonly string[]).includes(item)) {
      throw new UsageError(`unknown nemesis "${item}" (choose from none, partition, kill, pause, slow, all)`);
    }
    out.add(item as NemesisName);
  }
  if (items.includes('none') && out.size > 0) throw new UsageError('--nemesis none cannot be combined with other faults');
  return NEMESIS_NAMES.filter((n) => out.has(n));
}

export function parseRunArgs(argv: readonly string[]): RunOptions | 'help' {
  const p = parseFlags(argv, RUN_FLAGS);
  if (p.flags.has('help')) return 'help';
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0]}" (options start with --)`);
  const db = str(p, 'db') ?? 'ours';
  if (db !== 'ours' && db !== 'etcd') throw new UsageError(`--db must be ours or etcd, got "${db}"`);
  const etcdBin = str(p, 'etcd-bin');
  if (etcdBin !== undefined && db !== 'etcd') throw new UsageError('--etcd-bin only applies with --db etcd');
  const workload = str(p, 'workload') ?? 'register';
  if (!findWorkload(workload)) throw new UsageError(`unknown workload "${workload}" (available: ${workloadNames().join(', ')})`);
  const nodes = num(p, 'nodes', 3, { min: 1, max: 7, integer: true });
  const net = str(p, 'net') ?? 'auto';
  if (net !== 'auto' && net !== 'iptables' && net !== 'toxiproxy') throw new UsageError(`--net must be auto, iptables or toxiproxy, got "${net}"`);
  const toxiproxy = str(p, 'toxiproxy');
  if (toxiproxy !== undefined) {
    let url: URL;
    try {
      url = new URL(toxiproxy);
    } catch {
      throw new UsageError(`--toxiproxy must be a URL such as http://127.0.0.1:8474, got "${toxiproxy}"`);
    }
    if (url.protocol !== 'http:') throw new UsageError(`--toxiproxy must be an http:// URL, got "${toxiproxy}"`);
    if (net === 'iptables') throw new UsageError('--toxiproxy cannot be combined with --net iptables');
  }
  const basePortRaw = str(p, 'base-port');
  const partitionKinds = str(p, 'partition-kinds')?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (partitionKinds !== undefined && partitionKinds.length === 0) throw new UsageError('--partition-kinds needs at least one kind');
  return {
    db,
    etcdBin,
    nodes,
    workload,
    nemesis: parseNemesisList(str(p, 'nemesis') ?? DEFAULT_NEMESES.join(',')),
    nemesisIntervalS: num(p, 'nemesis-interval', 5, { min: 0.1, max: 3600 }),
    timeLimitS: num(p, 'time-limit', 50, { min: 1, max: 86_400 }),
    concurrency: num(p, 'concurrency', 2 * nodes, { min: 1, max: 1000, integer: true }),
    rate: num(p, 'rate', 100, { min: 0.1, max: 100_000 }),
    seed: str(p, 'seed') === undefined ? undefined : num(p, 'seed', 0, { min: 0, max: 2 ** 31 - 1, integer: true }),
    store: str(p, 'store') ?? 'store',
    serializable: p.flags.has('serializable'),
    opsPerKey: num(p, 'ops-per-key', 200, { min: 1, max: 1_000_000, integer: true }),
    toxiproxy,
    net,
    partitionKinds,
    basePort: basePortRaw === undefined ? undefined : num(p, 'base-port', 0, { min: 1024, max: 32767 - 2 * nodes * 3, integer: true }),
    opTimeoutMs: num(p, 'op-timeout', 5000, { min: 10, max: 600_000 }),
    checkTimeoutS: num(p, 'check-timeout', 120, { min: 1, max: 86_400 }),
    name: str(p, 'name'),
    quiet: p.flags.has('quiet'),
    keepData: p.flags.has('keep-data'),
  };
}

export interface AnalyzeOptions {
  dir: string | undefined;
  store: string;
  checkTimeoutS: number;
  format?: 'faultline' | ForeignFormat;
  checker?: ForeignChecker;
  /** Foreign histories: every register's initial value; null = absent. */
  initialValue?: number | null;
  /** Foreign histories: what an ok read of nil means; undefined = the format's default. */
  nilReads?: NilReads;
  exportEdn?: string;
}

/** --initial-value: a number, or nil/absent for an absent key. */
function parseInitialValue(raw: string): number | null {
  if (raw === 'nil' || raw === 'absent') return null;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--initial-value must be a number, nil or absent, got "${raw}"`);
  return n;
}

export function parseAnalyzeArgs(argv: readonly string[]): AnalyzeOptions | 'help' {
  const p = parseFlags(argv, ANALYZE_FLAGS);
  if (p.flags.has('help')) return 'help';
  if (p.positional.length > 1) throw new UsageError(`analyze takes one directory, got ${p.positional.length}`);
  const format = str(p, 'format') ?? 'faultline';
  if (format !== 'faultline' && !(FOREIGN_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be faultline, ${FOREIGN_FORMATS.join(' or ')}, got "${format}"`);
  const checker = str(p, 'checker');
  if (checker !== undefined && !(FOREIGN_CHECKERS as readonly string[]).includes(checker)) throw new UsageError(`--checker must be ${FOREIGN_CHECKERS.join(', ')}, got "${checker}"`);
  if (checker !== undefined && format === 'faultline') throw new UsageError('--checker needs --format jepsen-edn or porcupine');
  if (format !== 'faultline' && p.positional[0] === undefined) throw new UsageError(`--format ${format} needs a history FILE`);
  const initialRaw = str(p, 'initial-value');
  const nilReads = str(p, 'nil-reads');
  // A stored run's semantics are fixed by how faultline recorded it.
  for (const [flag, given] of [['initial-value', initialRaw], ['nil-reads', nilReads]] as const) {
    if (given !== undefined && format === 'faultline') throw new UsageError(`--${flag} needs --format jepsen-edn or porcupine`);
  }
  if (nilReads !== undefined && !(NIL_READS as readonly string[]).includes(nilReads)) throw new UsageError(`--nil-reads must be unknown or absent, got "${nilReads}"`);
  if ((initialRaw !== undefined || nilReads !== undefined) && checker !== undefined && checker !== 'linearizable') {
    throw new UsageError(`--initial-value and --nil-reads apply to --checker linearizable, not ${checker}`);
  }
  return {
    dir: p.positional[0],
    store: str(p, 'store') ?? 'store',
    checkTimeoutS: num(p, 'check-timeout', 120, { min: 1 }),
    ...(format !== 'faultline' ? { format: format as ForeignFormat } : {}),
    ...(checker !== undefined ? { checker: checker as ForeignChecker } : {}),
    ...(initialRaw !== undefined ? { initialValue: parseInitialValue(initialRaw) } : {}),
    ...(nilReads !== undefined ? { nilReads: nilReads as NilReads } : {}),
    ...(str(p, 'export-edn') !== undefined ? { exportEdn: str(p, 'export-edn') } : {}),
  };
}
