// Partitions and slowness through Toxiproxy, one proxy per ordered pair of
// members, driven over Toxiproxy's HTTP API (the built-in server or a real one).
//
// How etcd's peer traffic maps onto the proxies (rafthttp):
// - Member i reaches j only through P(i->j), the proxy i was given as j's peer
//   URL. Upstream bytes on P(i->j) are i->j, downstream bytes are j->i.
// - Streams: i's stream readers dial j (GET /raft/stream/{message,msgappv2}/<i>)
//   and j *writes* its messages for i on that response, so j->i raft messages
//   flow downstream on P(i->j), while i's request only goes upstream once.
// - Pipeline (used for snapshots and while no stream is up): i POSTs to j,
//   so i->j messages go upstream on P(i->j) and j's status reply downstream.
// - Probes and version/members checks: i dials j, request up, reply down.
// So "j drops traffic from i" touches P(i->j) upstream (pipeline POSTs) *and*
// P(j->i) downstream (streams j dialled). A one-way cut cannot be made exact:
// dropping P(j->i) downstream also drops i's replies to j's new stream
// requests, and dropping P(i->j) upstream also drops the requests behind j->i
// streams and the acks of j's pipeline POSTs, so the "working" direction breaks
// too whenever a connection is (re)opened. Only symmetric grudges are exact:
// both proxies of a cut pair lose both directions.
//
// Caveat for real etcd: a member ID is sha1(sorted peer URLs + cluster token),
// and every member computes every other member's ID from its own
// --initial-cluster. Per-source peer URLs therefore give each member a
// different idea of its peers' IDs and of the cluster ID, and rafthttp rejects
// the traffic (cluster ID mismatch). Per-pair proxies work only with a server
// whose member identities do not derive from the peer URLs it dials. Real etcd
// 3.4 started with the per-source --initial-cluster from this plan logs
// "rafthttp: request cluster ID mismatch" and never elects a leader. For real
// etcd, run the members in network namespaces with identical peer URLs and let
// NetnsCluster.redirectPeerTraffic steer each member's outgoing peer
// connections into its own proxies (plan with listenHost = the bridge address
// and each member's namespace address as host), or use the iptables mechanism.

import { Toxiproxy } from 'toxiproxy-node-client';
import { cutPairs, isSymmetric, oneWayPairs } from './grudges.js';
import type { CanExpress, Grudge, NetMechanism } from './types.js';

export interface PeerMember {
  name: string;
  /** The member's real peer port. */
  peerPort: number;
  /** Where the member's peer listener is; default 127.0.0.1. */
  host?: string;
}

export interface PeerProxyPlanOptions {
  /** Address the proxies listen on; default 127.0.0.1. */
  listenHost?: string;
}

export interface PeerProxy {
  /** Toxiproxy proxy name: fl-peer-<from>-<to>. */
  name: string;
  from: string;
  to: string;
  port: number;
  /** <listenHost>:<port> */
  listen: string;
  /** <to's host>:<to's peer port> */
  upstream: string;
}

export interface PeerProxyPlan {
  proxies: PeerProxy[];
  /** member -> (peer name -> the peer URL that member must use). A member's own entry is its real URL. */
  peerUrls: Record<string, Record<string, string>>;
  /** member -> its --initial-cluster value (name=url,...), in the members' order. */
  initialCluster: Record<string, string>;
}

export const peerProxyName = (from: string, to: string): string => `fl-peer-${from}-${to}`;

/**
 * One proxy per ordered pair (i -> j), listening on basePort, basePort+1, ...
 * in (i, j) order and forwarding to j's real peer port.
 */
export function planPeerProxies(
  members: readonly PeerMember[],
  basePort: number,
  opts: PeerProxyPlanOptions = {},
): PeerProxyPlan {
  const listenHost = opts.listenHost ?? '127.0.0.1';
  const names = new Set(members.map((m) => m.name));
  if (names.size !== members.length) throw new Error('member names must be unique');
  const proxies: PeerProxy[] = [];
  const peerUrls: Record<string, Record<string, string>> = {};
  let port = basePort;
  for (const from of members) {
    const urls: Record<string, string> = {};
    for (const to of members) {
      if (to.name === from.name) {
        urls[to.name] = `http://${to.host ?? '127.0.0.1'}:${to.peerPort}`;
        continue;
      }
      if (port > 65535) throw new Error('not enough ports above basePort');
      proxies.push({
        name: peerProxyName(from.name, to.name),
        from: from.name,
        to: to.name,
        port,
        listen: `${listenHost}:${port}`,
        upstream: `${to.host ?? '127.0.0.1'}:${to.peerPort}`,
      });
      urls[to.name] = `http://${listenHost}:${port}`;
      port++;
    }
    peerUrls[from.name] = urls;
  }
  const initialCluster: Record<string, string> = {};
  for (const m of members) {
    const urls = peerUrls[m.name] ?? {};
    initialCluster[m.name] = members.map((x) => `${x.name}=${urls[x.name] ?? ''}`).join(',');
  }
  return { proxies, peerUrls, initialCluster };
}

