// Leases, after etcd's lessor (server/lease/lessor.go), without clocks of its
// own: every time-dependent call takes `nowMs`.
//
// Two kinds of state live here. The replicated part (which leases exist,
// their granted TTLs, which keys are attached) changes only through calls
// the Raft apply loop makes in log order: grant, revoke, applyEvents, and
// deserialize for snapshots; every member computes the same result. The
// leader-only part is expiry: only the primary (the Raft leader, after
// `promote`) tracks deadlines, answers keep-alives and TimeToLive, and
// reports expired leases, whose revocation it then proposes through the log
// like any client request. Followers keep every lease alive "forever" until
// they become leader, as etcd does.

import type { LeaseId, MvccEvent } from '../types.js';
import { Errors } from '../errors.js';
import { ExpiryQueue } from './expiry-queue.js';
import { decodeLeases, encodeLeases } from './lease-snapshot.js';

/** etcd's MaxLeaseTTL. */
export const MAX_LEASE_TTL = 9_000_000_000;
/** etcd revokes at most this many expired leases per second. */
export const LEASE_REVOKE_RATE = 1000;
/** An expired lease handed out for revocation is handed out again after this long if it still exists. */
export const EXPIRED_LEASE_RETRY_MS = 3000;

/** etcd's minimum TTL: ceil(1.5 × election timeout), so a lease outlives a leader election. */
export function minLeaseTtlSeconds(electionTimeoutMs: number): number {
  return Math.ceil((1.5 * electionTimeoutMs) / 1000);
}

export interface LessorOptions {
  /** Granted TTLs below this are raised to it. Default 2 (etcd's default 1000 ms election timeout). */
  minTtlSeconds?: number;
}

export interface LeaseTimeToLive {
  id: LeaseId;
  /** Remaining seconds (truncated, as etcd does); -1 for an unknown lease. */
  ttl: number;
  grantedTtl: number;
  keys: Buffer[];
}

interface Lease {
  readonly id: LeaseId;
  readonly ttl: number;
  /** latin1 map key → key bytes. */
  readonly keys: Map<string, Buffer>;
  /** Infinity while this member is not primary. */
  expiryMs: number;
}

