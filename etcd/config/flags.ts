// etcd's command line: the flags, their defaults, ETCD_<FLAG> environment
// variables, and the validation etcd performs before it starts. Parsing is
// pure (argv and env in, a typed config or errors out) so it can be tested
// without starting anything.

import { formatGoDuration, parseGoBool, parseGoDuration, parseGoInt } from './goflag.js';

export const SERVER_VERSION = '3.5.17';
export const CLUSTER_VERSION = '3.5.0';
export const API_VERSION = '3.5';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'dpanic' | 'panic' | 'fatal';
export type AutoCompactionMode = 'periodic' | 'revision';

export interface EtcdConfig {
  name: string;
  dataDir: string;
  listenClientUrls: string[];
  advertiseClientUrls: string[];
  listenPeerUrls: string[];
  initialAdvertisePeerUrls: string[];
  /** name → peer URLs, from --initial-cluster. */
  initialCluster: Map<string, string[]>;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  snapshotCount: number;
  /** Effective quota: 0 on the command line means etcd's 2 GiB default; negative disables the quota (Infinity). */
  quotaBackendBytes: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  autoCompactionMode: AutoCompactionMode;
  /** The raw retention string; see autoCompactionRetentionValue for its meaning. */
  autoCompactionRetention: string;
  /** periodic: milliseconds; revision: a revision count. 0 = auto-compaction off. */
  autoCompactionRetentionValue: number;
  logLevel: LogLevel;
  watchProgressNotifyIntervalMs: number;
  enableGrpcGateway: boolean;
  listenMetricsUrls: string[];
  unsafeNoFsync: boolean;
  preVote: boolean;
  /** faultline extension: member name → the URL this member dials for it instead of its peer URLs. */
  peerDialOverrides: Map<string, string>;
  /** Flags (or env vars) that were given explicitly, by flag name. */
  explicit: Set<string>;
}

export type ParseOutcome =
  | { kind: 'config'; config: EtcdConfig; warnings: string[] }
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string }
  /** exitCode 2 for command-line syntax errors (as Go's flag package exits), 1 for invalid configurations (as etcd does). */
  | { kind: 'error'; errors: string[]; exitCode: 1 | 2 };

type FlagKind = 'string' | 'bool' | 'int' | 'uint' | 'duration' | 'urls' | 'choice';

interface FlagSpec {
  kind: FlagKind;
  def: string;
  help: string;
  choices?: string[];
  /** Accepted for compatibility with etcd launch scripts; has no effect here. */
  inert?: boolean;
}

const DEFAULT_CLIENT_URL = 'http://localhost:2379';
const DEFAULT_PEER_URL = 'http://localhost:2380';
const GIB = 1024 * 1024 * 1024;
const MAX_ELECTION_MS = 50_000;

