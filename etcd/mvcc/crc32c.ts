// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum etcd's
// HashKV uses. Table-driven, one byte per step: hashing is rare (HashKV,
// corruption checks, snapshots), so simplicity beats slicing-by-8 here.

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** An incremental CRC-32C. `update` may be called any number of times; `digest` does not reset. */
export class Crc32c {
  private state = 0xffffffff;

  update(buf: Uint8Array, start = 0, end = buf.length): this {
    let c = this.state;
    for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
    this.state = c;
    return this;
  }

  digest(): number {
    return (this.state ^ 0xffffffff) >>> 0;
  }
}

export function crc32c(buf: Uint8Array): number {
  return new Crc32c().update(buf).digest();
}