export interface ToxiproxyMechanismOptions {
  /** Toxiproxy API, e.g. http://127.0.0.1:8474 */
  apiUrl: string;
  plan: PeerProxyPlan;
  /**
   * How a cut pair loses its traffic. 'drop' (default): timeout toxics with
   * timeout 0 on both streams of both proxies, so bytes vanish and connections
   * stay open like an iptables DROP (healing closes them, as Toxiproxy does when
   * a timeout toxic is removed). 'refuse': both proxies disabled, so
   * connections close and new ones are refused, more like a crashed peer.
   */
  cutWith?: 'drop' | 'refuse';
}

const PARTITION_TOXIC = 'fl-partition';
const SLOW_TOXIC = 'fl-slow';
const STREAMS = ['upstream', 'downstream'] as const;

export class ToxiproxyMechanism implements NetMechanism {
  readonly name = 'toxiproxy' as const;
  private readonly api: Toxiproxy;
  private readonly plan: PeerProxyPlan;
  private readonly cutWith: 'drop' | 'refuse';
  private readonly members: Set<string>;
  /** Proxies currently cut. */
  private cut = new Set<string>();
  private slowed = false;
  private created = false;

  constructor(opts: ToxiproxyMechanismOptions) {
    this.api = new Toxiproxy(opts.apiUrl);
    this.plan = opts.plan;
    this.cutWith = opts.cutWith ?? 'drop';
    this.members = new Set(opts.plan.proxies.flatMap((p) => [p.from, p.to]));
  }

  /** Creates (or takes over) every planned proxy. Call before starting the members. */
  async setup(): Promise<void> {
    const existing = await this.api.getAll();
    for (const p of this.plan.proxies) {
      const old = existing[p.name];
      if (old) await old.remove();
      await this.api.createProxy({ name: p.name, listen: p.listen, upstream: p.upstream, enabled: true });
    }
    this.created = true;
  }

  canExpress(grudge: Grudge): CanExpress {
    for (const [to, froms] of Object.entries(grudge)) {
      for (const n of [to, ...froms]) {
        if (!this.members.has(n)) return { ok: false, reason: `unknown member ${n}` };
      }
    }
    if (!isSymmetric(grudge)) {
      const pairs = oneWayPairs(grudge)
        .map(([from, to]) => `${to} drops ${from}`)
        .join(', ');
      return {
        ok: false,
        reason:
          `one-way cuts (${pairs}) cannot be exact with proxies: requests and their replies, and a peer's ` +
          'stream requests and the messages sent back on them, share one TCP connection',
      };
    }
    return { ok: true };
  }

  async partition(grudge: Grudge): Promise<void> {
    const verdict = this.canExpress(grudge);
    if (!verdict.ok) throw new Error(verdict.reason);
    await this.heal();
    const targets = new Set<string>();
    for (const [from, to] of cutPairs(grudge)) {
      targets.add(peerProxyName(from, to));
      targets.add(peerProxyName(to, from));
    }
    for (const name of targets) {
      const proxy = await this.api.get(name);
      if (this.cutWith === 'refuse') {
        await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
      } else {
        for (const stream of STREAMS) {
          await proxy.addToxic({
            type: 'timeout',
            name: `${PARTITION_TOXIC}-${stream}`,
            stream,
            toxicity: 1,
            attributes: { timeout: 0 },
          });
        }
      }
      this.cut.add(name);
    }
  }

  async heal(): Promise<void> {
    for (const name of [...this.cut]) {
      const proxy = await this.api.get(name);
      if (this.cutWith === 'refuse') {
        if (!proxy.enabled) await proxy.update({ enabled: true, listen: proxy.listen, upstream: proxy.upstream });
      } else {
        for (const stream of STREAMS) await removeToxicIfPresent(proxy, `${PARTITION_TOXIC}-${stream}`);
      }
      this.cut.delete(name);
    }
  }

  async slow(opts: { latencyMs: number; jitterMs: number }): Promise<void> {
    for (const p of this.plan.proxies) {
      const proxy = await this.api.get(p.name);
      for (const stream of STREAMS) {
        const name = `${SLOW_TOXIC}-${stream}`;
        await removeToxicIfPresent(proxy, name);
        await proxy.addToxic({
          type: 'latency',
          name,
          stream,
          toxicity: 1,
          attributes: { latency: Math.round(opts.latencyMs), jitter: Math.round(opts.jitterMs) },
        });
      }
    }
    this.slowed = true;
  }

  async fast(): Promise<void> {
    if (!this.slowed) return;
    for (const p of this.plan.proxies) {
      const proxy = await this.api.get(p.name);
      for (const stream of STREAMS) await removeToxicIfPresent(proxy, `${SLOW_TOXIC}-${stream}`);
    }
    this.slowed = false;
  }

  async close(): Promise<void> {
    const existing = await this.api.getAll();
    for (const p of this.plan.proxies) await existing[p.name]?.remove();
    this.cut.clear();
    this.slowed = false;
    this.created = false;
  }

  get isSetUp(): boolean {
    return this.created;
  }
}

async function removeToxicIfPresent(proxy: { getToxic(name: string): Promise<{ remove(): Promise<void> }> }, name: string): Promise<void> {
  let toxic: { remove(): Promise<void> };
  try {
    toxic = await proxy.getToxic(name);
  } catch {
    return; // not there
  }
  await toxic.remove();
}
