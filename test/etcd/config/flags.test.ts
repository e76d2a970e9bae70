import { describe, expect, it } from 'vitest';
import { envName, parseFlags, type EtcdConfig, type ParseOutcome } from '../../../etcd/config/flags.js';
import { parseGoDuration, parseGoInt } from '../../../etcd/config/goflag.js';

function config(outcome: ParseOutcome): EtcdConfig {
  if (outcome.kind !== 'config') throw new Error(`expected a config, got ${JSON.stringify(outcome)}`);
  return outcome.config;
}

describe('parseFlags defaults', () => {
  it("uses etcd's defaults", () => {
    const c = config(parseFlags([]));
    expect(c.name).toBe('default');
    expect(c.dataDir).toBe('default.etcd');
    expect(c.listenClientUrls).toEqual(['http://localhost:2379']);
    expect(c.advertiseClientUrls).toEqual(['http://localhost:2379']);
    expect(c.initialAdvertisePeerUrls).toEqual(['http://localhost:2380']);
    expect([...c.initialCluster]).toEqual([['default', ['http://localhost:2380']]]);
    expect(c.initialClusterState).toBe('new');
    expect(c.initialClusterToken).toBe('etcd-cluster');
    expect(c.heartbeatIntervalMs).toBe(100);
    expect(c.electionTimeoutMs).toBe(1000);
    expect(c.snapshotCount).toBe(100000);
    expect(c.quotaBackendBytes).toBe(2 * 1024 ** 3);
    expect(c.maxRequestBytes).toBe(1572864);
    expect(c.maxTxnOps).toBe(128);
    expect(c.autoCompactionMode).toBe('periodic');
    expect(c.autoCompactionRetentionValue).toBe(0);
    expect(c.logLevel).toBe('info');
    expect(c.watchProgressNotifyIntervalMs).toBe(600_000);
    expect(c.enableGrpcGateway).toBe(true);
  });

  it('derives data dir and initial cluster from --name', () => {
    const c = config(parseFlags(['--name', 'n1', '--initial-advertise-peer-urls=http://127.0.0.1:2380']));
    expect(c.dataDir).toBe('n1.etcd');
    expect([...c.initialCluster]).toEqual([['n1', ['http://127.0.0.1:2380']]]);
  });
});

describe('parseFlags syntax (Go flag package rules)', () => {
  it('accepts -f, --f, -f=v and -f v forms', () => {
    const c = config(parseFlags(['-name=a', '--snapshot-count', '50', '-data-dir', '/tmp/x', '--heartbeat-interval=10', '--election-timeout=0x64']));
    expect(c.name).toBe('a');
    expect(c.snapshotCount).toBe(50);
    expect(c.dataDir).toBe('/tmp/x');
    expect(c.heartbeatIntervalMs).toBe(10);
    expect(c.electionTimeoutMs).toBe(100);
  });

  it('treats a bare boolean flag as true and does not consume the next argument', () => {
    expect(config(parseFlags(['--enable-grpc-gateway=false'])).enableGrpcGateway).toBe(false);
    expect(config(parseFlags(['--enable-grpc-gateway=F'])).enableGrpcGateway).toBe(false);
    expect(config(parseFlags(['--unsafe-no-fsync'])).unsafeNoFsync).toBe(true);
    const r = parseFlags(['--unsafe-no-fsync', 'false']);
    expect(r).toMatchObject({ kind: 'error', exitCode: 2, errors: ["'false' is not a valid flag"] });
  });

  it('rejects unknown and malformed flags with exit code 2', () => {
    expect(parseFlags(['--nope'])).toEqual({ kind: 'error', exitCode: 2, errors: ['flag provided but not defined: -nope'] });
    expect(parseFlags(['--snapshot-count=abc'])).toMatchObject({ kind: 'error', exitCode: 2 });
    expect(parseFlags(['--snapshot-count=-1'])).toMatchObject({ kind: 'error', exitCode: 2 });
    expect(parseFlags(['--name'])).toEqual({ kind: 'error', exitCode: 2, errors: ['flag needs an argument: -name'] });
    expect(parseFlags(['---x'])).toMatchObject({ kind: 'error', exitCode: 2 });
    expect(parseFlags(['--initial-cluster-state=maybe'])).toMatchObject({ kind: 'error', exitCode: 2 });
    expect(parseFlags(['--listen-client-urls=localhost:2379'])).toMatchObject({ kind: 'error', exitCode: 2 });
    expect(parseFlags(['--listen-client-urls=http://127.0.0.1'])).toMatchObject({ kind: 'error', exitCode: 2 });
    expect(parseFlags(['--listen-client-urls=http://127.0.0.1:1/p'])).toMatchObject({ kind: 'error', exitCode: 2 });
    expect(parseFlags(['--experimental-watch-progress-notify-interval=ten'])).toMatchObject({ kind: 'error', exitCode: 2 });
  });

  it('answers --help and --version', () => {
    expect(parseFlags(['--help']).kind).toBe('help');
    expect(parseFlags(['-h']).kind).toBe('help');
    const v = parseFlags(['--version']);
    expect(v.kind).toBe('version');
    if (v.kind === 'version') expect(v.text).toContain('etcd Version: 3.5.17');
  });

  it('stops at -- and rejects what follows as a non-flag', () => {
    expect(parseFlags(['--', '--name=x'])).toMatchObject({ kind: 'error', exitCode: 2 });
  });
});