const FLAGS: Record<string, FlagSpec> = {
  name: { kind: 'string', def: 'default', help: 'Human-readable name for this member.' },
  'data-dir': { kind: 'string', def: '', help: 'Path to the data directory (default ${name}.etcd).' },
  'wal-dir': { kind: 'string', def: '', help: 'Path to the dedicated wal directory (unsupported; must be empty).' },
  'listen-client-urls': { kind: 'urls', def: DEFAULT_CLIENT_URL, help: 'List of URLs to listen on for client traffic.' },
  'advertise-client-urls': { kind: 'urls', def: DEFAULT_CLIENT_URL, help: "List of this member's client URLs to advertise to the public." },
  'listen-peer-urls': { kind: 'urls', def: DEFAULT_PEER_URL, help: 'List of URLs to listen on for peer traffic.' },
  'initial-advertise-peer-urls': { kind: 'urls', def: DEFAULT_PEER_URL, help: "List of this member's peer URLs to advertise to the rest of the cluster." },
  'initial-cluster': { kind: 'string', def: `default=${DEFAULT_PEER_URL}`, help: 'Initial cluster configuration for bootstrapping.' },
  'initial-cluster-state': { kind: 'choice', def: 'new', choices: ['new', 'existing'], help: "Initial cluster state ('new' or 'existing')." },
  'initial-cluster-token': { kind: 'string', def: 'etcd-cluster', help: 'Initial cluster token for the etcd cluster during bootstrap.' },
  'heartbeat-interval': { kind: 'uint', def: '100', help: 'Time (in milliseconds) of a heartbeat interval.' },
  'election-timeout': { kind: 'uint', def: '1000', help: 'Time (in milliseconds) for an election to timeout.' },
  'snapshot-count': { kind: 'uint', def: '100000', help: 'Number of committed transactions to trigger a snapshot to disk.' },
  'quota-backend-bytes': { kind: 'int', def: '0', help: 'Raise alarms when backend size exceeds the given quota. 0 means use the default quota.' },
  'max-request-bytes': { kind: 'uint', def: '1572864', help: 'Maximum client request size in bytes the server will accept.' },
  'max-txn-ops': { kind: 'uint', def: '128', help: 'Maximum number of operations permitted in a transaction.' },
  'auto-compaction-mode': { kind: 'string', def: 'periodic', help: "Interpret 'auto-compaction-retention' one of: periodic|revision." },
  'auto-compaction-retention': { kind: 'string', def: '0', help: 'Auto compaction retention length. 0 means disable auto compaction.' },
  'log-level': { kind: 'string', def: 'info', help: 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.' },
  'experimental-watch-progress-notify-interval': { kind: 'duration', def: '10m', help: 'Duration of periodic watch progress notifications.' },
  'enable-grpc-gateway': { kind: 'bool', def: 'true', help: 'Enable GRPC gateway.' },
  'listen-metrics-urls': { kind: 'string', def: '', help: 'List of URLs to listen on for the metrics and health endpoints.' },
  'unsafe-no-fsync': { kind: 'bool', def: 'false', help: 'Disables fsync, unsafe, will cause data loss.' },
  'pre-vote': { kind: 'bool', def: 'true', help: 'Enable to run an additional Raft election phase.' },
  'peer-dial-overrides': {
    kind: 'string',
    def: '',
    help: 'faultline extension (not in etcd): name=http://host:port,... dials the named peers at these URLs (e.g. per-pair proxies); member IDs still come from --initial-cluster.',
  },
  version: { kind: 'bool', def: 'false', help: 'Print the version and exit.' },
  // Accepted so that existing etcd launch scripts keep working; they do not change behaviour here.
  logger: { kind: 'string', def: 'zap', help: "Currently only supports 'zap' for structured logging.", inert: true },
  'log-outputs': { kind: 'string', def: 'default', help: 'Specify outputs (only stderr is used).', inert: true },
  'enable-v2': { kind: 'bool', def: 'false', help: 'Accept etcd V2 client requests (not supported).', inert: true },
  'enable-pprof': { kind: 'bool', def: 'false', help: 'Enable runtime profiling data via HTTP server.', inert: true },
  'strict-reconfig-check': { kind: 'bool', def: 'true', help: 'Reject reconfiguration requests that would cause quorum loss.', inert: true },
  'auth-token': { kind: 'string', def: 'simple', help: 'Specify auth token type and options.', inert: true },
  'auth-token-ttl': { kind: 'uint', def: '300', help: 'The lifetime in seconds of the auth token.', inert: true },
  'max-snapshots': { kind: 'uint', def: '5', help: 'Maximum number of snapshot files to retain (0 is unlimited).', inert: true },
  'max-wals': { kind: 'uint', def: '5', help: 'Maximum number of wal files to retain (0 is unlimited).', inert: true },
  'grpc-keepalive-min-time': { kind: 'duration', def: '5s', help: 'Minimum interval duration that a client should wait before pinging server.', inert: true },
  'grpc-keepalive-interval': { kind: 'duration', def: '2h', help: 'Frequency duration of server-to-client ping to check if a connection is alive.', inert: true },
  'grpc-keepalive-timeout': { kind: 'duration', def: '20s', help: 'Additional duration of wait before closing a non-responsive connection.', inert: true },
  'experimental-initial-corrupt-check': { kind: 'bool', def: 'false', help: 'Enable to check data corruption before serving any client/peer traffic.', inert: true },
  'experimental-corrupt-check-time': { kind: 'duration', def: '0s', help: 'Duration of time between cluster corruption check passes.', inert: true },
  'experimental-enable-distributed-tracing': { kind: 'bool', def: 'false', help: 'Enable experimental distributed tracing.', inert: true },
  'metrics': { kind: 'string', def: 'basic', help: "Set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics.", inert: true },
  'cert-file': { kind: 'string', def: '', help: 'Path to the client server TLS cert file (TLS is not supported yet).', inert: true },
  'key-file': { kind: 'string', def: '', help: 'Path to the client server TLS key file.', inert: true },
  'trusted-ca-file': { kind: 'string', def: '', help: 'Path to the client server TLS trusted CA cert file.', inert: true },
  'client-cert-auth': { kind: 'bool', def: 'false', help: 'Enable client cert authentication.', inert: true },
  'peer-cert-file': { kind: 'string', def: '', help: 'Path to the peer server TLS cert file.', inert: true },
  'peer-key-file': { kind: 'string', def: '', help: 'Path to the peer server TLS key file.', inert: true },
  'peer-trusted-ca-file': { kind: 'string', def: '', help: 'Path to the peer server TLS trusted CA file.', inert: true },
  'peer-client-cert-auth': { kind: 'bool', def: 'false', help: 'Enable peer client cert authentication.', inert: true },
};

/** Validates one URL as etcd's types.NewURLs does. */
function checkUrl(raw: string): string | undefined {
  const s = raw.trim();
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return `parse "${s}": invalid URL`;
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme === 'unix' || scheme === 'unixs') return undefined;
  if (scheme !== 'http' && scheme !== 'https') return `URL scheme must be http, https, unix, or unixs: ${s}`;
  // WHATWG URL drops default ports, so look at the text for an explicit one.
  const hostPort = s.slice(scheme.length + 3).split('/')[0] ?? '';
  if (!/^(\[[^\]]*\]|[^:]*):\d*$/.test(hostPort)) return `URL address does not have the form "host:port": ${s}`;
  if (u.pathname !== '/' || s.slice(scheme.length + 3 + hostPort.length) !== '') return `URL must not contain a path: ${s}`;
  return undefined;
}

