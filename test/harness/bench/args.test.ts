import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../../harness/bench/args.js';
import { runCli } from '../../support/cli.js';

const run = (argv: string[]) => runCli(argv);

describe('faultline bench argument errors exit 3 with a clear message', () => {
  const cases: [string[], RegExp][] = [
    [['--op', 'scan'], /unknown --op "scan" \(choose from put, range, range-serializable, txn-cas, mixed, watch-fanout\)/],
    [['--target', '1000'], /--target must look like 1000w\/s/],
    [['--target', '1000writes/s'], /--target must look like/],
    [['--target', '-5w/s'], /--target must look like/],
    [['--target', '0w/s'], /--target must be a positive rate/],
    [['--target', '100r/s', '--op', 'put'], /counts reads, but --op put issues none/],
    [['--target', '100w/s', '--op', 'range'], /counts writes, but --op range issues none/],
    [['--clients', '-4'], /--clients must be at least 1, got -4/],
    [['--conns', '0'], /--conns must be at least 1/],
    [['--rate', '-1'], /--rate must be at least 0/],
    [['--duration', '-3'], /--duration must be at least 0.1/],
    [['--value-size', '-1'], /--value-size must be at least 0/],
    [['--key-space', '2.5'], /--key-space must be a whole number/],
    [['--nodes', 'many'], /--nodes must be a number, got "many"/],
    [['--key-size', '2', '--key-space', '1000'], /--key-size 2 is too short to number 1000 keys/],
    [['--db', 'mysql'], /--db must be ours or etcd, got "mysql"/],
    [['--vs'], /--vs needs a value/],
    [['--vs', 'etcd', '--endpoints', '127.0.0.1:2379'], /--vs needs a cluster to launch.*no db to compare/],
    [['--vs', 'etcd', '--db', 'etcd'], /compares against the same server/],
    [['--vs', 'mysql'], /--vs must be ours or etcd/],
    [['--endpoints', 'http://127.0.0.1'], /needs a port/],
    [['--endpoints', '127.0.0.1:2379', '--db', 'etcd'], /cannot be combined with --endpoints/],
    [['--read-fraction', '0.9'], /--read-fraction only applies to --op mixed/],
    [['--op', 'mixed', '--read-fraction', '1.5'], /--read-fraction must be at most 1/],
    [['--max-outstanding', '4'], /only applies in open loop/],
    [['--op', 'watch-fanout', '--value-size', '4'], /--value-size must be at least 8/],
    [['--etcd-bin', '/usr/bin/etcd'], /--etcd-bin only applies when etcd is launched/],
    [['--json=yes'], /--json takes no value/],
    [['extra'], /unexpected argument "extra"/],
  ];
  for (const [argv, message] of cases) {
    it(`bench ${argv.join(' ')}`, async () => {
      const r = await run(['bench', ...argv]);
      expect(r.code).toBe(3);
      expect(r.err).toMatch(message);
      expect(r.err).toMatch(/faultline bench --help/);
      expect(r.out).toBe('');
    });
  }

  it('exits 3 when the etcd binary for --vs cannot be found, before launching anything', async () => {
    const r = await run(['bench', '--db', 'ours', '--vs', 'etcd', '--etcd-bin', '/nonexistent/etcd', '--store', '/tmp/fl-bench-never-created', '--json']);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/\/nonexistent\/etcd is not an executable file/);
    const doc = JSON.parse(r.out) as { verdict: string; exitCode: number; error: string; runs: unknown[] };
    expect(doc).toMatchObject({ verdict: 'error', exitCode: 3, runs: [] });
    expect(doc.error).toMatch(/not an executable file/);
  });

  it('prints help with exit 0', async () => {
    const r = await run(['bench', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Usage: faultline bench/);
    expect(r.out).toMatch(/--target RATE/);
    const viaHelp = await run(['help', 'bench']);
    expect(viaHelp.out).toBe(r.out);
  });
});

describe('parseBenchArgs', () => {
  it('has etcd benchmark defaults', () => {
    const o = parseBenchArgs([]);
    expect(o).toMatchObject({ db: 'ours', nodes: 3, op: 'put', clients: 1, conns: 1, keySize: 8, valueSize: 8, rate: 0, durationS: 10, json: false, vs: undefined, target: undefined });
  });

  it('reads every flag', () => {
    const o = parseBenchArgs([
      '--db', 'etcd', '--nodes', '3', '--op', 'put', '--clients', '200', '--conns', '20', '--duration', '10', '--target', '1000w/s',
      '--key-size', '256', '--value-size', '1024', '--key-space', '50000', '--sequential-keys', '--rate', '900', '--max-outstanding', '2',
      '--vs', 'ours', '--json', '--store', '/tmp/x', '--request-timeout', '500', '--keep-data', '--quiet',
    ]);
    expect(o).toMatchObject({
      db: 'etcd', nodes: 3, clients: 200, conns: 20, durationS: 10, keySize: 256, valueSize: 1024, keySpace: 50000, sequentialKeys: true,
      rate: 900, maxOutstanding: 2, vs: 'ours', json: true, store: '/tmp/x', requestTimeoutMs: 500, keepData: true, quiet: true,
      target: { perNode: 1000, unit: 'w' },
    });
  });

  it('takes --nodes from the endpoint count unless given', () => {
    const o = parseBenchArgs(['--endpoints', '127.0.0.1:2379,http://127.0.0.1:2479']);
    expect(o).not.toBe('help');
    if (o === 'help') return;
    expect(o.endpoints).toEqual(['http://127.0.0.1:2379', 'http://127.0.0.1:2479']);
    expect(o.nodes).toBe(2);
    expect(parseBenchArgs(['--endpoints', '127.0.0.1:2379', '--nodes', '3'])).toMatchObject({ nodes: 3 });
  });

  it('sizes watch-fanout keys for their prefix by default', () => {
    const o = parseBenchArgs(['--op', 'watch-fanout', '--key-space', '100000']);
    expect(o).toMatchObject({ keySize: 'fl-watch/'.length + 5 });
  });
});
