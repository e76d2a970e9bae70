import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HEAP_GROWING_PERCENT, heapGrowthChosen, tuneHeapGrowth } from '../../../etcd/util/heap-growth.js';

describe('heap growth tuning', () => {
  it('sets the default growing percent when the operator chose none', () => {
    const set: string[] = [];
    expect(tuneHeapGrowth(['--enable-source-maps'], '--max-old-space-size=4096', (f) => set.push(f))).toBe(DEFAULT_HEAP_GROWING_PERCENT);
    expect(set).toEqual([`--heap-growing-percent=${DEFAULT_HEAP_GROWING_PERCENT}`]);
  });

  it("leaves the operator's choice alone, on the command line or in NODE_OPTIONS, in either spelling", () => {
    const cases: Array<[string[], string | undefined]> = [
      [['--heap-growing-percent=200'], undefined],
      [['--heap_growing_percent=10'], undefined],
      [[], '--max-old-space-size=100 --heap-growing-percent=20'],
      [[], '--heap-growing-percent 20'],
    ];
    for (const [argv, opts] of cases) {
      const set: string[] = [];
      expect(tuneHeapGrowth(argv, opts, (f) => set.push(f))).toBeUndefined();
      expect(set).toEqual([]);
      expect(heapGrowthChosen(argv, opts)).toBe(true);
    }
  });

  it('does not mistake other flags for it', () => {
    expect(heapGrowthChosen(['--heap-growing-percentage-of-nothing'], '--xheap-growing-percent=3')).toBe(false);
    expect(heapGrowthChosen([], undefined)).toBe(false);
  });

  it('is a flag this Node knows', () => {
    // V8 reports a flag it does not know on stderr and carries on; the check
    // that it does so makes sure an empty stderr means something.
    const run = (flag: string) =>
      spawnSync(process.execPath, ['-e', `require('node:v8').setFlagsFromString('${flag}'); console.log('ok')`], { encoding: 'utf8' });
    const ours = run(`--heap-growing-percent=${DEFAULT_HEAP_GROWING_PERCENT}`);
    expect(ours.stdout.trim()).toBe('ok');
    expect(ours.stderr).toBe('');
    expect(run('--no-such-v8-flag-at-all=1').stderr).toMatch(/unrecognized flag/);
  });
});