function parseUrls(value: string): { urls: string[] } | { error: string } {
  const parts = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) return { error: 'no valid URLs given' };
  for (const p of parts) {
    const err = checkUrl(p);
    if (err) return { error: err };
  }
  // etcd keeps URL lists unique and sorted.
  return { urls: [...new Set(parts)].sort() };
}

function checkValue(name: string, spec: FlagSpec, value: string): string | undefined {
  switch (spec.kind) {
    case 'string':
      return undefined;
    case 'bool':
      return parseGoBool(value) === undefined ? `parse error` : undefined;
    case 'int':
      return parseGoInt(value) === undefined ? 'parse error' : undefined;
    case 'uint': {
      const v = parseGoInt(value);
      return v === undefined || v < 0n ? 'parse error' : undefined;
    }
    case 'duration':
      return parseGoDuration(value) === undefined ? `time: invalid duration "${value}"` : undefined;
    case 'urls': {
      const r = parseUrls(value);
      return 'error' in r ? r.error : undefined;
    }
    case 'choice':
      return spec.choices!.includes(value) ? undefined : `valid values are ${spec.choices!.map((c) => `"${c}"`).join(', ')}`;
  }
  void name;
}

/** ETCD_<FLAG>: upper case, dashes as underscores. */
export function envName(flag: string): string {
  return `ETCD_${flag.toUpperCase().replaceAll('-', '_')}`;
}

