// The --data-dir layout, as etcd lays it out:
//
//   <data-dir>/member/wal/   WAL segments (wal.ts)
//   <data-dir>/member/snap/  snapshot files (snapshots.ts)
//   <data-dir>/member/lock   advisory lock: {"pid":..,"startTime":..}
//
// The lock keeps two servers from writing one WAL. It is a pid file, not a
// kernel lock, so a process killed with -9 leaves it behind; the next opener
// treats it as stale when that pid no longer runs, or runs but started at a
// different time (pid reused, as happens for a container's pid 1 after a
// restart). Two openers racing over the same stale lock in the same instant
// are not excluded; that is not a supported way to run servers.

import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DataDirLockedError } from './errors.js';
import { isErrno } from './fsutil.js';
import { SnapshotStore } from './snapshots.js';
import { Wal, type WalOptions } from './wal.js';

export { DataDirLockedError } from './errors.js';

interface LockOwner {
  pid: number;
  /** Process start time in clock ticks since boot (Linux /proc), when known. */
  startTime?: string;
}

/** Data dirs this process holds: a pid check cannot tell a second open in the same process. */
const heldHere = new Set<string>();

/** Start time of a process from /proc/<pid>/stat (field 22), or undefined off Linux. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

function ownerAlive(owner: LockOwner): boolean {
  if (owner.pid === process.pid) return false; // not held here (checked first), so left by a previous incarnation
  if (!pidAlive(owner.pid)) return false;
  if (owner.startTime === undefined) return true;
  const now = processStartTime(owner.pid);
  return now === undefined || now === owner.startTime;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const { pid, startTime } = v as { pid?: unknown; startTime?: unknown };
    if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return undefined;
    return typeof startTime === 'string' ? { pid, startTime } : { pid };
  } catch {
    return undefined;
  }
}

export class DataDir {
  readonly memberDir: string;
  readonly walDir: string;
  readonly snapDir: string;
  readonly lockFile: string;
  private released = false;

  private constructor(readonly root: string) {
    this.memberDir = path.join(root, 'member');
    this.walDir = path.join(this.memberDir, 'wal');
    this.snapDir = path.join(this.memberDir, 'snap');
    this.lockFile = path.join(this.memberDir, 'lock');
  }

  /** Creates the layout if needed and takes the lock; throws DataDirLockedError if a live process holds it. */
  static async open(root: string): Promise<DataDir> {
    const d = new DataDir(path.resolve(root));
    await mkdir(d.walDir, { recursive: true });
    await mkdir(d.snapDir, { recursive: true });
    if (heldHere.has(d.root)) {
      throw new DataDirLockedError(`data dir ${d.root} is already open in this process (pid ${process.pid})`, d.lockFile, process.pid);
    }
    await d.lock();
    heldHere.add(d.root);
    return d;
  }

  openWal(opts?: WalOptions): ReturnType<typeof Wal.open> {
    return Wal.open(this.walDir, opts);
  }

  snapshots(): SnapshotStore {
    return new SnapshotStore(this.snapDir);
  }

  /** Removes the lock (if it is still ours). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    heldHere.delete(this.root);
    try {
      const owner = parseOwner(await readFile(this.lockFile, 'utf8'));
      if (owner?.pid === process.pid) await unlink(this.lockFile);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }

  private async lock(): Promise<void> {
    const me: LockOwner = { pid: process.pid };
    const start = processStartTime(process.pid);
    if (start !== undefined) me.startTime = start;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(this.lockFile, 'wx');
        try {
          await fh.writeFile(`${JSON.stringify(me)}\n`);
          await fh.sync();
        } finally {
          await fh.close();
        }
        return;
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
      }
      let text: string;
      try {
        text = await readFile(this.lockFile, 'utf8');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      const owner = parseOwner(text);
      if (owner && ownerAlive(owner)) {
        throw new DataDirLockedError(
          `data dir ${this.root} is in use by another process (pid ${owner.pid}, lock file ${this.lockFile})`,
          this.lockFile,
          owner.pid,
        );
      }
      // Stale (owner gone) or unreadable (its writer crashed mid-write): take it over.
      try {
        await unlink(this.lockFile);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    throw new Error(`data dir ${this.root}: could not acquire ${this.lockFile}`);
  }
}
