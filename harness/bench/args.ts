// `faultline bench` options. Client model and defaults follow etcd's
// benchmark tool: --conns gRPC connections shared round-robin by --clients
// concurrent workers; the key, value and key-space flags mean the same.
import { num, parseFlags, str, UsageError } from '../cli/args.js';
import { parseTarget, TargetSyntaxError, type Target } from './target.js';

export const BENCH_OPS = ['put', 'range', 'range-serializable', 'txn-cas', 'mixed', 'watch-fanout'] as const;
export type BenchOp = (typeof BENCH_OPS)[number];
export type Db = 'ours' | 'etcd';

export interface BenchOptions {
  db: Db;
  etcdBin: string | undefined;
  nodes: number;
  /** Client URLs of a running cluster; when set, nothing is launched. */
  endpoints: string[] | undefined;
  op: BenchOp;
  clients: number;
  conns: number;
  keySize: number;
  valueSize: number;
  keySpace: number;
  sequentialKeys: boolean;
  /** Aggregate requests per second (open loop); 0 = closed loop, as fast as possible. */
  rate: number;
  durationS: number;
  /** Open loop: requests a worker may have in flight before further starts are dropped. */
  maxOutstanding: number;
  /** mixed: fraction of requests that are linearizable reads. */
  readFraction: number;
  /** watch-fanout: watch streams on the prefix. */
  watchers: number;
  target: Target | undefined;
  vs: Db | undefined;
  json: boolean;
  store: string;
  basePort: number | undefined;
  requestTimeoutMs: number;
  keepData: boolean;
  quiet: boolean;
}

interface FlagSpec {
  value: boolean;
  help: string;
  placeholder?: string;
}

export const BENCH_FLAGS: Record<string, FlagSpec> = {
  db: { value: true, placeholder: 'ours|etcd', help: 'server to launch: ours (faultline-etcd, default) or etcd' },
  'etcd-bin': { value: true, placeholder: 'PATH', help: 'etcd binary when etcd is launched (default: etcd on PATH)' },
  nodes: { value: true, placeholder: 'N', help: 'members to launch, 1–7 (default 3; with --endpoints: their count), also the divisor of --target' },
  endpoints: { value: true, placeholder: 'URLS', help: 'comma list of client URLs of a running cluster; nothing is launched' },
  op: { value: true, placeholder: 'OP', help: `${BENCH_OPS.join(', ')} (default put)` },
  clients: { value: true, placeholder: 'N', help: 'concurrent workers (default 1)' },
  conns: { value: true, placeholder: 'N', help: 'gRPC connections, shared round-robin by the workers (default 1)' },
  'key-size': { value: true, placeholder: 'BYTES', help: 'key length (default 8; watch-fanout: long enough for its prefix)' },
  'value-size': { value: true, placeholder: 'BYTES', help: 'value length, random bytes (default 8)' },
  'key-space': { value: true, placeholder: 'N', help: 'distinct keys, chosen at random (default 1000)' },
  'sequential-keys': { value: false, help: 'walk the key space in order instead of at random' },
  rate: { value: true, placeholder: 'OPS', help: 'aggregate requests/s, open loop (latency from the scheduled start); 0 = as fast as possible (default 0)' },
  duration: { value: true, placeholder: 'S', help: 'seconds of load (default 10)' },
  'max-outstanding': { value: true, placeholder: 'N', help: 'open loop: in-flight requests per worker before starts are dropped (default 8)' },
  'read-fraction': { value: true, placeholder: 'F', help: 'mixed: share of linearizable reads, the rest puts (default 0.5)' },
  watchers: { value: true, placeholder: 'N', help: 'watch-fanout: watch streams on one prefix; --clients writers put under it (default 100)' },
  target: { value: true, placeholder: 'RATE', help: 'pass/fail per node: 1000w/s, 500r/s or 2000ops/s; passes iff throughput / nodes ≥ RATE' },
  vs: { value: true, placeholder: 'etcd|ours', help: 'then run the same load on a fresh cluster of this server and print ratios (ours/etcd)' },
  json: { value: false, help: 'one JSON document on stdout, no human text' },
  store: { value: true, placeholder: 'DIR', help: 'where results go: DIR/bench-<op>-<db>/<timestamp>/ (default ./store)' },
  'base-port': { value: true, placeholder: 'PORT', help: 'first port to probe for members (default random in 20000–30000)' },
  'request-timeout': { value: true, placeholder: 'MS', help: 'deadline per request (default 10000)' },
  'keep-data': { value: false, help: 'keep members\' data dirs (default: only logs are kept)' },
  quiet: { value: false, help: 'no per-second progress lines' },
  help: { value: false, help: 'show this help' },
};