export function helpText(): string {
  const lines = ['Usage:', '', '  etcd [flags]', '    Start an etcd server.', '', '  etcd --version', '    Show the version of etcd.', '', '  etcd -h | --help', '    Show the help information about etcd.', '', 'Flags:'];
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (spec.inert || name === 'version') continue;
    const def = spec.kind === 'string' && spec.def === '' ? "''" : spec.def;
    lines.push(`  --${name} '${def}'`, `      ${spec.help}`);
  }
  lines.push('', 'Every flag can also be set with an environment variable ETCD_<FLAG>, e.g. ETCD_DATA_DIR.');
  return lines.join('\n') + '\n';
}

export function versionText(): string {
  return [`etcd Version: ${SERVER_VERSION}`, 'Git SHA: faultline', `Go Version: node${process.versions.node}`, `Go OS/Arch: ${process.platform}/${process.arch}`].join('\n') + '\n';
}

/** Parses "n1=http://a:2380,n1=http://b:2380,n2=..." into name → URLs. */
export function parseInitialCluster(value: string): { cluster: Map<string, string[]> } | { error: string } {
  const cluster = new Map<string, string[]>();
  for (const item of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return { error: `invalid initial cluster entry ${JSON.stringify(item)} (want name=url)` };
    const name = item.slice(0, eq);
    const url = item.slice(eq + 1);
    const err = checkUrl(url);
    if (err) return { error: err };
    cluster.set(name, [...(cluster.get(name) ?? []), url].sort());
  }
  return { cluster };
}

/**
 * Parses argv (without the program name) the way Go's flag package does —
 * `-f`, `--f`, `-f=v`, `-f v`, booleans only as `-f` or `-f=v`, `--` ends the
 * flags — then fills unset flags from ETCD_* environment variables and
 * validates the result as etcd does.
 */
