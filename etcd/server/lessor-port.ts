// What the server needs from the lease module: the replicated table the
// applier changes (LeaseTable) plus the leader-local deadline bookkeeping the
// server drives with its clock.

import type { LeaseId } from '../types.js';
import type { LeaseTable } from './applier.js';

export interface LeaseTimeToLive {
  /** Remaining whole seconds (etcd truncates). */
  ttl: number;
  grantedTtl: number;
  keys: Buffer[];
}

export interface LocalLessor extends LeaseTable {
  /** Extends the lease to now + TTL; the TTL, or undefined when unknown or already expired. */
  renew(id: LeaseId): number | undefined;
  timeToLive(id: LeaseId): LeaseTimeToLive | undefined;
  /** Leases past their deadline, at most `max`, oldest deadline first. */
  expired(max: number): LeaseId[];
  /** Becoming leader: every deadline restarts at now + TTL. */
  promote(): void;
  /** Losing leadership: deadlines stop; renewals and TTL queries go to the leader. */
  demote(): void;
  ids(): LeaseId[];
}

export interface LessorFactory {
  create(): LocalLessor;
  restore(bytes: Buffer): LocalLessor;
}
