// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum etcd's
// WAL and HashKV use. Slicing-by-8: eight 256-entry tables let the hot loop consume
// eight bytes per iteration, which matters because every WAL byte is hashed
// once when written and once on recovery.

const POLY = 0x82f63b78;

const TABLES: Int32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  const t0 = tables[0]!;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n]!;
    for (let t = 1; t < 8; t++) {
      c = t0[c & 0xff]! ^ (c >>> 8);
      tables[t]![n] = c;
    }
  }
  return tables;
})();

const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Int32Array, Int32Array, Int32Array, Int32Array,
  Int32Array, Int32Array, Int32Array, Int32Array,
];

/**
 * CRC-32C of `data[start, end)`, continuing from `crc` (the result of a
 * previous call), so crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
export function crc32c(data: Uint8Array, crc = 0, start = 0, end = data.length): number {
  let c = ~crc;
  let i = start;
  const fast = end - ((end - i) & 7);
  while (i < fast) {
    const lo = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c =
      T7[lo & 0xff]! ^
      T6[(lo >>> 8) & 0xff]! ^
      T5[(lo >>> 16) & 0xff]! ^
      T4[lo >>> 24]! ^
      T3[data[i + 4]!]! ^
      T2[data[i + 5]!]! ^
      T1[data[i + 6]!]! ^
      T0[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) {
    c = T0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    i++;
  }
  return ~c >>> 0;
}

/** An incremental CRC-32C. `update` may be called any number of times; `digest` does not reset. */
export class Crc32c {
  private crc = 0;

  update(buf: Uint8Array, start = 0, end = buf.length): this {
    this.crc = crc32c(buf, this.crc, start, end);
    return this;
  }

  digest(): number {
    return this.crc;
  }
}
