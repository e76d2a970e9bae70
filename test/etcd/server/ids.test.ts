import { describe, expect, it } from 'vitest';
import { computeClusterId, computeMemberId, IdGenerator, idToHex } from '../../../etcd/server/ids.js';

describe('etcd IDs', () => {
  it('matches the IDs a default etcd reports', () => {
    const member = computeMemberId(['http://localhost:2380'], 'etcd-cluster');
    expect(idToHex(member)).toBe('8e9e05c52164694d');
    expect(idToHex(computeClusterId([member]))).toBe('cdf818194e3a8c32');
  });

  it('sorts peer URLs and member IDs before hashing, and salts runtime-added members with the time', () => {
    const a = computeMemberId(['http://b:2380', 'http://a:2380'], 't');
    expect(a).toBe(computeMemberId(['http://a:2380', 'http://b:2380'], 't'));
    expect(computeMemberId(['http://a:2380', 'http://b:2380'], 't', 1000)).not.toBe(a);
    expect(computeClusterId([1n, 2n])).toBe(computeClusterId([2n, 1n]));
  });

  it('generates request IDs with the member prefix and a monotonically increasing suffix', () => {
    const g = new IdGenerator(0xabcd1234n, 1_700_000_000_000);
    const x = g.next();
    const y = g.next();
    expect(y).toBe(x + 1n);
    expect(x >> 48n).toBe(0x1234n);
    expect(new IdGenerator(0xabcd1234n, 1_700_000_000_001).next()).toBeGreaterThan(y);
  });
});
