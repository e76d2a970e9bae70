// In-process clusters: N EtcdServer instances, each on its own data dir,
// talking through a MemoryNetwork.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultConfig, type EtcdConfig } from '../../../etcd/config/flags.js';
import { nodeIdFromBigInt, type NodeId } from '../../../etcd/raft/types.js';
import { silentLogger } from '../../../etcd/server/logger.js';
import { EtcdServer, type EtcdServerOptions } from '../../../etcd/server/server.js';
import { MemoryNetwork } from './memory-transport.js';

export interface ClusterMember {
  name: string;
  dataDir: string;
  peerUrl: string;
  server: EtcdServer | undefined;
  stoppedReason?: string;
}

export interface TestClusterOptions {
  size: number;
  config?: Partial<EtcdConfig>;
  server?: Partial<EtcdServerOptions>;
}

let clusterSeq = 0;

export class TestCluster {
  readonly net = new MemoryNetwork();
  readonly members: ClusterMember[] = [];
  private readonly root: string;
  private readonly initialCluster: Map<string, string[]>;
  readonly token = `test-cluster-${process.pid}-${++clusterSeq}`;

  constructor(private readonly opts: TestClusterOptions) {
    this.root = mkdtempSync(path.join(tmpdir(), 'faultline-cluster-'));
    this.initialCluster = new Map();
    for (let i = 0; i < opts.size; i++) {
      const name = `m${i + 1}`;
      const peerUrl = `http://127.0.0.1:${23800 + i}`;
      this.initialCluster.set(name, [peerUrl]);
      this.members.push({ name, dataDir: path.join(this.root, name), peerUrl, server: undefined });
    }
  }

  config(m: ClusterMember, over: Partial<EtcdConfig> = {}): EtcdConfig {
    return defaultConfig({
      name: m.name,
      dataDir: m.dataDir,
      heartbeatIntervalMs: 20,
      electionTimeoutMs: 200,
      initialCluster: this.initialCluster,
      initialClusterToken: this.token,
      initialAdvertisePeerUrls: [m.peerUrl],
      advertiseClientUrls: [`http://127.0.0.1:${33790 + this.members.indexOf(m)}`],
      ...this.opts.config,
      ...over,
    });
  }

  async open(m: ClusterMember, over: Partial<EtcdConfig> = {}, extra: Partial<EtcdServerOptions> = {}): Promise<EtcdServer> {
    const server = await EtcdServer.open({
      config: this.config(m, over),
      logger: silentLogger,
      transport: (ids) => this.net.transport(nodeIdFromBigInt(ids.memberId)),
      onStopped: (reason) => {
        m.stoppedReason = reason;
      },
      ...this.opts.server,
      ...extra,
    });
    m.server = server;
    return server;
  }

  /** Opens every member and waits until all of them have published their names (etcd's "started"). */
  async start(): Promise<void> {
    await Promise.all(this.members.map((m) => this.open(m)));
    await eventually(async () => {
      const list = (await this.members[0]!.server!.memberList(true, {})).members;
      if (list.some((m) => m.name === '')) throw new Error(`not all members published: ${list.map((m) => m.name || '?').join(',')}`);
    });
  }

  running(): ClusterMember[] {
    return this.members.filter((m) => m.server !== undefined);
  }

  nodeId(m: ClusterMember): NodeId {
    return nodeIdFromBigInt(m.server!.memberId);
  }

  /** The member every running member agrees leads, once they all agree. */
  async leader(timeoutMs = 10_000, among: ClusterMember[] = this.running()): Promise<ClusterMember> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(among.map(async (m) => (await m.server!.status({})).leader));
      const first = views[0];
      if (first !== undefined && first !== 0n && views.every((v) => v === first)) {
        const leader = among.find((m) => m.server!.memberId === first);
        if (leader) return leader;
      }
      if (Date.now() > deadline) throw new Error(`no agreed leader among ${among.map((m) => m.name).join(',')}: ${views.join(',')}`);
      await sleep(20);
    }
  }

  followers(leader: ClusterMember): ClusterMember[] {
    return this.running().filter((m) => m !== leader);
  }

  async crash(m: ClusterMember): Promise<void> {
    const s = m.server;
    m.server = undefined;
    await s?.crash();
  }

  async stop(m: ClusterMember): Promise<void> {
    const s = m.server;
    m.server = undefined;
    await s?.close();
  }

  async destroy(): Promise<void> {
    for (const m of this.members) {
      const s = m.server;
      m.server = undefined;
      await s?.crash().catch(() => undefined);
    }
    rmSync(this.root, { recursive: true, force: true });
  }

  addMember(name: string, peerUrl: string): ClusterMember {
    const m: ClusterMember = { name, dataDir: path.join(this.root, name), peerUrl, server: undefined };
    this.members.push(m);
    return m;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function eventually<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} not met in time: ${last instanceof Error ? last.message : String(last)}`);
    await sleep(25);
  }
}
