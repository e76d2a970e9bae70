// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), for checksums of our
// own formats where speed matters and etcd compatibility does not (snapshot
// images). Node's zlib.crc32 (20.15 and later) is native and several times
// faster than any table loop in JavaScript; older Node gets the table loop.

import zlib from 'node:zlib';

type NativeCrc32 = (data: Uint8Array, value?: number) => number;

const native: NativeCrc32 | undefined = (zlib as unknown as { crc32?: NativeCrc32 }).crc32;

const TABLE: Int32Array = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** The table loop, exported so tests can check it against the native one. */
export function crc32Portable(data: Uint8Array, crc = 0, start = 0, end = data.length): number {
  let c = ~crc;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * CRC-32 of `data[start, end)`, continuing from `crc` (the result of a
 * previous call), so crc32(b, crc32(a)) === crc32(a ++ b).
 */
export function crc32(data: Uint8Array, crc = 0, start = 0, end = data.length): number {
  if (native === undefined) return crc32Portable(data, crc, start, end);
  return native(start === 0 && end === data.length ? data : data.subarray(start, end), crc) >>> 0;
}

/** An incremental CRC-32. `update` may be called any number of times; `digest` does not reset. */
export class Crc32 {
  private crc = 0;

  update(buf: Uint8Array, start = 0, end = buf.length): this {
    this.crc = crc32(buf, this.crc, start, end);
    return this;
  }

  digest(): number {
    return this.crc;
  }
}
