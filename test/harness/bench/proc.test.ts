import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseProcStat, parseStatusRss, ProcSampler, readProc, type ProcReading } from '../../../harness/bench/proc.js';

describe('/proc parsing', () => {
  it('finds utime and stime after a command name with spaces and parentheses', () => {
    const line = '4242 (my (weird) proc) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 567 0 0 20 0 8 0 300 1000000 2000 18446744073709551615';
    expect(parseProcStat(line).ticks).toBe(1234 + 567);
  });

  it('reads VmRSS in bytes, and nothing for a zombie', () => {
    expect(parseStatusRss('Name:\tetcd\nVmPeak:\t  900 kB\nVmRSS:\t   34816 kB\nThreads: 9\n')).toBe(34816 * 1024);
    expect(parseStatusRss('Name:\tetcd\nState:\tZ (zombie)\n')).toBeUndefined();
  });

  it('reads this process', () => {
    const r = readProc(process.pid);
    expect(r?.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(r?.ticks).toBeGreaterThanOrEqual(0);
    expect(readProc(2 ** 22 + 12345)).toBeUndefined();
  });
});

describe('ProcSampler', () => {
  it('turns tick deltas into percent of one core and tracks peak and final RSS', () => {
    let now = 0;
    const readings: Record<number, ProcReading[]> = {
      10: [{ ticks: 0, rssBytes: 10 << 20 }, { ticks: 50, rssBytes: 30 << 20 }, { ticks: 150, rssBytes: 20 << 20 }],
    };
    const sampler = new ProcSampler([{ name: 'n1', pid: () => 10 }, { name: 'gone', pid: () => undefined }], 1000, (pid) => readings[pid]?.shift(), () => now, 100);
    sampler.start();
    now = 1000;
    sampler.sample();
    now = 2000;
    const [n1, gone] = sampler.stop();
    expect(n1!.points.map((p) => Math.round(p.cpuPercent))).toEqual([0, 50, 100]);
    expect(n1!.cpuAvgPercent).toBeCloseTo(75, 6);
    expect(n1!.cpuMaxPercent).toBeCloseTo(100, 6);
    expect(n1!.rssMaxBytes).toBe(30 << 20);
    expect(n1!.rssEndBytes).toBe(20 << 20);
    expect(gone!.points).toEqual([]);
  });

  it('samples a real busy child process', async () => {
    const child = spawn(process.execPath, ['-e', 'const a=[];const t=Date.now();while(Date.now()-t<5000){a.push(new Array(1000).fill(1)); if(a.length>3000)a.length=0}'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const sampler = new ProcSampler([{ name: 'busy', pid: () => child.pid }], 200);
      sampler.start();
      await new Promise((r) => setTimeout(r, 1000));
      const [u] = sampler.stop();
      expect(u!.points.length).toBeGreaterThanOrEqual(3);
      // a spinning process gets at least a share of a core even on a crowded machine
      expect(u!.cpuAvgPercent).toBeGreaterThan(5);
      expect(u!.cpuMaxPercent).toBeLessThanOrEqual(100 * availableParallelism() + 20);
      expect(u!.rssMaxBytes).toBeGreaterThan(10 << 20);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