describe('parseFlags validation (etcd rules)', () => {
  it('requires --advertise-client-urls when --listen-client-urls is set explicitly', () => {
    const r = parseFlags(['--listen-client-urls=http://127.0.0.1:2379']);
    expect(r).toMatchObject({ kind: 'error', exitCode: 1 });
    if (r.kind === 'error') expect(r.errors[0]).toBe('--advertise-client-urls is required when --listen-client-urls is set explicitly');
    const ok = config(parseFlags(['--listen-client-urls=http://127.0.0.1:2379,http://127.0.0.1:2379', '--advertise-client-urls=http://127.0.0.1:2379']));
    expect(ok.listenClientUrls).toEqual(['http://127.0.0.1:2379']);
  });

  it('checks election timeout against heartbeat', () => {
    const r = parseFlags(['--heartbeat-interval=300', '--election-timeout=1000']);
    expect(r).toMatchObject({ kind: 'error', exitCode: 1 });
    expect(parseFlags(['--election-timeout=60000'])).toMatchObject({ kind: 'error', exitCode: 1 });
  });

  it('interprets quota 0 as 2 GiB and negative as unlimited', () => {
    expect(config(parseFlags(['--quota-backend-bytes=4096'])).quotaBackendBytes).toBe(4096);
    expect(config(parseFlags(['--quota-backend-bytes=-1'])).quotaBackendBytes).toBe(Infinity);
  });

  it('interprets auto-compaction retention per mode', () => {
    expect(config(parseFlags(['--auto-compaction-retention=1'])).autoCompactionRetentionValue).toBe(3600_000);
    expect(config(parseFlags(['--auto-compaction-retention=30m'])).autoCompactionRetentionValue).toBe(1800_000);
    const rev = config(parseFlags(['--auto-compaction-mode=revision', '--auto-compaction-retention=1000']));
    expect(rev.autoCompactionRetentionValue).toBe(1000);
    expect(parseFlags(['--auto-compaction-mode=weekly'])).toMatchObject({ kind: 'error', exitCode: 1 });
    expect(parseFlags(['--log-level=loud'])).toMatchObject({ kind: 'error', exitCode: 1 });
  });

  it('requires the member in the initial cluster', () => {
    expect(parseFlags(['--name=a', '--initial-cluster=b=http://127.0.0.1:2380'])).toMatchObject({ kind: 'error', exitCode: 1 });
  });
});

describe('environment variables', () => {
  it('maps flag names to ETCD_ names', () => {
    expect(envName('data-dir')).toBe('ETCD_DATA_DIR');
    expect(envName('experimental-watch-progress-notify-interval')).toBe('ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL');
  });

  it('fills unset flags from the environment; the command line wins', () => {
    const r = parseFlags(['--name=cli'], { ETCD_NAME: 'env', ETCD_SNAPSHOT_COUNT: '7', ETCD_BOGUS: '1', HOME: '/root' });
    const c = config(r);
    expect(c.name).toBe('cli');
    expect(c.snapshotCount).toBe(7);
    if (r.kind === 'config') {
      expect(r.warnings.some((w) => w.includes('ETCD_BOGUS'))).toBe(true);
      expect(r.warnings.some((w) => w.includes('ETCD_NAME'))).toBe(true);
    }
  });

  it('counts an env listen URL as explicitly set', () => {
    expect(parseFlags([], { ETCD_LISTEN_CLIENT_URLS: 'http://127.0.0.1:2379' })).toMatchObject({ kind: 'error', exitCode: 1 });
    expect(parseFlags([], { ETCD_SNAPSHOT_COUNT: 'x' })).toMatchObject({ kind: 'error' });
  });
});

describe('Go value parsers', () => {
  it('parses ints like strconv.ParseInt(s, 0, 64)', () => {
    expect(parseGoInt('10')).toBe(10n);
    expect(parseGoInt('0x1f')).toBe(31n);
    expect(parseGoInt('010')).toBe(8n);
    expect(parseGoInt('0b101')).toBe(5n);
    expect(parseGoInt('-3')).toBe(-3n);
    expect(parseGoInt('1_000')).toBeUndefined();
    expect(parseGoInt('0x1_000')).toBe(4096n);
    expect(parseGoInt('9223372036854775808')).toBeUndefined();
    expect(parseGoInt('')).toBeUndefined();
  });

  it('parses durations like time.ParseDuration', () => {
    expect(parseGoDuration('10m')).toBe(600_000);
    expect(parseGoDuration('1h30m')).toBe(5_400_000);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('100ms')).toBe(100);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('10')).toBeUndefined();
    expect(parseGoDuration('x')).toBeUndefined();
  });
});
