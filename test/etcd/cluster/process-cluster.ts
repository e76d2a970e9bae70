// Real faultline-etcd processes on 127.0.0.1 forming one cluster: start,
// kill -9, restart on the same data dir, find the leader, clean up.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3, type IOptions } from 'etcd3';
import { freePort, OURS_BIN } from '../../support/servers.js';

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
const passthrough = {
  execute: <T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> => Promise.resolve().then(() => fn({ signal: new AbortController().signal })),
} as unknown as Policy;

export interface ProcMember {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  proc: ChildProcess | undefined;
}

export class ProcessCluster {
  readonly members: ProcMember[] = [];
  readonly root: string;
  private readonly token = `proc-${process.pid}-${Date.now()}`;

  private constructor(readonly extraFlags: string[]) {
    this.root = mkdtempSync(join(tmpdir(), 'fl-proc-cluster-'));
  }

  static async create(size: number, extraFlags: string[] = []): Promise<ProcessCluster> {
    const c = new ProcessCluster(extraFlags);
    for (let i = 0; i < size; i++) {
      const name = `p${i + 1}`;
      c.members.push({
        name,
        clientPort: await freePort(),
        peerPort: await freePort(),
        dataDir: join(c.root, `${name}.etcd`),
        logFile: join(c.root, `${name}.log`),
        proc: undefined,
      });
    }
    return c;
  }

  get endpoints(): string[] {
    return this.members.map((m) => `http://127.0.0.1:${m.clientPort}`);
  }

  start(m: ProcMember, flags: string[] = []): void {
    const initial = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
    const client = `http://127.0.0.1:${m.clientPort}`;
    const peer = `http://127.0.0.1:${m.peerPort}`;
    const args = [
      OURS_BIN,
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', initial,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', this.token,
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      ...this.extraFlags,
      ...flags,
    ];
    const fd = openSync(m.logFile, 'a');
    m.proc = spawn(process.execPath, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
  }

  startAll(): void {
    for (const m of this.members) this.start(m);
  }

  kill9(m: ProcMember): Promise<void> {
    const p = m.proc;
    m.proc = undefined;
    if (!p || p.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  async killAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill9(m)));
  }

  /** A client of one member; `raw` turns off etcd3's retries and circuit breaker (load generators record every outcome). */
  client(m: ProcMember, raw = false): Etcd3 {
    const opts: IOptions = { hosts: `http://127.0.0.1:${m.clientPort}`, dialTimeout: 1000 };
    if (raw) opts.faultHandling = { host: () => passthrough, global: passthrough };
    return new Etcd3(opts);
  }

  /** Waits until a linearizable read succeeds through every running member. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const m of this.members.filter((x) => x.proc)) {
      for (;;) {
        try {
          const r = await fetch(`http://127.0.0.1:${m.clientPort}/health`, { signal: AbortSignal.timeout(2000) });
          if (r.status === 200) break;
        } catch {
          // not up yet
        }
        if (Date.now() > deadline) throw new Error(`${m.name} not healthy in time; log tail: ${this.logTail(m)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** The member all running members name as leader. */
  async leader(timeoutMs = 15_000): Promise<ProcMember> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(
        this.members
          .filter((m) => m.proc)
          .map(async (m) => {
            const c = this.client(m);
            try {
              const s = await c.maintenance.status();
              return { m, self: s.header.member_id, leader: s.leader };
            } catch {
              return undefined;
            } finally {
              c.close();
            }
          }),
      );
      const ok = views.filter((v): v is NonNullable<typeof v> => v !== undefined);
      const leader = ok[0]?.leader;
      if (leader && leader !== '0' && ok.length === views.length && ok.every((v) => v.leader === leader)) {
        const found = ok.find((v) => v.self === leader);
        if (found) return found.m;
      }
      if (Date.now() > deadline) throw new Error(`no agreed leader: ${JSON.stringify(ok.map((v) => [v.m.name, v.leader]))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  logTail(m: ProcMember): string {
    try {
      return readFileSync(m.logFile, 'utf8').split('\n').slice(-25).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async destroy(): Promise<void> {
    await this.killAll();
    rmSync(this.root, { recursive: true, force: true });
  }
}
