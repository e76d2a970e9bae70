import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EXPIRED_LEASE_RETRY_MS,
  LEASE_REVOKE_RATE,
  Lessor,
  MAX_LEASE_TTL,
  minLeaseTtlSeconds,
} from '../../../etcd/lease/lessor.js';
import { LeaseIdGenerator } from '../../../etcd/lease/lease-id.js';
import { EtcdError, Errors, GrpcCode } from '../../../etcd/errors.js';
import type { KeyValue, LeaseId, MvccEvent } from '../../../etcd/types.js';

const kv = (key: string, lease: LeaseId, rev = 2): KeyValue => ({
  key: Buffer.from(key),
  createRevision: rev,
  modRevision: rev,
  version: 1,
  value: Buffer.from('v'),
  lease,
});
const put = (key: string, lease: LeaseId, prevLease?: LeaseId): MvccEvent =>
  prevLease === undefined ? { type: 'PUT', kv: kv(key, lease) } : { type: 'PUT', kv: kv(key, lease), prevKv: kv(key, prevLease, 1) };
const del = (key: string, prevLease: LeaseId): MvccEvent => ({
  type: 'DELETE',
  kv: { ...kv(key, 0n), value: Buffer.alloc(0), version: 0, createRevision: 0 },
  prevKv: kv(key, prevLease, 1),
});
const keys = (bufs: Buffer[]) => bufs.map((b) => b.toString());

function thrown(fn: () => unknown): EtcdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof EtcdError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

describe('lease IDs', () => {
  it('follow idutil: member bits on top, timestamp-seeded counter below, positive and reproducible', () => {
    const a = new LeaseIdGenerator(0x1234_5678_9abc_def0n, 1_700_000_000_123);
    const b = new LeaseIdGenerator(0x1234_5678_9abc_def0n, 1_700_000_000_123);
    const ids = Array.from({ length: 1000 }, () => a.next());
    expect(Array.from({ length: 1000 }, () => b.next())).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
    const first = ids[0]!;
    expect(first >> 48n).toBe(0x5ef0n & 0x7fffn);
    expect(first & ((1n << 48n) - 1n)).toBe(((1_700_000_000_123n & ((1n << 40n) - 1n)) << 8n) + 1n);
    for (const id of ids) {
      expect(id > 0n).toBe(true);
      expect(id < 1n << 63n).toBe(true);
    }
    expect(ids[1]! - ids[0]!).toBe(1n);
    expect(new LeaseIdGenerator(2n, 5).next()).not.toBe(new LeaseIdGenerator(3n, 5).next());
  });
});

describe('Lessor replicated state', () => {
  it('derives the minimum TTL from the election timeout', () => {
    expect(minLeaseTtlSeconds(1000)).toBe(2);
    expect(minLeaseTtlSeconds(5000)).toBe(8);
    expect(minLeaseTtlSeconds(100)).toBe(1);
  });

  it('grants with the TTL raised to the minimum and refuses bad requests with etcd errors', () => {
    const l = new Lessor({ minTtlSeconds: 3 });
    expect(l.grant(1n, 1, 0)).toEqual({ id: 1n, ttl: 3 });
    expect(l.grant(2n, 60, 0)).toEqual({ id: 2n, ttl: 60 });
    expect(l.grant(3n, MAX_LEASE_TTL, 0).ttl).toBe(MAX_LEASE_TTL);
    const tooLarge = thrown(() => l.grant(4n, MAX_LEASE_TTL + 1, 0));
    expect(tooLarge.message).toBe(Errors.leaseTTLTooLarge().message);
    expect(tooLarge.code).toBe(GrpcCode.OUT_OF_RANGE);
    const dup = thrown(() => l.grant(2n, 10, 0));
    expect(dup.message).toBe('etcdserver: lease already exists');
    expect(thrown(() => l.grant(0n, 10, 0)).message).toBe(Errors.leaseNotFound().message);
    expect(l.size).toBe(3);
  });

  it('tracks attached keys from events and hands them back sorted on revoke', () => {
    const l = new Lessor();
    l.grant(1n, 10, 0);
    l.grant(2n, 10, 0);
    l.applyEvents([put('b', 1n), put('a', 1n), put('c', 2n)]);
    expect(l.leaseOf(Buffer.from('a'))).toBe(1n);
    // Moving a key to another lease, dropping its lease, and deleting it.
    l.applyEvents([put('b', 2n, 1n)]);
    l.applyEvents([put('c', 0n, 2n)]);
    expect(l.leaseOf(Buffer.from('c'))).toBe(0n);
    l.applyEvents([put('d', 1n), del('d', 1n)]);
    // A put keeping its lease (ignore_lease) stays attached; an unknown lease is ignored.
    l.applyEvents([put('a', 1n, 1n), put('z', 99n)]);
    l.grant(3n, 10, 0);
    l.applyEvents([put('e', 3n), put('f', 3n)]);
    expect(keys(l.revoke(1n))).toEqual(['a']);
    expect(keys(l.revoke(2n))).toEqual(['b']);
    expect(l.has(1n)).toBe(false);
    expect(thrown(() => l.revoke(1n)).code).toBe(GrpcCode.NOT_FOUND);
    // Deleting a revoked lease's keys afterwards is harmless.
    l.applyEvents([del('a', 1n), del('b', 2n)]);
    expect(keys(l.revoke(3n))).toEqual(['e', 'f']);
    expect(l.size).toBe(0);
  });
});

