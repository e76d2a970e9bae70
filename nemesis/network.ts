// Chooses and builds the network a run needs: plain loopback when no network
// fault is wanted; network namespaces with iptables (exact grudges, the only
// way to partition real etcd, root only); or Toxiproxy proxies on peer traffic
// (the built-in server, or --toxiproxy URL). Refuses, before anything starts,
// a combination the chosen mechanism cannot express.
import type { ClusterLayout } from '../harness/cluster/cluster.js';
import { loopbackLayout } from '../harness/cluster/cluster.js';
import { findFreePortBlock } from '../harness/cluster/ports.js';
import { createRng } from '../harness/random.js';
import { CouldNotRun } from '../harness/server.js';
import { IptablesMechanism, NetnsCluster, netnsSupport, planPeerProxies, ToxiproxyMechanism, type NetMechanism, type PeerProxyPlan } from './net/index.js';
import { startToxiproxyServer } from './toxiproxy/index.js';
import { inexpressibleKinds, isPartitionKind, PARTITION_KINDS, type PartitionKind } from './partition.js';

export interface NetworkRequest {
  names: string[];
  db: 'ours' | 'etcd';
  net: 'auto' | 'iptables' | 'toxiproxy';
  partition: boolean;
  slow: boolean;
  toxiproxyUrl: string | undefined;
  /** Requested partition kinds; undefined = all the mechanism can express. */
  partitionKinds: string[] | undefined;
  /** Short [a-z0-9] id used to name namespaces. */
  runId: string;
  /** Where to start probing for free ports. */
  portHint: number;
  log: (msg: string) => void;
}

export interface NetworkSetup {
  mechanism: NetMechanism | undefined;
  mechanismName: 'none' | 'iptables' | 'toxiproxy';
  layout: ClusterLayout;
  /** Wraps a member's argv (ip netns exec NS) when members run in namespaces. */
  wrapperFor: ((name: string) => string[]) | undefined;
  partitionKinds: PartitionKind[];
  /** Human-readable facts for test.json and the report. */
  description: string;
  close(): Promise<void>;
}

export function choseMechanism(req: Pick<NetworkRequest, 'db' | 'net' | 'partition' | 'slow'>, isRoot: boolean): 'none' | 'iptables' | 'toxiproxy' {
  if (!req.partition && !req.slow) return 'none';
  if (req.net !== 'auto') return req.net;
  if (req.slow) return 'toxiproxy'; // iptables cannot delay (no netem here)
  return isRoot && req.db === 'etcd' ? 'iptables' : 'toxiproxy';
}