function usageBlock(flags: Record<string, FlagSpec>): string {
  return Object.entries(flags)
    .map(([name, spec]) => `  --${(name + (spec.value ? ` ${spec.placeholder ?? 'VALUE'}` : '')).padEnd(26)} ${spec.help}`)
    .join('\n');
}

export const BENCH_HELP = `Usage: faultline bench [options]

Launches a cluster (or uses --endpoints), runs one load for --duration
seconds and reports throughput, latency percentiles, errors by gRPC code and
CPU/RSS of every member. Writes results.json and report.html under
<store>/bench-<op>-<db>/<timestamp>/.

Options:
${usageBlock(BENCH_FLAGS)}

--target counts per node: the cluster's throughput divided by --nodes must
reach RATE (w/s counts writes, r/s reads, ops/s every request; for
watch-fanout, ops/s counts delivered events).

Exit codes: 0 target met (or no target), 1 target missed, 3 could not run.
`;

function parseDb(raw: string, flag: string): Db {
  if (raw !== 'ours' && raw !== 'etcd') throw new UsageError(`--${flag} must be ours or etcd, got "${raw}"`);
  return raw;
}

export function parseEndpoints(raw: string): string[] {
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError('--endpoints needs at least one URL');
  return items.map((item) => {
    const withScheme = /^[a-z]+:\/\//i.test(item) ? item : `http://${item}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new UsageError(`--endpoints: "${item}" is not a URL such as http://127.0.0.1:2379`);
    }
    if (url.protocol !== 'http:') throw new UsageError(`--endpoints: only plain http:// endpoints are supported, got "${item}"`);
    if (!url.port) throw new UsageError(`--endpoints: "${item}" needs a port`);
    return `http://${url.hostname}:${url.port}`;
  });
}

