// Binds etcd/peer's TCP PeerTransport to the server's RaftTransport port, and
// finds out who this member is when it joins an existing cluster with an
// empty data dir (etcd asks the peers for the member list and picks itself
// out by its peer URLs).

import type { EtcdConfig } from '../config/flags.js';
import { PeerTransport, type PeerLogFn } from '../peer/index.js';
import { nodeIdFromBigInt, type NodeId } from '../raft/types.js';
import { decodeForwarded, encodeForwarded } from './forward.js';
import { computeClusterId, computeMemberId } from './ids.js';
import type { Logger } from './logger.js';
import type { RaftTransport, RequestHandler } from './transport.js';
import type { Member } from './backend.js';

export interface PeerSetup {
  memberId: bigint;
  clusterId: bigint;
  listenUrls: string[];
  /** Member ID → URL dialled instead of its advertised peer URLs (--peer-dial-overrides). */
  dialOverrides: Map<bigint, string>;
  logger: Logger;
}

function peerLog(logger: Logger): PeerLogFn {
  return (level, msg, fields) => logger.log(level, msg, fields);
}

export class PeerRaftTransport implements RaftTransport {
  constructor(readonly peer: PeerTransport) {}

  async start(): Promise<void> {
    await this.peer.start();
  }
  addPeer(id: NodeId, urls: string[]): void {
    this.peer.addPeer(id, urls);
  }
  removePeer(id: NodeId): void {
    this.peer.removePeer(id);
  }
  send(messages: Parameters<RaftTransport['send']>[0]): void {
    this.peer.send(messages);
  }
  onMessage(handler: Parameters<RaftTransport['onMessage']>[0]): void {
    this.peer.onMessage(handler);
  }
  onUnreachable(handler: (id: NodeId) => void): void {
    this.peer.onUnreachable(handler);
  }
  onSnapshotStatus(handler: (id: NodeId, status: 'finish' | 'failure') => void): void {
    this.peer.onSnapshotStatus((id, ok) => handler(id, ok ? 'finish' : 'failure'));
  }
  request(to: NodeId, kind: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.peer.request(to, kind, payload, timeoutMs);
  }
  onRequest(handler: RequestHandler): void {
    this.peer.onRequest(handler);
  }
  close(): Promise<void> {
    return this.peer.close();
  }
}

export function createPeerTransport(setup: PeerSetup): PeerRaftTransport {
  const dialOverrides: Record<NodeId, string> = {};
  for (const [id, url] of setup.dialOverrides) dialOverrides[nodeIdFromBigInt(id)] = url;
  return new PeerRaftTransport(
    new PeerTransport({
      localId: nodeIdFromBigInt(setup.memberId),
      clusterId: setup.clusterId,
      listenUrls: setup.listenUrls,
      log: peerLog(setup.logger),
      dialOverrides,
    }),
  );
}

/** Resolves --peer-dial-overrides names to the member IDs of the canonical --initial-cluster. */
export function dialOverridesById(cfg: Pick<EtcdConfig, 'initialCluster' | 'initialClusterToken' | 'peerDialOverrides'>): Map<bigint, string> {
  const out = new Map<bigint, string>();
  for (const [name, url] of cfg.peerDialOverrides) {
    const urls = cfg.initialCluster.get(name);
    if (!urls) continue;
    out.set(computeMemberId(urls, cfg.initialClusterToken), url);
  }
  return out;
}

export const MEMBER_LIST_REQUEST = 'member-list';

/**
 * Joining with --initial-cluster-state existing: ask the other members named
 * in --initial-cluster for the member list and find this member in it by its
 * advertised peer URLs. The peers' IDs and the cluster ID are computed as etcd
 * computes them for the cluster's initial members; the answer carries the
 * real cluster ID.
 */
export async function discoverJoin(cfg: EtcdConfig, logger: Logger, timeoutMs = 10_000): Promise<{ memberId: bigint; clusterId: bigint; members: Member[] }> {
  const others = [...cfg.initialCluster].filter(([name]) => name !== cfg.name);
  const ownUrls = [...cfg.initialAdvertisePeerUrls].sort();
  const guessedIds = others.map(([, urls]) => computeMemberId(urls, cfg.initialClusterToken));
  const clusterId = computeClusterId(guessedIds);
  const probe = new PeerTransport({
    localId: nodeIdFromBigInt(computeMemberId(ownUrls, cfg.initialClusterToken)),
    clusterId,
    listenUrls: [],
    log: peerLog(logger),
    dialOverrides: Object.fromEntries([...dialOverridesById(cfg)].map(([id, url]) => [nodeIdFromBigInt(id), url])),
  });
  const deadline = Date.now() + timeoutMs;
  try {
    others.forEach(([, urls], i) => probe.addPeer(nodeIdFromBigInt(guessedIds[i]!), urls));
    while (Date.now() < deadline) {
      for (const id of guessedIds) {
        try {
          const reply = decodeForwarded(await probe.request(nodeIdFromBigInt(id), MEMBER_LIST_REQUEST, encodeForwarded({}), 2000));
          const members = reply.members as Member[];
          const self = members.find((m) => [...m.peerURLs].sort().join(',') === ownUrls.join(','));
          if (!self) throw new Error(`this member (peer URLs ${ownUrls.join(',')}) is not in the cluster's member list; add it with member add first`);
          return { memberId: self.id, clusterId: reply.clusterId as bigint, members };
        } catch (err) {
          if (err instanceof Error && err.message.includes('is not in the cluster')) throw err;
          logger.debug('member list request failed', { peer: id.toString(16), error: err });
        }
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await probe.close();
  }
  throw new Error('cannot join an existing cluster: no peer in --initial-cluster answered with the member list');
}