/** Validates the request before anything is created; throws CouldNotRun with the reason. */
export function refuseImpossible(req: Pick<NetworkRequest, 'db' | 'net' | 'partition' | 'slow' | 'partitionKinds'>, mechanism: 'none' | 'iptables' | 'toxiproxy'): void {
  for (const k of req.partitionKinds ?? []) {
    if (!isPartitionKind(k)) throw new CouldNotRun(`unknown partition kind "${k}" (choose from ${PARTITION_KINDS.join(', ')})`);
  }
  if (req.partitionKinds && !req.partition) throw new CouldNotRun('--partition-kinds needs the partition nemesis');
  if (mechanism === 'iptables' && req.slow) {
    throw new CouldNotRun('the slow nemesis needs Toxiproxy (iptables cannot add latency: no netem here); drop slow, or use --net toxiproxy');
  }
  if (mechanism === 'toxiproxy' && req.db === 'etcd' && req.partition) {
    throw new CouldNotRun(
      'real etcd cannot be partitioned through per-pair peer proxies (member IDs derive from the peer URLs each member dials, ' +
        'so the members would disagree on the cluster ID); run as root with --net iptables (network namespaces)' +
        (req.slow ? ', without slow' : ''),
    );
  }
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * For real etcd, slowness goes through one proxy per member in front of its
 * peer port, and every member is told the proxy's URL: member IDs then agree.
 * The plan reuses the per-pair shape with one proxy per member.
 */
function inboundProxyPlan(names: string[], peerPorts: number[], proxyBase: number): PeerProxyPlan {
  const proxies = names.map((name, i) => ({
    name: `fl-peer-in-${name}`,
    from: '*',
    to: name,
    port: proxyBase + i,
    listen: `127.0.0.1:${proxyBase + i}`,
    upstream: `127.0.0.1:${peerPorts[i]!}`,
  }));
  const urls: Record<string, string> = Object.fromEntries(names.map((n, i) => [n, `http://127.0.0.1:${proxyBase + i}`]));
  const initial = names.map((n) => `${n}=${urls[n]}`).join(',');
  return {
    proxies,
    peerUrls: Object.fromEntries(names.map((n) => [n, urls])),
    initialCluster: Object.fromEntries(names.map((n) => [n, initial])),
  };
}

export async function setupNetwork(req: NetworkRequest): Promise<NetworkSetup> {
  const mechanismName = choseMechanism(req, isRoot());
  refuseImpossible(req, mechanismName);
  const n = req.names.length;
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    const errors: string[] = [];
    for (const c of closers.splice(0).reverse()) await c().catch((e: unknown) => errors.push(e instanceof Error ? e.message : String(e)));
    if (errors.length) throw new Error(errors.join('; '));
  };

  try {
    if (mechanismName === 'none') {
      const base = await findFreePortBlock(2 * n, req.portHint);
      return { mechanism: undefined, mechanismName, layout: loopbackLayout(n, base), wrapperFor: undefined, partitionKinds: [], description: 'loopback, no network faults', close };
    }

    if (mechanismName === 'iptables') {
      const support = await netnsSupport();
      if (!support.ok) throw new CouldNotRun(`--net iptables unavailable: ${support.reason}`);
      const netns = await NetnsCluster.create({ runId: req.runId, members: req.names });
      closers.push(() => netns.close());
      const mechanism = new IptablesMechanism(netns);
      closers.push(() => mechanism.close());
      const clientUrls = req.names.map((name) => `http://${netns.ipOf(name)}:2379`);
      const peerUrls = req.names.map((name) => `http://${netns.ipOf(name)}:2380`);
      const initial = req.names.map((name, i) => `${name}=${peerUrls[i]}`).join(',');
      const layout: ClusterLayout = {
        names: req.names,
        clientUrls,
        listenClientUrls: clientUrls,
        listenPeerUrls: peerUrls,
        advertisePeerUrls: peerUrls,
        initialClusters: req.names.map(() => initial),
      };
      const kinds = chooseKinds(req, mechanism);
      return {
        mechanism,
        mechanismName,
        layout,
        wrapperFor: (name) => netns.wrap(name, []),
        partitionKinds: kinds,
        description: `iptables in network namespaces (bridge ${netns.bridge}, 10.231.${netns.subnet}.0/24)`,
        close,
      };
    }

    // Toxiproxy: member ports first, then proxy ports, all probed free.
    const proxyCount = req.db === 'etcd' ? n : n * (n - 1);
    const base = await findFreePortBlock(2 * n + proxyCount, req.portHint);
    const clientPorts = req.names.map((_, i) => base + 2 * i);
    const peerPorts = req.names.map((_, i) => base + 2 * i + 1);
    let apiUrl = req.toxiproxyUrl;
    if (!apiUrl) {
      const server = await startToxiproxyServer({ host: '127.0.0.1', port: 0 });
      closers.push(() => server.close());
      apiUrl = server.url;
    }
    const plan =
      req.db === 'etcd'
        ? inboundProxyPlan(req.names, peerPorts, base + 2 * n)
        : planPeerProxies(req.names.map((name, i) => ({ name, peerPort: peerPorts[i]! })), base + 2 * n);
    const mechanism = new ToxiproxyMechanism({ apiUrl, plan });
    closers.push(() => mechanism.close());
    await mechanism.setup();
    // faultline-etcd: every member gets the same canonical --initial-cluster (so member and
    // cluster IDs agree) and dials its peers through its own per-pair proxies.
    const canonical = req.names.map((name, i) => `${name}=http://127.0.0.1:${peerPorts[i]}`).join(',');
    const dialOverrides = (name: string): string =>
      req.names.filter((to) => to !== name).map((to) => `${to}=${plan.peerUrls[name]![to]!}`).join(',');
    const layout: ClusterLayout = {
      names: req.names,
      clientUrls: clientPorts.map((p) => `http://127.0.0.1:${p}`),
      listenClientUrls: clientPorts.map((p) => `http://127.0.0.1:${p}`),
      listenPeerUrls: peerPorts.map((p) => `http://127.0.0.1:${p}`),
      // Each member advertises the URL its peers use for it (a proxy when they all agree on one).
      advertisePeerUrls: req.names.map((name, i) => (req.db === 'etcd' ? plan.peerUrls[name]![name]! : `http://127.0.0.1:${peerPorts[i]}`)),
      initialClusters: req.names.map((name) => (req.db === 'etcd' ? plan.initialCluster[name]! : canonical)),
      ...(req.db === 'ours' ? { memberFlags: req.names.map((name) => ['--peer-dial-overrides', dialOverrides(name)]) } : {}),
    };
    const kinds = req.partition ? chooseKinds(req, mechanism) : [];
    return {
      mechanism,
      mechanismName,
      layout,
      wrapperFor: undefined,
      partitionKinds: kinds,
      description: `toxiproxy (${req.toxiproxyUrl ? `external ${apiUrl}` : `built-in at ${apiUrl}`}), ${plan.proxies.length} peer proxies`,
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

function chooseKinds(req: NetworkRequest, mechanism: NetMechanism): PartitionKind[] {
  const requested = (req.partitionKinds ?? [...PARTITION_KINDS]) as PartitionKind[];
  const bad = inexpressibleKinds(requested, req.names, mechanism, (seed) => createRng(seed));
  if (req.partitionKinds) {
    const first = [...bad.entries()][0];
    if (first) throw new CouldNotRun(`partition kind ${first[0]} cannot be expressed by ${mechanism.name}: ${first[1]}`);
    return requested;
  }
  for (const [kind, reason] of bad) req.log(`partition kind ${kind} not used: ${mechanism.name} cannot express it (${reason})`);
  return requested.filter((k) => !bad.has(k));
}
