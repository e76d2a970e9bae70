// The lessor's replicated state as bytes for snapshots: every lease's ID,
// granted TTL and attached keys, in a canonical order so that equal states
// give equal bytes on every member.
//
//   "FLLS" u8 version=1 u32 leaseCount
//   leaseCount × { i64 id, i64 ttlSeconds, u32 keyCount, keyCount × { u32 len, bytes } }
//
// Big-endian; leases by ascending ID, keys ascending (Buffer.compare).

export interface LeaseRecord {
  id: bigint;
  ttl: number;
  keys: Buffer[];
}

const MAGIC = Buffer.from('FLLS');
const VERSION = 1;

export function encodeLeases(leases: readonly LeaseRecord[], maxTtl: number): Buffer {
  const sorted = [...leases].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let size = MAGIC.length + 1 + 4;
  const keyLists = sorted.map((l) => [...l.keys].sort(Buffer.compare));
  for (const keys of keyLists) {
    size += 8 + 8 + 4;
    for (const k of keys) size += 4 + k.length;
  }
  const out = Buffer.alloc(size);
  let at = MAGIC.copy(out, 0);
  at = out.writeUInt8(VERSION, at);
  at = out.writeUInt32BE(sorted.length, at);
  sorted.forEach((l, i) => {
    if (!Number.isSafeInteger(l.ttl) || l.ttl < 1 || l.ttl > maxTtl) throw new Error(`lease ${l.id}: bad TTL ${l.ttl}`);
    at = out.writeBigInt64BE(l.id, at);
    at = out.writeBigInt64BE(BigInt(l.ttl), at);
    const keys = keyLists[i]!;
    at = out.writeUInt32BE(keys.length, at);
    for (const k of keys) {
      at = out.writeUInt32BE(k.length, at);
      at += k.copy(out, at);
    }
  });
  return out;
}

class Reader {
  at = 0;
  constructor(private readonly buf: Buffer) {}

  need(n: number, what: string): void {
    if (this.buf.length - this.at < n) fail(`truncated ${what} at byte ${this.at}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf.readUInt8(this.at++);
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  i64(what: string): bigint {
    this.need(8, what);
    const v = this.buf.readBigInt64BE(this.at);
    this.at += 8;
    return v;
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = Buffer.from(this.buf.subarray(this.at, this.at + n));
    this.at += n;
    return v;
  }

  get remaining(): number {
    return this.buf.length - this.at;
  }
}

function fail(why: string): never {
  throw new Error(`invalid lease snapshot: ${why}`);
}

/** Parses and validates; throws an Error naming the problem for anything but a well-formed snapshot. */
export function decodeLeases(data: Buffer, maxTtl: number): LeaseRecord[] {
  const r = new Reader(data);
  if (!r.bytes(MAGIC.length, 'magic').equals(MAGIC)) fail('bad magic');
  const version = r.u8('version');
  if (version !== VERSION) fail(`unsupported version ${version}`);
  const count = r.u32('lease count');
  // Each lease takes at least 20 bytes, so a count beyond that is garbage, not a reason to allocate.
  if (count * 20 > r.remaining) fail(`lease count ${count} exceeds the data`);
  const leases: LeaseRecord[] = [];
  const allKeys = new Set<string>();
  let prevId: bigint | null = null;
  for (let i = 0; i < count; i++) {
    const id = r.i64('lease id');
    if (id === 0n) fail('lease id 0');
    if (prevId !== null && id <= prevId) fail(`lease ids out of order at ${id}`);
    prevId = id;
    const ttlBig = r.i64('ttl');
    if (ttlBig < 1n || ttlBig > BigInt(maxTtl)) fail(`lease ${id}: TTL ${ttlBig} out of range`);
    const keyCount = r.u32('key count');
    if (keyCount * 4 > r.remaining) fail(`lease ${id}: key count ${keyCount} exceeds the data`);
    const keys: Buffer[] = [];
    for (let k = 0; k < keyCount; k++) {
      const key = r.bytes(r.u32('key length'), 'key');
      if (key.length === 0) fail(`lease ${id}: empty key`);
      const prev = keys[keys.length - 1];
      if (prev && Buffer.compare(prev, key) >= 0) fail(`lease ${id}: keys out of order`);
      const mk = key.toString('latin1');
      if (allKeys.has(mk)) fail(`key attached to two leases`);
      allKeys.add(mk);
      keys.push(key);
    }
    leases.push({ id, ttl: Number(ttlBig), keys });
  }
  if (r.remaining !== 0) fail(`${r.remaining} trailing bytes`);
  return leases;
}
