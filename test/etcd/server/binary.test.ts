import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryReader, BinaryWriter } from '../../../etcd/server/binary.js';

type Field =
  | { t: 'uvarint'; v: number }
  | { t: 'varint'; v: number }
  | { t: 'u8'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'int64'; v: bigint }
  | { t: 'bytes'; v: Uint8Array }
  | { t: 'string'; v: string }
  | { t: 'strings'; v: string[] };

const fieldArb: fc.Arbitrary<Field> = fc.oneof(
  fc.record({ t: fc.constant('uvarint' as const), v: fc.oneof(fc.nat(300), fc.maxSafeNat()) }),
  // Zigzag doubles the magnitude, so varints cover |v| < 2^52.
  fc.record({ t: fc.constant('varint' as const), v: fc.oneof(fc.integer({ min: -300, max: 300 }), fc.integer({ min: -(2 ** 52) + 1, max: 2 ** 52 - 1 })) }),
  fc.record({ t: fc.constant('u8' as const), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ t: fc.constant('bool' as const), v: fc.boolean() }),
  fc.record({ t: fc.constant('int64' as const), v: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) }),
  fc.record({ t: fc.constant('bytes' as const), v: fc.uint8Array({ maxLength: 3000 }) }),
  fc.record({ t: fc.constant('string' as const), v: fc.string({ unit: 'grapheme', maxLength: 20 }) }),
  fc.record({ t: fc.constant('strings' as const), v: fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }) }),
);

function write(w: BinaryWriter, f: Field): void {
  switch (f.t) {
    case 'uvarint':
      w.uvarint(f.v);
      break;
    case 'varint':
      w.varint(f.v);
      break;
    case 'u8':
      w.u8(f.v);
      break;
    case 'bool':
      w.bool(f.v);
      break;
    case 'int64':
      w.int64(f.v);
      break;
    case 'bytes':
      w.bytes(f.v);
      break;
    case 'string':
      w.string(f.v);
      break;
    case 'strings':
      w.strings(f.v);
      break;
  }
}

function read(r: BinaryReader, f: Field): unknown {
  switch (f.t) {
    case 'uvarint':
      return r.uvarint();
    case 'varint':
      return r.varint();
    case 'u8':
      return r.u8();
    case 'bool':
      return r.bool();
    case 'int64':
      return r.int64();
    case 'bytes':
      return new Uint8Array(r.bytes());
    case 'string':
      return r.string();
    case 'strings':
      return r.strings();
  }
}

describe('BinaryWriter', () => {
  it('reads back what it wrote, with the same bytes whatever the size hint', () => {
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 30 }), fc.integer({ min: 0, max: 10_000 }), (fields, hint) => {
        const small = new BinaryWriter(0);
        const hinted = new BinaryWriter(hint);
        for (const f of fields) {
          write(small, f);
          write(hinted, f);
        }
        const bytes = small.finish();
        expect(hinted.finish().equals(bytes)).toBe(true);
        const r = new BinaryReader(bytes);
        for (const f of fields) expect(read(r, f)).toEqual(f.v);
        expect(r.done).toBe(true);
      }),
    );
  });

  it('never changes bytes it has handed out, and does not keep a mostly empty buffer alive with them', () => {
    const w = new BinaryWriter(64);
    w.bytes(Buffer.from('abc'));
    const first = w.finish();
    const copy = Buffer.from(first);
    for (let i = 0; i < 100; i++) w.bytes(Buffer.alloc(100, i));
    expect(first.equals(copy)).toBe(true);
    expect(w.finish().subarray(0, first.length).equals(copy)).toBe(true);

    const big = new BinaryWriter(1 << 20);
    big.u8(7);
    const out = big.finish();
    expect([...out]).toEqual([7]);
    expect(out.buffer.byteLength).toBeLessThan(1 << 16);
  });

  it('refuses numbers it cannot encode', () => {
    const w = new BinaryWriter();
    expect(() => w.uvarint(-1)).toThrow(RangeError);
    expect(() => w.uvarint(2 ** 53)).toThrow(RangeError);
    expect(() => w.varint(1.5)).toThrow(RangeError);
  });
});
