import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDir, pidAlive, processStartTime } from '../../../etcd/wal/datadir.js';
import { DataDirLockedError } from '../../../etcd/wal/errors.js';

let root: string;
const children: ChildProcess[] = [];
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'datadir-test-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

function sleeper(): ChildProcess {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

async function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  await new Promise((resolve) => c.once('exit', resolve));
}

async function writeLock(dataDir: string, owner: object | string): Promise<string> {
  const file = path.join(dataDir, 'member', 'lock');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, typeof owner === 'string' ? owner : JSON.stringify(owner));
  return file;
}

describe('DataDir', () => {
  it('lays out member/wal and member/snap with a pid lock', async () => {
    const d = await DataDir.open(root);
    await access(d.walDir);
    await access(d.snapDir);
    expect(d.walDir).toBe(path.join(root, 'member', 'wal'));
    expect(d.snapDir).toBe(path.join(root, 'member', 'snap'));
    expect(JSON.parse(await readFile(d.lockFile, 'utf8')).pid).toBe(process.pid);
    const { wal } = await d.openWal();
    await wal.saveAndSync(undefined, [{ index: 1, term: 1, type: 'normal', data: new Uint8Array([1]) }]);
    await wal.close();
    await d.snapshots().save({ index: 1, term: 1, confState: { voters: [], learners: [] } }, new Uint8Array(3));
    await d.release();
    await expect(access(d.lockFile)).rejects.toThrow();
  });

  it('rejects a second open while held, in this process', async () => {
    const d = await DataDir.open(root);
    await expect(DataDir.open(root)).rejects.toThrow(DataDirLockedError);
    await expect(DataDir.open(path.join(root, '.'))).rejects.toThrow(/already open in this process/);
    await d.release();
    const again = await DataDir.open(root);
    await again.release();
  });

  it('rejects an open while another live process holds the lock', async () => {
    const child = sleeper();
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid!;
    const startTime = processStartTime(pid);
    await writeLock(root, startTime === undefined ? { pid } : { pid, startTime });
    const err = await DataDir.open(root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as DataDirLockedError).pid).toBe(pid);
    expect((err as Error).message).toMatch(new RegExp(`in use by another process \\(pid ${pid}`));
  });

  it('takes over a stale lock left by a killed process', async () => {
    const child = sleeper();
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid!;
    await writeLock(root, { pid, startTime: processStartTime(pid) });
    child.kill('SIGKILL');
    await exited(child);
    expect(pidAlive(pid)).toBe(false);
    const d = await DataDir.open(root);
    expect(JSON.parse(await readFile(d.lockFile, 'utf8')).pid).toBe(process.pid);
    await d.release();
  });

  it('takes over when the recorded pid now belongs to a different process, or to this one', async () => {
    const child = sleeper();
    await new Promise((r) => child.once('spawn', r));
    if (processStartTime(child.pid!) !== undefined) {
      await writeLock(root, { pid: child.pid, startTime: '1' }); // same pid, different start: reused
      const d = await DataDir.open(root);
      await d.release();
    }
    await writeLock(root, { pid: process.pid, startTime: '1' }); // a previous incarnation with our pid
    const d2 = await DataDir.open(root);
    await d2.release();
  });

  it('takes over an unreadable lock file (its writer crashed mid-write)', async () => {
    await writeLock(root, '');
    const d = await DataDir.open(root);
    await d.release();
    await writeLock(root, '{"pid": "nope"');
    const d2 = await DataDir.open(root);
    await d2.release();
  });
});
