export type { Grudge, NetMechanism, CanExpress } from './types.js';
export * from './grudges.js';
export { seededRandom, shuffled } from './random.js';
export {
  planPeerProxies,
  peerProxyName,
  ToxiproxyMechanism,
  type PeerMember,
  type PeerProxy,
  type PeerProxyPlan,
  type ToxiproxyMechanismOptions,
} from './toxiproxy-mechanism.js';
export {
  NetnsCluster,
  netnsSupport,
  netnsPrefix,
  cleanupNetnsByPrefix,
  findLeftovers,
  bridgeNetfilterActive,
  type NetnsMember,
  type NetnsClusterOptions,
  type LeftoverReport,
  type Support,
} from './netns.js';
export { IptablesMechanism, GRUDGE_CHAIN } from './iptables-mechanism.js';
