import { describe, expect, it } from 'vitest';
import { CASE_NAMES, parseBenchCheckersArgs } from '../../../harness/bench-checkers/args.js';
import { runCli } from '../../support/cli.js';

const run = (argv: string[]) => runCli(argv);

describe('faultline bench-checkers argument errors exit 3 with a clear message', () => {
  const cases: [string[], RegExp][] = [
    [['--only', 'bank'], /unknown case "bank" for --only \(choose from append, wr, linearizable, pathological\)/],
    [['--only', 'append,cycles'], /unknown case "cycles" for --only/],
    [['--only', ','], /--only needs at least one of append, wr, linearizable, pathological/],
    [['--only'], /--only needs a value/],
    [['--txns', 'many'], /--txns must be a number, got "many"/],
    [['--txns', '0'], /--txns must be at least 1, got 0/],
    [['--txns', '2.5'], /--txns must be a whole number, got "2.5"/],
    [['--ops', '-3'], /--ops must be at least 1, got -3/],
    [['--keys', ''], /--keys must be a number, got ""/],
    [['--info-percent', '101'], /--info-percent must be at most 100, got 101/],
    [['--info-percent', 'half'], /--info-percent must be a number/],
    [['--processes', '0'], /--processes must be at least 1/],
    [['--budget', '0'], /--budget must be at least 0.01/],
    [['--seed', '-1'], /--seed must be at least 0/],
    [['--seed', '1e12'], /--seed must be at most 2147483647/],
    [['--json=yes'], /--json takes no value/],
    [['--txns', '10', '--txns', '20'], /--txns given twice/],
    [['--frobnicate'], /unknown option --frobnicate/],
    [['append'], /unexpected argument "append" \(options start with --\)/],
  ];
  for (const [argv, message] of cases) {
    it(`exits 3 for bench-checkers ${argv.join(' ')}`, async () => {
      const r = await run(['bench-checkers', ...argv]);
      expect(r.code).toBe(3);
      expect(r.err).toMatch(message);
      expect(r.err).toMatch(/Run `faultline bench-checkers --help` for usage/);
      expect(r.out).toBe('');
    });
  }
});

describe('faultline bench-checkers help', () => {
  it('is printed by --help, -h and help bench-checkers, and listed in the main help', async () => {
    for (const argv of [['bench-checkers', '--help'], ['bench-checkers', '-h'], ['help', 'bench-checkers']]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^Usage: faultline bench-checkers \[options\]/);
      for (const flag of ['--only CASES', '--txns N', '--ops N', '--keys N', '--info-percent P', '--seed N', '--json', '--budget S']) expect(r.out).toContain(flag);
      expect(r.out).toMatch(/Exit codes: 0 every target met, 1 a target missed, 3 bad options/);
    }
    expect((await run(['help'])).out).toMatch(/faultline bench-checkers \[options\]/);
  });

  it('does not take a prototype property for a command', async () => {
    const r = await run(['help', 'constructor']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^faultline: Jepsen-style tests/);
  });
});

describe('parseBenchCheckersArgs', () => {
  it('has the documented defaults', () => {
    expect(parseBenchCheckersArgs([])).toEqual({
      cases: [...CASE_NAMES],
      txns: 100_000,
      ops: 100_000,
      keys: 100,
      infoPercent: 1,
      processes: 10,
      budgetS: 2,
      seed: 1,
      json: false,
    });
  });

  it('runs the chosen cases once each, in the documented order', () => {
    const o = parseBenchCheckersArgs(['--only', 'pathological, append,append', '--txns=500', '--info-percent', '2.5', '--json']);
    expect(o).not.toBe('help');
    if (o === 'help') return;
    expect(o.cases).toEqual(['append', 'pathological']);
    expect(o.txns).toBe(500);
    expect(o.infoPercent).toBe(2.5);
    expect(o.json).toBe(true);
  });
});