describe('Lessor expiry', () => {
  it('does nothing about time until promoted, and refuses keep-alives meanwhile', () => {
    const l = new Lessor();
    l.grant(1n, 5, 0);
    expect(l.expired(1e12, 100)).toEqual([]);
    expect(thrown(() => l.renew(1n, 0)).message).toBe(Errors.notLeader().message);
    expect(() => l.timeToLive(1n, 0, false)).toThrow();
  });

  it('expires leases at their deadline, rate limited, retrying unrevoked ones later', () => {
    const l = new Lessor();
    l.promote(0, 0);
    l.grant(1n, 5, 0);
    l.grant(2n, 5, 0);
    l.grant(3n, 10, 0);
    expect(l.expired(4999, 10)).toEqual([]);
    expect(l.expired(5000, 1)).toEqual([1n]);
    expect(l.expired(5000, 10)).toEqual([2n]);
    // Handed out and not yet revoked: held back for the retry interval.
    expect(l.expired(6000, 10)).toEqual([]);
    l.revoke(2n);
    expect(l.expired(5000 + EXPIRED_LEASE_RETRY_MS, 10)).toEqual([1n]);
    expect(l.expired(10_000, 10)).toEqual([3n]);
  });

  it('renews with the granted TTL, reports remaining time, and answers unknown leases as etcd does', () => {
    const l = new Lessor();
    l.promote(0, 0);
    l.grant(1n, 10, 0);
    l.applyEvents([put('k2', 1n), put('k1', 1n)]);
    expect(l.timeToLive(1n, 2500, true)).toEqual({ id: 1n, ttl: 7, grantedTtl: 10, keys: [Buffer.from('k1'), Buffer.from('k2')] });
    expect(l.timeToLive(1n, 2500, false).keys).toEqual([]);
    expect(l.renew(1n, 8000)).toBe(10);
    expect(l.timeToLive(1n, 8000, false).ttl).toBe(10);
    expect(l.expired(17_999, 10)).toEqual([]);
    expect(l.expired(18_000, 10)).toEqual([1n]);
    // Renewing an expired lease reports it lost; unknown leases too.
    expect(l.renew(1n, 18_000)).toBe(0);
    expect(l.renew(77n, 0)).toBe(0);
    expect(l.timeToLive(77n, 0, true)).toEqual({ id: 77n, ttl: -1, grantedTtl: 0, keys: [] });
    expect(l.timeToLive(1n, 30_000, false).ttl).toBe(0);
  });

  it('extends every lease on promotion and stops expiring on demotion', () => {
    const l = new Lessor();
    l.grant(1n, 5, 0);
    l.grant(2n, 20, 0);
    l.promote(100_000, 1000);
    expect(l.timeToLive(1n, 100_000, false).ttl).toBe(6);
    expect(l.leases()).toEqual([1n, 2n]);
    expect(l.expired(105_999, 10)).toEqual([]);
    expect(l.expired(106_000, 10)).toEqual([1n]);
    l.demote();
    expect(l.isPrimary).toBe(false);
    expect(l.expired(1e12, 10)).toEqual([]);
  });

  it('spreads a pile-up of expiries after promotion below the revoke rate', () => {
    const l = new Lessor();
    const n = 3 * LEASE_REVOKE_RATE;
    for (let i = 1; i <= n; i++) l.grant(BigInt(i), 10, 0);
    l.promote(0, 1000);
    const perSecond = new Map<number, number>();
    let total = 0;
    for (let t = 0; t <= 30_000; t += 50) {
      for (const id of l.expired(t, Infinity)) {
        expect(l.has(id)).toBe(true);
        l.revoke(id);
        total++;
        perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
      }
    }
    expect(total).toBe(n);
    expect(Math.min(...perSecond.keys())).toBe(11);
    for (const count of perSecond.values()) expect(count).toBeLessThanOrEqual(LEASE_REVOKE_RATE);
    expect(perSecond.size).toBeGreaterThan(3);
  });

  it('leaves a small number of leases unspread', () => {
    const l = new Lessor();
    for (let i = 1; i <= 10; i++) l.grant(BigInt(i), 10, 0);
    l.promote(0, 0);
    expect(l.expired(10_000, Infinity)).toHaveLength(10);
  });
});

