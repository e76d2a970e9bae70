import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, ProcessGuard, reapLeftovers } from '../../../harness/cluster/guard.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.pid !== undefined && isAlive(c.pid)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'fl-guard-'));
  dirs.push(d);
  return d;
}

/** A long-lived process whose command line carries `marker`. */
function sleeper(marker: string): ChildProcess {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker], { stdio: 'ignore', detached: true });
  children.push(c);
  return c;
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

/** Alive and not a zombie waiting for us to reap it. */
function running(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

describe('ProcessGuard watchdog', () => {
  it('kills tracked processes when the harness side of the pipe closes', async () => {
    const dir = tmp();
    const guard = new ProcessGuard(join(dir, '.live'), 'run1');
    const victim = sleeper(`${dir}/n1.etcd`);
    const spared = sleeper(`${dir}/n2.etcd`);
    await waitFor(() => victim.pid !== undefined && spared.pid !== undefined);
    guard.note('netnsPrefix', 'fl-abc123-');
    expect(JSON.parse(readFileSync(join(dir, '.live', 'run1.json'), 'utf8')).resources).toEqual({ netnsPrefix: 'fl-abc123-' });
    guard.track(victim.pid!, dir);
    guard.track(spared.pid!, dir);
    guard.untrack(spared.pid!);
    expect(existsSync(join(dir, '.live', 'run1.json'))).toBe(true);
    // The pipe closing is what a SIGKILLed harness looks like to the watchdog.
    guard.close();
    expect(await waitFor(() => !running(victim.pid!))).toBe(true);
    expect(running(spared.pid!)).toBe(true);
    expect(readdirSync(join(dir, '.live'))).toEqual([]);
  });
});

describe('reapLeftovers', () => {
  it('kills members of a dead harness whose command line carries the marker, and only those', async () => {
    const dir = tmp();
    const live = join(dir, '.live');
    mkdirSync(live);
    const member = sleeper(`${dir}/data/n1.etcd`);
    const stranger = sleeper('unrelated');
    const otherRunMember = sleeper(`${dir}/data/n9.etcd`);
    const liveHarness = sleeper('harness');
    await waitFor(() => [member, stranger, otherRunMember, liveHarness].every((c) => c.pid !== undefined));
    // A pid that is certainly dead: a process that already exited.
    const exited = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => exited.on('exit', r));
    writeFileSync(
      join(live, 'dead.json'),
      JSON.stringify({
        harnessPid: exited.pid,
        members: [
          { pid: member.pid, marker: `${dir}/data/n1.etcd` },
          { pid: stranger.pid, marker: `${dir}/data/n2.etcd` }, // pid reused by something else: spared
        ],
      }),
    );
    writeFileSync(join(live, 'running.json'), JSON.stringify({ harnessPid: liveHarness.pid, members: [{ pid: otherRunMember.pid, marker: `${dir}/data/n9.etcd` }] }));
    const dead = reapLeftovers(live);
    expect(dead).toEqual([{ ledger: 'dead.json', killed: [member.pid], resources: {} }]);
    expect(await waitFor(() => !running(member.pid!))).toBe(true);
    expect(running(stranger.pid!)).toBe(true);
    expect(running(otherRunMember.pid!)).toBe(true);
    expect(readdirSync(live)).toEqual(['running.json']);
  });
});