/** Digits needed to number `keySpace` keys: keys are zero-padded decimal indexes. */
export function keyDigits(keySpace: number): number {
  return Math.max(1, String(keySpace - 1).length);
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions | 'help' {
  const p = parseFlags(argv, BENCH_FLAGS);
  if (p.flags.has('help')) return 'help';
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0]}" (options start with --)`);

  const opRaw = str(p, 'op') ?? 'put';
  if (!(BENCH_OPS as readonly string[]).includes(opRaw)) throw new UsageError(`unknown --op "${opRaw}" (choose from ${BENCH_OPS.join(', ')})`);
  const op = opRaw as BenchOp;

  const endpointsRaw = str(p, 'endpoints');
  const endpoints = endpointsRaw === undefined ? undefined : parseEndpoints(endpointsRaw);
  const dbRaw = str(p, 'db');
  const vsRaw = str(p, 'vs');
  if (endpoints && dbRaw !== undefined) throw new UsageError('--db launches a cluster; it cannot be combined with --endpoints');
  if (endpoints && vsRaw !== undefined) {
    throw new UsageError('--vs needs a cluster to launch for each server; with --endpoints there is no db to compare (drop --endpoints and pass --db)');
  }
  const db = parseDb(dbRaw ?? 'ours', 'db');
  const vs = vsRaw === undefined ? undefined : parseDb(vsRaw, 'vs');
  if (vs !== undefined && vs === db) {
    throw new UsageError(`--vs ${vs} compares against the same server as --db ${db}; pass --db ours --vs etcd (or --db etcd --vs ours)`);
  }
  const etcdBin = str(p, 'etcd-bin');
  if (etcdBin !== undefined && db !== 'etcd' && vs !== 'etcd') throw new UsageError('--etcd-bin only applies when etcd is launched (--db etcd or --vs etcd)');

  const nodes = num(p, 'nodes', endpoints?.length ?? 3, { min: 1, max: 7, integer: true });
  const keySpace = num(p, 'key-space', 1000, { min: 1, max: 100_000_000, integer: true });
  const prefixLen = op === 'watch-fanout' ? WATCH_PREFIX.length : 0;
  const keySize = num(p, 'key-size', Math.max(8, prefixLen + keyDigits(keySpace)), { min: 1, max: 1_048_576, integer: true });
  if (keySize < keyDigits(keySpace) + prefixLen) {
    throw new UsageError(`--key-size ${keySize} is too short to number ${keySpace} keys${prefixLen ? ` under the prefix "${WATCH_PREFIX}"` : ''}: need at least ${keyDigits(keySpace) + prefixLen}`);
  }
  const valueSize = num(p, 'value-size', 8, { min: 0, max: 1_572_864, integer: true });
  if (op === 'watch-fanout' && valueSize < WATCH_STAMP_BYTES) {
    throw new UsageError(`--op watch-fanout carries the put's start time in the value: --value-size must be at least ${WATCH_STAMP_BYTES}`);
  }

  let target: Target | undefined;
  const targetRaw = str(p, 'target');
  if (targetRaw !== undefined) {
    try {
      target = parseTarget(targetRaw);
    } catch (err) {
      if (err instanceof TargetSyntaxError) throw new UsageError(err.message);
      throw err;
    }
    const noReads: BenchOp[] = ['put', 'txn-cas', 'watch-fanout'];
    const noWrites: BenchOp[] = ['range', 'range-serializable'];
    if (target.unit === 'r' && noReads.includes(op)) throw new UsageError(`--target ${target.text} counts reads, but --op ${op} issues none (use w/s or ops/s)`);
    if (target.unit === 'w' && noWrites.includes(op)) throw new UsageError(`--target ${target.text} counts writes, but --op ${op} issues none (use r/s or ops/s)`);
  }

  const rate = num(p, 'rate', 0, { min: 0, max: 10_000_000 });
  const readFractionRaw = str(p, 'read-fraction');
  if (readFractionRaw !== undefined && op !== 'mixed') throw new UsageError('--read-fraction only applies to --op mixed');
  const watchersRaw = str(p, 'watchers');
  if (watchersRaw !== undefined && op !== 'watch-fanout') throw new UsageError('--watchers only applies to --op watch-fanout');
  const maxOutstandingRaw = str(p, 'max-outstanding');
  if (maxOutstandingRaw !== undefined && rate === 0) throw new UsageError('--max-outstanding only applies in open loop (--rate > 0)');
  const basePortRaw = str(p, 'base-port');
  const clients = num(p, 'clients', 1, { min: 1, max: 100_000, integer: true });

  return {
    db,
    etcdBin,
    nodes,
    endpoints,
    op,
    clients,
    conns: num(p, 'conns', 1, { min: 1, max: 10_000, integer: true }),
    keySize,
    valueSize,
    keySpace,
    sequentialKeys: p.flags.has('sequential-keys'),
    rate,
    durationS: num(p, 'duration', 10, { min: 0.1, max: 86_400 }),
    maxOutstanding: num(p, 'max-outstanding', 8, { min: 1, max: 100_000, integer: true }),
    readFraction: num(p, 'read-fraction', 0.5, { min: 0, max: 1 }),
    watchers: num(p, 'watchers', 100, { min: 1, max: 100_000, integer: true }),
    target,
    vs,
    json: p.flags.has('json'),
    store: str(p, 'store') ?? 'store',
    basePort: basePortRaw === undefined ? undefined : num(p, 'base-port', 0, { min: 1024, max: 32767 - 2 * nodes, integer: true }),
    requestTimeoutMs: num(p, 'request-timeout', 10_000, { min: 1, max: 600_000 }),
    keepData: p.flags.has('keep-data'),
    quiet: p.flags.has('quiet'),
  };
}

/** watch-fanout keys live under this prefix, so one watch covers exactly the writers' keys. */
export const WATCH_PREFIX = 'fl-watch/';
/** watch-fanout values start with the put's start time (float64 ms on the performance clock). */
export const WATCH_STAMP_BYTES = 8;
