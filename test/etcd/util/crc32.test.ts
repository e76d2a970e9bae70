import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Crc32, crc32, crc32Portable } from '../../../etcd/util/crc32.js';

describe('crc32', () => {
  it('gives the IEEE check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32Portable(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });

  it('agrees with the table loop, continues across pieces and honours start and end', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), fc.nat(300), (bytes, a, b) => {
        const [from, to] = [Math.min(a, b, bytes.length), Math.min(Math.max(a, b), bytes.length)];
        const whole = crc32Portable(bytes);
        expect(crc32(bytes)).toBe(whole);
        expect(crc32(bytes.subarray(to), crc32(bytes.subarray(from, to), crc32(bytes.subarray(0, from))))).toBe(whole);
        expect(crc32(bytes, 0, from, to)).toBe(crc32Portable(bytes.subarray(from, to)));
        expect(new Crc32().update(bytes, 0, from).update(bytes, from).digest()).toBe(whole);
      }),
    );
  });
});