export function parseFlags(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParseOutcome {
  const values = new Map<string, string>();
  const fromCommandLine = new Set<string>();
  let i = 0;
  const positional: string[] = [];
  while (i < argv.length) {
    const s = argv[i]!;
    if (s.length < 2 || s[0] !== '-') {
      positional.push(...argv.slice(i));
      break;
    }
    let minuses = 1;
    if (s[1] === '-') {
      minuses = 2;
      if (s.length === 2) {
        positional.push(...argv.slice(i + 1));
        break;
      }
    }
    let name = s.slice(minuses);
    if (name === '' || name[0] === '-' || name[0] === '=') return syntaxError(`bad flag syntax: ${s}`);
    i++;
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const spec = FLAGS[name];
    if (!spec) {
      if (name === 'h' || name === 'help') return { kind: 'help', text: helpText() };
      return syntaxError(`flag provided but not defined: -${name}`);
    }
    if (spec.kind === 'bool') {
      if (value === undefined) value = 'true';
      else if (parseGoBool(value) === undefined) return syntaxError(`invalid boolean value "${value}" for -${name}: parse error`);
    } else {
      if (value === undefined) {
        if (i >= argv.length) return syntaxError(`flag needs an argument: -${name}`);
        value = argv[i]!;
        i++;
      }
      const err = checkValue(name, spec, value);
      if (err) return syntaxError(`invalid value "${value}" for flag -${name}: ${err}`);
    }
    values.set(name, value);
    fromCommandLine.add(name);
  }
  if (positional.length > 0) return syntaxError(`'${positional[0]}' is not a valid flag`);

  const warnings: string[] = [];
  const flagEnvNames = new Map(Object.keys(FLAGS).map((f) => [envName(f), f]));
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('ETCD_') || value === undefined) continue;
    const flag = flagEnvNames.get(key);
    if (!flag) {
      warnings.push(`unrecognized environment variable ${key}=${value}`);
      continue;
    }
    if (fromCommandLine.has(flag)) {
      warnings.push(`recognized environment variable ${key}, but unused: shadowed by corresponding flag`);
      continue;
    }
    const spec = FLAGS[flag]!;
    const err = spec.kind === 'bool' ? (parseGoBool(value) === undefined ? 'parse error' : undefined) : checkValue(flag, spec, value);
    if (err) return { kind: 'error', errors: [`invalid value "${value}" for ${key}: ${err}`], exitCode: 2 };
    values.set(flag, value);
  }

  const explicit = new Set(values.keys());
  const get = (flag: string): string => values.get(flag) ?? FLAGS[flag]!.def;
  const bool = (flag: string): boolean => parseGoBool(get(flag))!;
  const num = (flag: string): number => Number(parseGoInt(get(flag))!);
  const urls = (flag: string): string[] => {
    const r = parseUrls(get(flag));
    return 'urls' in r ? r.urls : [];
  };

  if (bool('version')) return { kind: 'version', text: versionText() };

  const errors: string[] = [];
  const name = get('name');
  const dataDir = get('data-dir') !== '' ? get('data-dir') : `${name}.etcd`;
  if (get('wal-dir') !== '') errors.push('--wal-dir is not supported; the WAL lives under --data-dir');
  const initialAdvertisePeerUrls = urls('initial-advertise-peer-urls');

  // etcd derives the default initial cluster from --name and the advertised peer URLs.
  const initialClusterRaw = explicit.has('initial-cluster') ? get('initial-cluster') : initialAdvertisePeerUrls.map((u) => `${name}=${u}`).join(',');
  const ic = parseInitialCluster(initialClusterRaw);
  let initialCluster = new Map<string, string[]>();
  if ('error' in ic) errors.push(`--initial-cluster: ${ic.error}`);
  else initialCluster = ic.cluster;
  const clusterState = get('initial-cluster-state') as 'new' | 'existing';
  if ('cluster' in ic) {
    const mine = initialCluster.get(name);
    if (!mine) {
      errors.push(`couldn't find local name "${name}" in the initial cluster configuration`);
    } else if (clusterState === 'new' && mine.join(',') !== initialAdvertisePeerUrls.join(',')) {
      errors.push(`--initial-cluster has ${name}=${mine.join(',')} but missing from --initial-advertise-peer-urls=${initialAdvertisePeerUrls.join(',')}`);
    }
  }

  const tick = num('heartbeat-interval');
  const election = num('election-timeout');
  if (tick <= 0) errors.push(`--heartbeat-interval must be >0 (set to ${tick}ms)`);
  if (election <= 0) errors.push(`--election-timeout must be >0 (set to ${election}ms)`);
  if (tick > 0 && election > 0 && 5 * tick > election) {
    errors.push(`--election-timeout[${election}ms] should be at least as 5 times as --heartbeat-interval[${tick}ms]`);
  }
  if (election > MAX_ELECTION_MS) errors.push(`--election-timeout[${election}ms] is too long, and should be set less than ${MAX_ELECTION_MS}ms`);

  // etcd's rule: an explicitly set listen-client-urls needs an explicit advertise-client-urls.
  if (explicit.has('listen-client-urls') && !explicit.has('advertise-client-urls')) {
    errors.push('--advertise-client-urls is required when --listen-client-urls is set explicitly');
  }

  const mode = get('auto-compaction-mode');
  let retentionValue = 0;
  const retention = get('auto-compaction-retention');
  if (mode !== 'periodic' && mode !== 'revision') {
    errors.push(`unknown auto-compaction-mode "${mode}"`);
  } else {
    const asInt = /^\+?\d+$/.test(retention) ? Number(retention) : undefined;
    if (asInt !== undefined) retentionValue = mode === 'periodic' ? asInt * 3600_000 : asInt;
    else {
      const d = parseGoDuration(retention);
      if (d === undefined || d < 0) errors.push(`error parsing AutoCompactionRetention: time: invalid duration "${retention}"`);
      else if (mode === 'revision') errors.push(`error parsing AutoCompactionRetention: revision mode needs an integer, got "${retention}"`);
      else retentionValue = d;
    }
  }

  const logLevel = get('log-level');
  const levels: LogLevel[] = ['debug', 'info', 'warn', 'error', 'dpanic', 'panic', 'fatal'];
  if (!levels.includes(logLevel as LogLevel)) errors.push(`unknown log-level "${logLevel}"`);

  let progressMs = parseGoDuration(get('experimental-watch-progress-notify-interval'))!;
  if (progressMs <= 0) errors.push(`--experimental-watch-progress-notify-interval must be > 0 (set to ${formatGoDuration(progressMs)})`);
  progressMs = Math.max(progressMs, 100);

  let metricsUrls: string[] = [];
  if (get('listen-metrics-urls') !== '') {
    const r = parseUrls(get('listen-metrics-urls'));
    if ('error' in r) errors.push(`--listen-metrics-urls: ${r.error}`);
    else metricsUrls = r.urls;
  }

  const peerDialOverrides = new Map<string, string>();
  for (const item of get('peer-dial-overrides').split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const eq = item.indexOf('=');
    const err = eq <= 0 ? `want name=url, got ${JSON.stringify(item)}` : checkUrl(item.slice(eq + 1));
    if (err) errors.push(`--peer-dial-overrides: ${err}`);
    else peerDialOverrides.set(item.slice(0, eq), item.slice(eq + 1).trim());
  }

  const quotaRaw = num('quota-backend-bytes');
  const quota = quotaRaw === 0 ? 2 * GIB : quotaRaw < 0 ? Infinity : quotaRaw;
  if (quota > 8 * GIB && quota !== Infinity) warnings.push(`quota-backend-bytes ${quota} exceeds the suggested maximum of 8 GiB`);
  const maxTxnOps = num('max-txn-ops');
  if (maxTxnOps <= 0) errors.push(`--max-txn-ops must be >0 (set to ${maxTxnOps})`);

  if (errors.length > 0) return { kind: 'error', errors, exitCode: 1 };
  return {
    kind: 'config',
    warnings,
    config: {
      name,
      dataDir,
      listenClientUrls: urls('listen-client-urls'),
      advertiseClientUrls: urls('advertise-client-urls'),
      listenPeerUrls: urls('listen-peer-urls'),
      initialAdvertisePeerUrls,
      initialCluster,
      initialClusterState: clusterState,
      initialClusterToken: get('initial-cluster-token'),
      heartbeatIntervalMs: tick,
      electionTimeoutMs: election,
      snapshotCount: num('snapshot-count'),
      quotaBackendBytes: quota,
      maxRequestBytes: num('max-request-bytes'),
      maxTxnOps,
      autoCompactionMode: mode as AutoCompactionMode,
      autoCompactionRetention: retention,
      autoCompactionRetentionValue: retentionValue,
      logLevel: logLevel as LogLevel,
      watchProgressNotifyIntervalMs: progressMs,
      enableGrpcGateway: bool('enable-grpc-gateway'),
      listenMetricsUrls: metricsUrls,
      unsafeNoFsync: bool('unsafe-no-fsync'),
      preVote: bool('pre-vote'),
      peerDialOverrides,
      explicit,
    },
  };
}

function syntaxError(message: string): ParseOutcome {
  return { kind: 'error', errors: [message], exitCode: 2 };
}

/** A config with etcd's defaults, for tests and embedding; `overrides` replace fields after parsing. */
export function defaultConfig(overrides: Partial<EtcdConfig> = {}): EtcdConfig {
  const r = parseFlags([]);
  if (r.kind !== 'config') throw new Error('default flags do not parse');
  return { ...r.config, ...overrides };
}
