// Binds the lease module (etcd/lease/lessor.ts, clock-free) to the server's
// LocalLessor port by supplying the clock and the election-timeout settings.

import type { EtcdConfig } from '../config/flags.js';
import { Lessor, minLeaseTtlSeconds } from '../lease/lessor.js';
import type { LeaseId, MvccEvent } from '../types.js';
import type { LeaseTimeToLive, LessorFactory, LocalLessor } from './lessor-port.js';

class ClockedLessor implements LocalLessor {
  constructor(
    readonly inner: Lessor,
    private readonly now: () => number,
    private readonly electionTimeoutMs: number,
  ) {}

  exists(id: LeaseId): boolean {
    return this.inner.has(id);
  }
  grant(id: LeaseId, ttl: number): number {
    return this.inner.grant(id, ttl, this.now()).ttl;
  }
  revoke(id: LeaseId): Buffer[] {
    return this.inner.revoke(id);
  }
  attach(events: readonly MvccEvent[]): void {
    this.inner.applyEvents(events);
  }
  serialize(): Buffer {
    return this.inner.serialize();
  }
  renew(id: LeaseId): number | undefined {
    const ttl = this.inner.renew(id, this.now());
    return ttl > 0 ? ttl : undefined;
  }
  timeToLive(id: LeaseId): LeaseTimeToLive | undefined {
    const t = this.inner.timeToLive(id, this.now(), true);
    return t.ttl < 0 ? undefined : { ttl: t.ttl, grantedTtl: t.grantedTtl, keys: t.keys };
  }
  expired(max: number): LeaseId[] {
    return this.inner.expired(this.now(), max);
  }
  promote(): void {
    // As etcd: extend every lease by an election timeout so the election itself expires nothing.
    this.inner.promote(this.now(), this.electionTimeoutMs);
  }
  demote(): void {
    this.inner.demote();
  }
  ids(): LeaseId[] {
    return this.inner.leases();
  }
}

export function createLessorFactory(config: Pick<EtcdConfig, 'electionTimeoutMs'>, now: () => number = Date.now): LessorFactory {
  const minTtlSeconds = minLeaseTtlSeconds(config.electionTimeoutMs);
  const make = () => new ClockedLessor(new Lessor({ minTtlSeconds }), now, config.electionTimeoutMs);
  return {
    create: make,
    restore: (bytes: Buffer) => {
      const l = make();
      l.inner.deserialize(bytes, now());
      return l;
    },
  };
}
