// Member, cluster and request IDs computed the way etcd computes them, so a
// member started with the same URLs and token reports the same IDs as etcd.

import { createHash } from 'node:crypto';

/**
 * etcd's member ID: the first 8 bytes (big-endian) of sha1 over the sorted
 * peer URLs concatenated, then the cluster token, then — for members added at
 * runtime — the unix time in seconds.
 */
export function computeMemberId(peerURLs: readonly string[], clusterToken: string, addedAtUnixSeconds?: number): bigint {
  const joined = [...peerURLs].sort().join('');
  const suffix = addedAtUnixSeconds === undefined ? '' : String(Math.floor(addedAtUnixSeconds));
  const hash = createHash('sha1').update(joined + clusterToken + suffix, 'utf8').digest();
  return hash.readBigUInt64BE(0);
}

/** etcd's cluster ID: the first 8 bytes of sha1 over the sorted member IDs, each 8 bytes big-endian. */
export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return createHash('sha1').update(buf).digest().readBigUInt64BE(0);
}

const SUFFIX_BITS = 48n;
const COUNTER_BITS = 8n;
const TIMESTAMP_BITS = 40n;

/**
 * etcd's request ID generator: the member ID's low 16 bits, then 40 bits of
 * the start time in milliseconds, then an 8-bit counter that carries into the
 * timestamp. Unique across members and restarts without coordination.
 */
export class IdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  constructor(memberId: bigint, nowMs: number) {
    this.prefix = (memberId & 0xffffn) << SUFFIX_BITS;
    const ts = BigInt(Math.floor(nowMs)) & ((1n << TIMESTAMP_BITS) - 1n);
    this.suffix = ts << COUNTER_BITS;
  }

  next(): bigint {
    this.suffix = (this.suffix + 1n) & ((1n << SUFFIX_BITS) - 1n);
    return this.prefix | this.suffix;
  }
}

/** etcd prints IDs as lowercase hex without padding. */
export function idToHex(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}
