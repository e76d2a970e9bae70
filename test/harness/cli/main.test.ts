import { describe, expect, it } from 'vitest';
import { parseNemesisList, parseRunArgs, UsageError } from '../../../harness/cli/args.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../support/cli.js';
import { findOnPath } from '../../../harness/server.js';

const run = (argv: string[]) => runCli(argv);

describe('faultline CLI argument errors', () => {
  const cases: [string[], RegExp][] = [
    [['run', '--db', 'mysql'], /--db must be ours or etcd, got "mysql"/],
    [['run', '--nodes', 'three'], /--nodes must be a number, got "three"/],
    [['run', '--nodes', '0'], /--nodes must be at least 1/],
    [['run', '--nodes', '2.5'], /--nodes must be a whole number/],
    [['run', '--nemesis', 'kill,flood'], /unknown nemesis "flood"/],
    [['run', '--nemesis', 'none,kill'], /none cannot be combined/],
    [['run', '--time-limit'], /--time-limit needs a value/],
    [['run', '--bogus'], /unknown option --bogus/],
    [['run', '--workload', 'no-such-workload'], /unknown workload "no-such-workload"/],
    [['run', '--toxiproxy', 'not a url'], /--toxiproxy must be a URL/],
    [['run', '--etcd-bin', '/usr/bin/etcd'], /--etcd-bin only applies with --db etcd/],
    [['run', '--serializable=yes'], /--serializable takes no value/],
    [['run', 'extra'], /unexpected argument "extra"/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['analyze', 'a', 'b'], /analyze takes one directory/],
  ];
  for (const [argv, message] of cases) {
    it(`exits 3 for ${argv.join(' ')}`, async () => {
      const r = await run(argv);
      expect(r.code).toBe(3);
      expect(r.err).toMatch(message);
      expect(r.err).toMatch(/--help/);
    });
  }

  it('exits 3 with a clear message when the etcd binary does not exist', async () => {
    const r = await run(['run', '--db', 'etcd', '--etcd-bin', '/nonexistent/etcd', '--store', '/tmp/fl-never-created']);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/nonexistent\/etcd is not an executable file/);
  });

  it('exits 3 when analyze has no run to look at', async () => {
    const r = await run(['analyze', '/nonexistent/run']);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/no such run directory/);
  });

  it('prints help for every command', async () => {
    for (const argv of [['--help'], ['help'], ['run', '--help'], ['analyze', '--help'], ['help', 'run']]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Usage/);
    }
    expect((await run(['run', '--help'])).out).toMatch(/--nemesis-interval/);
  });
});

describe('parseRunArgs', () => {
  it('has the documented defaults', () => {
    const o = parseRunArgs([]);
    expect(o).toMatchObject({ db: 'ours', nodes: 3, workload: 'register', nemesis: ['kill', 'pause', 'partition'], nemesisIntervalS: 5, concurrency: 6, store: 'store', serializable: false });
  });
  it('accepts --flag=value and derives concurrency from nodes', () => {
    const o = parseRunArgs(['--db=etcd', '--nodes', '5', '--nemesis', 'all', '--seed=42', '--serializable']);
    expect(o).toMatchObject({ db: 'etcd', nodes: 5, concurrency: 10, seed: 42, serializable: true, nemesis: ['kill', 'pause', 'partition', 'slow'] });
  });
  it('nemesis none is an empty list', () => {
    expect(parseNemesisList('none')).toEqual([]);
    expect(() => parseNemesisList('')).toThrow(UsageError);
  });
});

describe.skipIf(!findOnPath('etcd'))('faults the network cannot express are refused before anything starts', () => {
  const cases: [string[], RegExp][] = [
    [['--nemesis', 'partition', '--net', 'toxiproxy'], /real etcd cannot be partitioned through per-pair peer proxies/],
    [['--nemesis', 'slow', '--net', 'iptables'], /slow nemesis needs Toxiproxy/],
    [['--nemesis', 'kill', '--partition-kinds', 'halves'], /--partition-kinds needs the partition nemesis/],
    [['--nemesis', 'partition', '--partition-kinds', 'sideways'], /unknown partition kind "sideways"/],
  ];
  for (const [extra, message] of cases) {
    it(`exits 3 for ${extra.join(' ')}`, async () => {
      const store = mkdtempSync(join(tmpdir(), 'fl-cli-'));
      try {
        const r = await run(['run', '--db', 'etcd', '--store', store, '--quiet', ...extra]);
        expect(r.code).toBe(3);
        expect(r.err).toMatch(message);
      } finally {
        rmSync(store, { recursive: true, force: true });
      }
    });
  }
});
