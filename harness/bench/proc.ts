// CPU and memory of member processes, from /proc once a second: utime+stime
// from /proc/<pid>/stat (clock ticks) and VmRSS from /proc/<pid>/status.
// CPU is reported as percent of one core over each interval, so a
// multi-threaded etcd on 2 cores can show up to 200 %.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface CpuTimes {
  /** utime + stime, in clock ticks. */
  ticks: number;
}

/** Parses /proc/<pid>/stat. The command name may hold spaces and parentheses, so fields are counted after the last ')'. */
export function parseProcStat(text: string): CpuTimes {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('malformed /proc stat: no command name');
  // After ")": field 3 (state) is the first; utime and stime are fields 14 and 15.
  const fields = text.slice(close + 2).trim().split(/\s+/);
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('malformed /proc stat: no utime/stime');
  return { ticks: utime + stime };
}

/** VmRSS from /proc/<pid>/status, in bytes; undefined for a zombie (no VmRSS line). */
export function parseStatusRss(text: string): number | undefined {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

let clkTck: number | undefined;
export function clockTicksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface ProcReading {
  ticks: number;
  rssBytes: number | undefined;
}

export function readProc(pid: number): ProcReading | undefined {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const rssBytes = parseStatusRss(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { ticks: stat.ticks, rssBytes };
  } catch {
    return undefined;
  }
}

export interface UsagePoint {
  /** Ms since the sampler started. */
  t: number;
  cpuPercent: number;
  rssBytes: number;
}

export interface ProcessUsage {
  name: string;
  pid: number | undefined;
  points: UsagePoint[];
  /** CPU over the whole sampled window, percent of one core. */
  cpuAvgPercent: number;
  cpuMaxPercent: number;
  rssMaxBytes: number;
  rssEndBytes: number;
}

export interface SampledProcess {
  name: string;
  pid: () => number | undefined;
}

interface Track {
  proc: SampledProcess;
  lastTicks: number | undefined;
  lastAt: number;
  lastPid: number | undefined;
  points: UsagePoint[];
}

/** Samples a set of processes every `intervalMs` from start() to stop(). */
export class ProcSampler {
  private readonly tracks: Track[];
  private timer: NodeJS.Timeout | undefined;
  private origin = 0;

  constructor(
    procs: SampledProcess[],
    private readonly intervalMs = 1000,
    private readonly read: (pid: number) => ProcReading | undefined = readProc,
    private readonly now: () => number = () => performance.now(),
    private readonly ticksPerSecond = clockTicksPerSecond(),
  ) {
    this.tracks = procs.map((proc) => ({ proc, lastTicks: undefined, lastAt: 0, lastPid: undefined, points: [] }));
  }

  start(): void {
    this.origin = this.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Takes one reading of every process; exposed so tests can drive it without timers. */
  sample(): void {
    const at = this.now();
    for (const tr of this.tracks) {
      const pid = tr.proc.pid();
      if (pid === undefined) continue;
      const r = this.read(pid);
      if (!r) continue;
      if (tr.lastPid !== pid) {
        // A restarted process starts its CPU counter again: begin a new baseline.
        tr.lastPid = pid;
        tr.lastTicks = r.ticks;
        tr.lastAt = at;
        if (r.rssBytes !== undefined) tr.points.push({ t: at - this.origin, cpuPercent: 0, rssBytes: r.rssBytes });
        continue;
      }
      const dt = (at - tr.lastAt) / 1000;
      const cpuPercent = dt > 0 ? ((r.ticks - tr.lastTicks!) / this.ticksPerSecond / dt) * 100 : 0;
      tr.lastTicks = r.ticks;
      tr.lastAt = at;
      if (r.rssBytes !== undefined) tr.points.push({ t: at - this.origin, cpuPercent, rssBytes: r.rssBytes });
    }
  }

  stop(): ProcessUsage[] {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return this.tracks.map(usageOf);
  }
}

function usageOf(tr: Track): ProcessUsage {
  // The first point of each baseline carries no interval; leave it out of the CPU figures.
  const withCpu = tr.points.slice(1);
  const busySeconds = withCpu.reduce((s, p, i) => s + (p.cpuPercent / 100) * ((p.t - tr.points[i]!.t) / 1000), 0);
  const wallSeconds = tr.points.length > 1 ? (tr.points[tr.points.length - 1]!.t - tr.points[0]!.t) / 1000 : 0;
  return {
    name: tr.proc.name,
    pid: tr.lastPid,
    points: tr.points,
    cpuAvgPercent: wallSeconds > 0 ? (busySeconds / wallSeconds) * 100 : 0,
    cpuMaxPercent: withCpu.reduce((m, p) => Math.max(m, p.cpuPercent), 0),
    rssMaxBytes: tr.points.reduce((m, p) => Math.max(m, p.rssBytes), 0),
    rssEndBytes: tr.points[tr.points.length - 1]?.rssBytes ?? 0,
  };
}