describe('Lessor snapshots', () => {
  const build = (order: number[]) => {
    const l = new Lessor();
    for (const i of order) l.grant(BigInt(i) * 1000n - 1500n, 10 + i, 0);
    for (const i of order) l.applyEvents([put(`key-${i}-b`, BigInt(i) * 1000n - 1500n), put(`key-${i}-a`, BigInt(i) * 1000n - 1500n)]);
    return l;
  };

  it('round-trips IDs, granted TTLs and keys, with bytes independent of insertion order', () => {
    const a = build([1, 2, 3, 4]);
    const b = build([4, 2, 1, 3]);
    expect(a.serialize().equals(b.serialize())).toBe(true);
    const c = new Lessor();
    c.grant(42n, 5, 0);
    c.deserialize(a.serialize(), 0);
    expect(c.has(42n)).toBe(false);
    expect(c.serialize().equals(a.serialize())).toBe(true);
    expect(c.leaseOf(Buffer.from('key-3-a'))).toBe(1500n);
    c.promote(0, 0);
    expect(c.timeToLive(-500n, 0, true)).toEqual({ id: -500n, ttl: 11, grantedTtl: 11, keys: [Buffer.from('key-1-a'), Buffer.from('key-1-b')] });
    expect(keys(c.revoke(2500n))).toEqual(['key-4-a', 'key-4-b']);
  });

  it('refuses garbage with a clear error and keeps its state', () => {
    const good = build([1, 2]).serialize();
    const l = build([3]);
    const before = l.serialize();
    const bad: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from('nonsense'),
      good.subarray(0, good.length - 1),
      Buffer.concat([good, Buffer.from([0])]),
      Buffer.from([...good.subarray(0, 4), 9, ...good.subarray(5)]),
    ];
    // A lease count far beyond the data.
    const huge = Buffer.from(good);
    huge.writeUInt32BE(0xffffffff, 5);
    bad.push(huge);
    for (const data of bad) {
      expect(() => l.deserialize(data, 0)).toThrow(/invalid lease snapshot/);
      expect(l.serialize().equals(before)).toBe(true);
    }
  });

  it('never accepts corrupted bytes silently', () => {
    const good = build([1, 2, 3]).serialize();
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const data = Buffer.from(good);
        data[at]! ^= flip;
        const l = new Lessor();
        try {
          l.deserialize(data, 0);
        } catch (err) {
          expect((err as Error).message).toMatch(/invalid lease snapshot/);
          return;
        }
        // A flip inside a key or a TTL can still be well formed: then it must round-trip exactly.
        expect(l.serialize().equals(data)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('Lessor against a model', () => {
  type Op = { t: 'grant'; id: number } | { t: 'revoke'; id: number } | { t: 'put'; key: number; id: number } | { t: 'del'; key: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.integer({ min: 1, max: 5 }).map((id): Op => ({ t: 'grant', id })),
    fc.integer({ min: 1, max: 5 }).map((id): Op => ({ t: 'revoke', id })),
    fc.record({ key: fc.integer({ min: 0, max: 7 }), id: fc.integer({ min: 0, max: 5 }) }).map((r): Op => ({ t: 'put', ...r })),
    fc.integer({ min: 0, max: 7 }).map((key): Op => ({ t: 'del', key })),
  );

  it('keeps lease→keys in line with a map of key→lease, through snapshots', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const l = new Lessor();
        const leases = new Set<number>();
        const store = new Map<number, number>(); // key -> lease (0 none)
        for (const o of ops) {
          switch (o.t) {
            case 'grant':
              if (leases.has(o.id)) expect(() => l.grant(BigInt(o.id), 10, 0)).toThrow('lease already exists');
              else l.grant(BigInt(o.id), 10, 0);
              leases.add(o.id);
              break;
            case 'revoke': {
              if (!leases.has(o.id)) {
                expect(() => l.revoke(BigInt(o.id))).toThrow('requested lease not found');
                break;
              }
              const want = [...store].filter(([, id]) => id === o.id).map(([k]) => `k${k}`).sort();
              const got = l.revoke(BigInt(o.id));
              expect(keys(got)).toEqual(want);
              leases.delete(o.id);
              const events = got.map((k) => del(k.toString(), BigInt(o.id)));
              for (const k of got) store.delete(Number(k.toString().slice(1)));
              l.applyEvents(events);
              break;
            }
            case 'put': {
              // The applier refuses puts with unknown leases.
              if (o.id !== 0 && !leases.has(o.id)) break;
              const prev = store.get(o.key);
              l.applyEvents([put(`k${o.key}`, BigInt(o.id), prev === undefined ? undefined : BigInt(prev))]);
              store.set(o.key, o.id);
              break;
            }
            case 'del': {
              const prev = store.get(o.key);
              if (prev === undefined) break;
              l.applyEvents([del(`k${o.key}`, BigInt(prev))]);
              store.delete(o.key);
              break;
            }
          }
          for (let k = 0; k < 8; k++) expect(l.leaseOf(Buffer.from(`k${k}`))).toBe(BigInt(store.get(k) ?? 0));
        }
        const copy = new Lessor();
        copy.deserialize(l.serialize(), 0);
        for (let k = 0; k < 8; k++) expect(copy.leaseOf(Buffer.from(`k${k}`))).toBe(BigInt(store.get(k) ?? 0));
        expect(copy.leases().sort()).toEqual([...leases].map(BigInt).sort());
      }),
      { numRuns: 300 },
    );
  });
});
