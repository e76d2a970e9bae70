import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive } from '../../../harness/cluster/guard.js';
import { Member, memberFlags, type MemberSpec } from '../../../harness/cluster/member.js';

const members: Member[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const m of members.splice(0)) m.killNow();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function spec(dir: string): MemberSpec {
  return {
    name: 'n1',
    clientUrl: 'http://127.0.0.1:1',
    listenClientUrl: 'http://127.0.0.1:1',
    listenPeerUrl: 'http://127.0.0.1:2',
    advertisePeerUrl: 'http://127.0.0.1:2',
    initialCluster: 'n1=http://127.0.0.1:2',
    clusterToken: 'tok',
    dataDir: join(dir, 'n1.etcd'),
    logPath: join(dir, 'n1.log'),
  };
}

/** A stand-in server (its readiness line is spelled so the command line echoed into the log cannot match it): prints its argv, then idles; optionally ignores SIGTERM like a slow-stopping leader. */
function fakeServer(ignoreTerm: boolean) {
  // The handler goes in before the first output, which the test waits for.
  const code = `${ignoreTerm ? "process.on('SIGTERM', () => console.log('ignoring TERM'));" : ''}console.log('READY'.toLowerCase(), JSON.stringify(process.argv.slice(1)));setInterval(() => {}, 1000);`;
  return { file: process.execPath, prefixArgs: ['-e', code, '--'] };
}

function procState(pid: number): string | undefined {
  try {
    return /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

describe('memberFlags', () => {
  it('passes etcd its identity, URLs and bootstrap flags', () => {
    const f = memberFlags(spec('/d'));
    const get = (k: string) => f[f.indexOf(k) + 1];
    expect(get('--name')).toBe('n1');
    expect(get('--data-dir')).toBe('/d/n1.etcd');
    expect(get('--initial-cluster-state')).toBe('new');
    expect(get('--initial-cluster-token')).toBe('tok');
    expect(get('--advertise-client-urls')).toBe('http://127.0.0.1:1');
  });
});

describe('Member process control', () => {
  it('starts with a log file, pauses, resumes, is SIGKILLed and restarts on the same data dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-member-'));
    dirs.push(dir);
    const events: string[] = [];
    const m = new Member(spec(dir), fakeServer(false), undefined, (e) => events.push(e));
    members.push(m);
    m.start();
    const pid = m.pid!;
    expect(m.state).toBe('running');
    expect(await waitFor(() => readFileSync(spec(dir).logPath, 'utf8').includes('ready ['))).toBe(true);
    expect(readFileSync(spec(dir).logPath, 'utf8')).toContain('--data-dir');

    m.pause();
    expect(m.state).toBe('paused');
    expect(await waitFor(() => procState(pid) === 'T')).toBe(true);
    m.resume();
    expect(await waitFor(() => procState(pid) === 'S' || procState(pid) === 'R')).toBe(true);

    await m.kill();
    expect(m.state).toBe('killed');
    expect(m.pid).toBeUndefined();
    expect(isAlive(pid) && procState(pid) !== 'Z').toBe(false);
    expect(events).toEqual([]); // asked-for exits are not crashes

    m.start();
    expect(m.pid).not.toBe(pid);
    expect(m.starts).toBe(2);
    expect(readFileSync(spec(dir).logPath, 'utf8').match(/=== faultline: start #/g)).toHaveLength(2);
    await m.stop(2000);
    expect(m.state).toBe('stopped');
  });

  it('SIGKILLs a member that ignores SIGTERM once the grace period is over, even when paused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-member-'));
    dirs.push(dir);
    const m = new Member(spec(dir), fakeServer(true), undefined);
    members.push(m);
    m.start();
    const pid = m.pid!;
    expect(await waitFor(() => readFileSync(spec(dir).logPath, 'utf8').includes('ready ['))).toBe(true);
    m.pause();
    const t = Date.now();
    await m.stop(300);
    expect(Date.now() - t).toBeGreaterThanOrEqual(250);
    expect(isAlive(pid) && procState(pid) !== 'Z').toBe(false);
  });

  it('reports a member that exits on its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-member-'));
    dirs.push(dir);
    const m = new Member(spec(dir), { file: process.execPath, prefixArgs: ['-e', 'process.exit(7)', '--'] }, undefined);
    members.push(m);
    m.start();
    expect(await waitFor(() => m.unexpectedExits.length === 1)).toBe(true);
    expect(m.unexpectedExits[0]).toMatch(/exit code 7/);
    expect(m.state).toBe('stopped');
  });
});