const mapKey = (b: Buffer): string => b.toString('latin1');
const byId = (a: Lease, b: Lease): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class Lessor {
  private readonly minTtl: number;
  private readonly byLease = new Map<LeaseId, Lease>();
  /** Which lease each attached key belongs to; keeps detach independent of prevKv. */
  private readonly keyLease = new Map<string, LeaseId>();
  private readonly queue = new ExpiryQueue();
  private primary = false;

  constructor(options: LessorOptions = {}) {
    this.minTtl = Math.max(1, Math.ceil(options.minTtlSeconds ?? 2));
  }

  get isPrimary(): boolean {
    return this.primary;
  }

  get size(): number {
    return this.byLease.size;
  }

  get minTtlSeconds(): number {
    return this.minTtl;
  }

  has(id: LeaseId): boolean {
    return this.byLease.has(id);
  }

  /** The lease a key is attached to, 0n for none. */
  leaseOf(key: Buffer): LeaseId {
    return this.keyLease.get(mapKey(key)) ?? 0n;
  }

  // ---- replicated state (call in log order on every member) ----

  /**
   * Creates a lease. The ID must be chosen before proposing (see
   * LeaseIdGenerator); 0 is refused as etcd's lessor does. Returns the TTL
   * actually granted (raised to the minimum).
   */
  grant(id: LeaseId, ttlSeconds: number, nowMs: number): { id: LeaseId; ttl: number } {
    if (id === 0n) throw Errors.leaseNotFound();
    if (ttlSeconds > MAX_LEASE_TTL) throw Errors.leaseTTLTooLarge();
    if (this.byLease.has(id)) throw Errors.leaseExists();
    const ttl = Math.max(this.minTtl, Number.isFinite(ttlSeconds) ? Math.trunc(ttlSeconds) : 0);
    const lease: Lease = { id, ttl, keys: new Map(), expiryMs: Infinity };
    this.byLease.set(id, lease);
    if (this.primary) this.refresh(lease, nowMs, 0);
    return { id, ttl };
  }

  /** Removes the lease and returns its keys (sorted) for the caller to delete in one revision. */
  revoke(id: LeaseId): Buffer[] {
    const lease = this.byLease.get(id);
    if (!lease) throw Errors.leaseNotFound();
    this.byLease.delete(id);
    this.queue.delete(id);
    const keys = [...lease.keys.values()].sort(Buffer.compare);
    for (const k of lease.keys.keys()) this.keyLease.delete(k);
    return keys;
  }

  /**
   * Follows the key→lease attachment through one applied revision's events:
   * a PUT attaches its key to kv.lease (detaching it from a previous lease),
   * a DELETE detaches it. Leases that no longer exist are ignored.
   */
  applyEvents(events: readonly MvccEvent[]): void {
    for (const ev of events) {
      // With no key attached to any lease, only a put with a lease changes
      // anything: the common case costs no map key per write.
      if (this.keyLease.size === 0 && (ev.type !== 'PUT' || ev.kv.lease === 0n)) continue;
      const k = mapKey(ev.kv.key);
      const old = this.keyLease.get(k) ?? ev.prevKv?.lease ?? 0n;
      const next = ev.type === 'PUT' ? ev.kv.lease : 0n;
      if (old === next && (next === 0n || this.keyLease.get(k) === next)) continue;
      if (old !== 0n) {
        this.byLease.get(old)?.keys.delete(k);
        this.keyLease.delete(k);
      }
      const lease = next === 0n ? undefined : this.byLease.get(next);
      if (lease) {
        lease.keys.set(k, Buffer.from(ev.kv.key));
        this.keyLease.set(k, next);
      }
    }
  }

  // ---- leader-only expiry state ----

  /**
   * A keep-alive: restarts the lease's TTL and returns it. 0 for an unknown
   * lease (etcd's KeepAlive answer) and for one already expired: etcd makes
   * such a renewal wait for the pending revocation and then report the lease
   * gone. Throws Errors.notLeader() on a member that is not primary, where
   * etcd forwards to the leader.
   */
  renew(id: LeaseId, nowMs: number): number {
    if (!this.primary) throw Errors.notLeader();
    const lease = this.byLease.get(id);
    if (!lease || lease.expiryMs <= nowMs) return 0;
    this.refresh(lease, nowMs, 0);
    return lease.ttl;
  }

  /** LeaseTimeToLive. Unknown: TTL -1, as etcd answers. Throws Errors.notLeader() when not primary. */
  timeToLive(id: LeaseId, nowMs: number, withKeys: boolean): LeaseTimeToLive {
    if (!this.primary) throw Errors.notLeader();
    const lease = this.byLease.get(id);
    if (!lease) return { id, ttl: -1, grantedTtl: 0, keys: [] };
    const remaining = Math.max(0, Math.trunc((lease.expiryMs - nowMs) / 1000));
    return {
      id,
      ttl: remaining,
      grantedTtl: lease.ttl,
      keys: withKeys ? [...lease.keys.values()].sort(Buffer.compare) : [],
    };
  }

  /** Every lease ID, soonest expiry first (ties and followers: by ID), as etcd's Leases lists them. */
  leases(): LeaseId[] {
    return [...this.byLease.values()]
      .sort((a, b) => (a.expiryMs !== b.expiryMs ? (a.expiryMs < b.expiryMs ? -1 : 1) : byId(a, b)))
      .map((l) => l.id);
  }

  /**
   * Up to `max` leases whose deadline has passed, earliest first, for the
   * leader to propose revoking (etcd: 500 per 500 ms tick). Each one handed
   * out is not handed out again for EXPIRED_LEASE_RETRY_MS, which gives the
   * revocation time to commit; if it still exists then, it comes back.
   */
  expired(nowMs: number, max: number): LeaseId[] {
    const out: LeaseId[] = [];
    if (!this.primary) return out;
    while (out.length < max) {
      const head = this.queue.peek();
      if (!head || head.time > nowMs) break;
      const lease = this.byLease.get(head.id);
      if (!lease) {
        this.queue.delete(head.id);
        continue;
      }
      if (lease.expiryMs > nowMs) {
        // Renewed since the entry was due; the queue time trails the expiry only after a retry.
        this.queue.set(head.id, lease.expiryMs);
        continue;
      }
      out.push(head.id);
      this.queue.set(head.id, nowMs + EXPIRED_LEASE_RETRY_MS);
    }
    return out;
  }

  /**
   * This member became leader: every lease gets a full TTL plus `extendMs`
   * (etcd passes the election timeout) so nothing expires because of the
   * election itself. With many leases, those that would expire in the same
   * second beyond 3/4 of the revoke rate are spread over later seconds, as
   * etcd does, so a pile-up cannot starve revocation.
   */
  promote(nowMs: number, extendMs: number): void {
    this.primary = true;
    this.queue.clear();
    for (const lease of this.byLease.values()) this.refresh(lease, nowMs, extendMs);
    if (this.byLease.size < LEASE_REVOKE_RATE) return;
    const sorted = [...this.byLease.values()].sort((a, b) => a.expiryMs - b.expiryMs || byId(a, b));
    const target = (3 * LEASE_REVOKE_RATE) / 4;
    let baseWindow = sorted[0]!.expiryMs - nowMs;
    let nextWindow = baseWindow + 1000;
    let expires = 0;
    for (const lease of sorted) {
      const remaining = lease.expiryMs - nowMs;
      if (remaining > nextWindow) {
        baseWindow = remaining;
        nextWindow = baseWindow + 1000;
        expires = 1;
        continue;
      }
      expires++;
      if (expires <= target) continue;
      // Leases already later than the window start need less delay to land in their slot.
      const delay = (1000 * expires) / target - (remaining - baseWindow);
      nextWindow = baseWindow + delay;
      this.refresh(lease, nowMs, delay + extendMs);
    }
  }

  /** This member lost leadership: stop tracking deadlines. */
  demote(): void {
    this.primary = false;
    this.queue.clear();
    for (const lease of this.byLease.values()) lease.expiryMs = Infinity;
  }

  // ---- snapshots ----

  serialize(): Buffer {
    return encodeLeases(
      [...this.byLease.values()].map((l) => ({ id: l.id, ttl: l.ttl, keys: [...l.keys.values()] })),
      MAX_LEASE_TTL,
    );
  }

  /**
   * Replaces the replicated state with a snapshot's. Invalid data throws and
   * leaves the current state untouched. On a primary, restored leases get a
   * full TTL from `nowMs`.
   */
  deserialize(data: Buffer, nowMs: number): void {
    const records = decodeLeases(data, MAX_LEASE_TTL);
    this.byLease.clear();
    this.keyLease.clear();
    this.queue.clear();
    for (const r of records) {
      const lease: Lease = { id: r.id, ttl: r.ttl, keys: new Map(), expiryMs: Infinity };
      for (const k of r.keys) {
        lease.keys.set(mapKey(k), k);
        this.keyLease.set(mapKey(k), r.id);
      }
      this.byLease.set(r.id, lease);
      if (this.primary) this.refresh(lease, nowMs, 0);
    }
  }

  private refresh(lease: Lease, nowMs: number, extendMs: number): void {
    lease.expiryMs = nowMs + extendMs + lease.ttl * 1000;
    this.queue.set(lease.id, lease.expiryMs);
  }
}
