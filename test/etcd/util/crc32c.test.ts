import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../etcd/util/crc32c.js';

// Bit-at-a-time definition of CRC-32C, independent of the table code.
function reference(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('matches published check values (RFC 3720 B.4)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('agrees with the bitwise definition and chains over splits and ranges', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (data, a, b) => {
        const want = reference(data);
        expect(crc32c(data)).toBe(want);
        const cut = data.length === 0 ? 0 : a % (data.length + 1);
        expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(want);
        const lo = Math.min(cut, data.length === 0 ? 0 : b % (data.length + 1));
        const hi = Math.max(cut, lo);
        expect(crc32c(data, 0, lo, hi)).toBe(reference(data.subarray(lo, hi)));
      }),
      { numRuns: 300 },
    );
  });
});
