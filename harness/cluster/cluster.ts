// A cluster of members on loopback (or behind a network mechanism): port
// planning, launch, readiness by health check, leader discovery through
// Maintenance.Status, and teardown.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdClient, grpcTarget } from '../client/etcd-client.js';
import { sleep } from '../clock.js';
import type { ProcessGuard } from './guard.js';
import { Member, type MemberSpec, type ServerCommand } from './member.js';

export interface ClusterLayout {
  names: string[];
  /** Per member: what clients use, and what the member binds. */
  clientUrls: string[];
  listenClientUrls: string[];
  listenPeerUrls: string[];
  advertisePeerUrls: string[];
  /** Per member: the --initial-cluster it is started with. */
  initialClusters: string[];
  /** Per member: flags appended after the command's own (e.g. faultline-etcd's --peer-dial-overrides). */
  memberFlags?: string[][];
}

export function memberNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `n${i + 1}`);
}

/** Plain loopback layout: member i gets client port base+2i and peer port base+2i+1. */
export function loopbackLayout(n: number, basePort: number, host = '127.0.0.1'): ClusterLayout {
  const names = memberNames(n);
  const clientUrls = names.map((_, i) => `http://${host}:${basePort + 2 * i}`);
  const peerUrls = names.map((_, i) => `http://${host}:${basePort + 2 * i + 1}`);
  const initial = names.map((name, i) => `${name}=${peerUrls[i]}`).join(',');
  return {
    names,
    clientUrls,
    listenClientUrls: clientUrls,
    listenPeerUrls: peerUrls,
    advertisePeerUrls: peerUrls,
    initialClusters: names.map(() => initial),
  };
}

export interface ClusterOptions {
  layout: ClusterLayout;
  command: ServerCommand;
  /** Per-member command overrides (e.g. a namespace wrapper per member). */
  commandFor?: (name: string, index: number) => ServerCommand;
  runDir: string;
  clusterToken: string;
  guard?: ProcessGuard;
  log?: (msg: string) => void;
}

export class Cluster {
  readonly members: Member[];
  private readonly admin = new Map<string, EtcdClient>();

  constructor(private readonly opts: ClusterOptions) {
    const { layout } = opts;
    const dataRoot = join(opts.runDir, 'data');
    const logRoot = join(opts.runDir, 'logs');
    mkdirSync(dataRoot, { recursive: true });
    mkdirSync(logRoot, { recursive: true });
    this.members = layout.names.map((name, i) => {
      const spec: MemberSpec = {
        name,
        clientUrl: layout.clientUrls[i]!,
        listenClientUrl: layout.listenClientUrls[i]!,
        listenPeerUrl: layout.listenPeerUrls[i]!,
        advertisePeerUrl: layout.advertisePeerUrls[i]!,
        initialCluster: layout.initialClusters[i]!,
        clusterToken: opts.clusterToken,
        dataDir: join(dataRoot, `${name}.etcd`),
        logPath: join(logRoot, `${name}.log`),
      };
      const command = opts.commandFor?.(name, i) ?? opts.command;
      const own = layout.memberFlags?.[i] ?? [];
      const withFlags = own.length > 0 ? { ...command, extraFlags: [...(command.extraFlags ?? []), ...own] } : command;
      return new Member(spec, withFlags, opts.guard, opts.log);
    });
  }

  member(name: string): Member {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  get names(): string[] {
    return this.members.map((m) => m.name);
  }

  /** A client used only for health and leader queries, one per member. */
  adminClient(name: string): EtcdClient {
    let c = this.admin.get(name);
    if (!c) {
      c = new EtcdClient(grpcTarget(this.member(name).spec.clientUrl), { timeoutMs: 2000 });
      this.admin.set(name, c);
    }
    return c;
  }

  startAll(): void {
    for (const m of this.members) m.start();
  }

  /** A member is healthy when a linearizable read succeeds through it (etcdctl endpoint health). */
  async isHealthy(name: string, timeoutMs = 1000): Promise<boolean> {
    try {
      await this.adminClient(name).range('health', { timeoutMs });
      return true;
    } catch {
      return false;
    }
  }

  /** Waits until every named member answers the health check; throws with the laggards on timeout. */
  async waitHealthy(timeoutMs: number, names: string[] = this.names, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(names);
    while (pending.size > 0) {
      if (signal?.aborted) throw new Error('interrupted');
      for (const name of [...pending]) {
        const m = this.member(name);
        if (!m.isUp) throw new Error(`member ${name} exited during startup: ${lastLogLine(m.spec.logPath)} (log: ${m.spec.logPath})`);
        if (await this.isHealthy(name)) pending.delete(name);
      }
      if (pending.size === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`members not healthy after ${Math.round(timeoutMs / 1000)} s: ${[...pending].join(', ')} (logs in ${join(this.opts.runDir, 'logs')})`);
      }
      await sleep(200, signal);
    }
  }

  /** The leader's name as the members report it (majority view), or undefined. */
  async leader(timeoutMs = 1000): Promise<string | undefined> {
    const views = await Promise.all(
      this.members
        .filter((m) => m.state === 'running')
        .map(async (m) => {
          try {
            const s = await this.adminClient(m.name).status(timeoutMs);
            return { name: m.name, self: s.header.memberId, leader: s.leader };
          } catch {
            return undefined;
          }
        }),
    );
    const known = views.filter((v): v is { name: string; self: string; leader: string } => v !== undefined);
    const idToName = new Map(known.map((v) => [v.self, v.name]));
    const votes = new Map<string, number>();
    for (const v of known) if (v.leader !== '0') votes.set(v.leader, (votes.get(v.leader) ?? 0) + 1);
    const best = [...votes.entries()].sort((a, b) => b[1] - a[1])[0];
    return best ? idToName.get(best[0]) : undefined;
  }

  /** Member id (hex) → name, for members that answer. */
  async memberIds(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const m of this.members) {
      try {
        const s = await this.adminClient(m.name).status(1000);
        out[s.header.memberId] = m.name;
      } catch {
        // down or paused
      }
    }
    return out;
  }

  /** Stops every member gracefully (SIGKILL after the grace period) and closes admin clients. */
  async stopAll(graceMs = 3000): Promise<void> {
    for (const c of this.admin.values()) c.close();
    this.admin.clear();
    await Promise.all(this.members.map((m) => m.stop(graceMs)));
  }

  /** Synchronous last resort for crash paths. */
  killAllNow(): void {
    for (const m of this.members) m.killNow();
  }

  unexpectedExits(): string[] {
    return this.members.flatMap((m) => m.unexpectedExits);
  }
}

/** The last meaningful line of a member's log, to say why it died without opening the file. */
export function lastLogLine(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('at '));
    const line = lines[lines.length - 1] ?? '';
    return line.length > 300 ? `${line.slice(0, 300)}…` : line || 'no output';
  } catch {
    return 'no log';
  }
}
