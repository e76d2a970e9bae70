// Members must not outlive the harness, even when it is SIGKILLed and no
// handler runs. Two layers:
//  - a watchdog process holding the read end of a pipe from the harness; when
//    the pipe closes (the harness is gone, however it died) it SIGKILLs every
//    member it was told about;
//  - a ledger file per run under <store>/.live/, listing the harness pid and
//    each member's pid with a marker (its data dir); the next run reaps members
//    whose harness is dead, in case the watchdog itself was killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const WATCHDOG_SOURCE = `
const pids = new Set();
let buf = '';
const reap = () => {
  for (const p of pids) {
    try { process.kill(-p, 'SIGKILL'); } catch {}
    try { process.kill(p, 'SIGKILL'); } catch {}
  }
  process.exit(0);
};
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
process.on('SIGTERM', reap);
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    const pid = Number(line.slice(1));
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (line[0] === '+') pids.add(pid);
    else if (line[0] === '-') pids.delete(pid);
  }
});
process.stdin.on('end', reap);
process.stdin.on('error', reap);
`;

export interface LedgerEntry {
  pid: number;
  /** A string that must appear in /proc/<pid>/cmdline, so a recycled pid is never killed. */
  marker: string;
}

interface LedgerFile {
  harnessPid: number;
  members: LedgerEntry[];
  /** Other things the run created that outlive a SIGKILL (e.g. a network namespace prefix). */
  resources?: Record<string, string>;
}

/** What a dead run left behind, for the caller to remove with the right tool. */
export interface DeadRun {
  ledger: string;
  killed: number[];
  resources: Record<string, string>;
}

export class ProcessGuard {
  private readonly watchdog: ChildProcess | undefined;
  private readonly entries = new Map<number, LedgerEntry>();
  private readonly resources: Record<string, string> = {};
  private readonly ledgerPath: string;

  constructor(liveDir: string, runId: string, useWatchdog = true) {
    mkdirSync(liveDir, { recursive: true });
    this.ledgerPath = join(liveDir, `${runId}.json`);
    this.writeLedger();
    if (useWatchdog) {
      // detached: Ctrl-C goes to the harness's process group only; the harness
      // decides how to clean up, and the watchdog waits for the pipe to close.
      const wd = spawn(process.execPath, ['-e', WATCHDOG_SOURCE], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
      wd.on('error', () => undefined);
      wd.stdin?.on('error', () => undefined);
      wd.unref();
      (wd.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      this.watchdog = wd;
    }
  }

  get watchdogPid(): number | undefined {
    return this.watchdog?.pid;
  }

  track(pid: number, marker: string): void {
    this.entries.set(pid, { pid, marker });
    this.watchdog?.stdin?.write(`+${pid}\n`);
    this.writeLedger();
  }

  /** Records a resource (before creating it) so the next run can remove it if this harness dies. */
  note(key: string, value: string): void {
    this.resources[key] = value;
    this.writeLedger();
  }

  untrack(pid: number): void {
    if (!this.entries.delete(pid)) return;
    this.watchdog?.stdin?.write(`-${pid}\n`);
    this.writeLedger();
  }

  /** After every member is gone: the watchdog exits with nothing to kill, the ledger is removed. */
  close(): void {
    this.watchdog?.stdin?.end();
    rmSync(this.ledgerPath, { force: true });
  }

  private writeLedger(): void {
    const file: LedgerFile = { harnessPid: process.pid, members: [...this.entries.values()], resources: this.resources };
    writeFileSync(this.ledgerPath, JSON.stringify(file));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cmdlineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/**
 * Kills members left behind by runs whose harness died, removes their
 * ledgers, and returns what else they recorded (their resources).
 */
export function reapLeftovers(liveDir: string): DeadRun[] {
  let names: string[];
  try {
    names = readdirSync(liveDir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const dead: DeadRun[] = [];
  for (const name of names) {
    const path = join(liveDir, name);
    let file: LedgerFile;
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as LedgerFile;
    } catch {
      rmSync(path, { force: true });
      continue;
    }
    if (file.harnessPid !== process.pid && isAlive(file.harnessPid)) continue; // another run in progress
    const killed: number[] = [];
    for (const m of file.members) {
      const cmd = cmdlineOf(m.pid);
      if (cmd === undefined || !cmd.includes(m.marker)) continue;
      try {
        process.kill(m.pid, 'SIGKILL');
        killed.push(m.pid);
      } catch {
        // already gone
      }
    }
    rmSync(path, { force: true });
    dead.push({ ledger: name, killed, resources: file.resources ?? {} });
  }
  return dead;
}
