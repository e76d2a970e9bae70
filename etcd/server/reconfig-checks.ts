// etcd's strict reconfiguration checks (--strict-reconfig-check, on by
// default): a membership change must not be able to cost the cluster its
// quorum. Pure functions over the member list and a connectivity predicate,
// so the rules can be tested without a cluster. "Started" means the member
// has published its name through the log; "connected" means this (leading)
// member heard from it recently.

import { Errors } from '../errors.js';
import type { Member } from './backend.js';

const quorum = (n: number): number => Math.floor(n / 2) + 1;
const started = (m: Member): boolean => m.name !== '';

/**
 * A new voter: a quorum of the grown cluster must have started (a lone
 * started member may add a second one), and every current voter must be
 * connected, or the newcomer could tip the cluster into losing quorum.
 */
export function checkAddVoter(members: readonly Member[], connected: (id: bigint) => boolean): void {
  const voters = members.filter((m) => !m.isLearner);
  const grown = voters.length + 1;
  const nStarted = voters.filter(started).length;
  if (!(nStarted === 1 && grown === 2) && nStarted < quorum(grown)) throw Errors.notEnoughStartedMembers();
  if (!voters.every((m) => connected(m.id))) throw Errors.unhealthyCluster();
}

/**
 * Removing a voter must leave a quorum of started members, and a connected
 * quorum among those that remain. A member that is down is not part of the
 * active quorum, so it can always go; learners never count.
 */
export function checkRemoveMember(members: readonly Member[], id: bigint, self: bigint, connected: (id: bigint) => boolean): void {
  const target = members.find((m) => m.id === id);
  if (!target || target.isLearner) return;
  const voters = members.filter((m) => !m.isLearner);
  const rest = voters.filter((m) => m.id !== id);
  if (rest.filter(started).length < quorum(rest.length)) throw Errors.notEnoughStartedMembers();
  if (id !== self && !connected(id)) return;
  const active = voters.filter((m) => connected(m.id)).length;
  if (active - 1 < quorum(voters.length - 1)) throw Errors.unhealthyCluster();
}

/** etcd promotes a learner only once its log is within 90% of the leader's. */
export function learnerInSync(learnerMatch: number | undefined, leaderMatch: number | undefined): boolean {
  if (learnerMatch === undefined || leaderMatch === undefined || learnerMatch === 0) return false;
  return learnerMatch >= leaderMatch * 0.9;
}
