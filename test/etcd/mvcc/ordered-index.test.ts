import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OrderedIndex, indexKey } from '../../../etcd/mvcc/ordered-index.js';

type Cmd = { t: 'set'; k: Buffer; v: number } | { t: 'del'; k: Buffer } | { t: 'scan'; a: Buffer; z: Buffer | null } | { t: 'bulk' };

/** Short keys over few byte values, so the tree sees collisions, prefixes and 0x00/0xff edges. */
const keyArb = fc.uint8Array({ minLength: 1, maxLength: 3 }).map((a) => Buffer.from(a.map((x) => [0, 1, 0x61, 0x62, 0xfe, 0xff][x % 6]!)));

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant('set' as const), k: keyArb, v: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('del' as const), k: keyArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('scan' as const), a: keyArb, z: fc.option(keyArb, { nil: null }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'bulk' as const }) },
);

describe('OrderedIndex', () => {
  it('behaves like a sorted map', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 400 }), fc.constantFrom(1, 2, 3, 7, undefined), (cmds, batch) => {
        // Small batches make new keys reach the tree in sorted batches all the time.
        const idx = new OrderedIndex<number>(batch);
        const model = new Map<string, number>();
        const sorted = () => [...model.entries()].sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')));
        for (const c of cmds) {
          if (c.t === 'set') {
            // Half the writes pass the key's index form, as the store's put does.
            const k = c.v % 2 === 0 ? indexKey(c.k) : undefined;
            expect(idx.get(c.k, k)).toBe(model.get(c.k.toString('latin1')));
            idx.set(c.k, c.v, k);
            model.set(c.k.toString('latin1'), c.v);
          } else if (c.t === 'del') {
            expect(idx.delete(c.k)).toBe(model.delete(c.k.toString('latin1')));
          } else if (c.t === 'bulk') {
            const entries = sorted();
            idx.bulkLoad(
              entries.map(([k]) => Buffer.from(k, 'latin1')),
              entries.map(([, v]) => v),
            );
          } else {
            const got: [string, number][] = [];
            idx.scan(c.a, c.z, (k, v) => {
              got.push([k.toString('latin1'), v]);
            });
            const want = sorted().filter(([k]) => {
              const kb = Buffer.from(k, 'latin1');
              return Buffer.compare(kb, c.a) >= 0 && (c.z === null || Buffer.compare(kb, c.z) < 0);
            });
            expect(got).toEqual(want);
          }
          expect(idx.size).toBe(model.size);
        }
        for (const [k, v] of model) expect(idx.get(Buffer.from(k, 'latin1'))).toBe(v);
        expect([...idx.entries()].map(([k, v]) => [k.toString('latin1'), v])).toEqual(sorted());
        expect(idx.valuesInOrder()).toEqual(sorted().map(([, v]) => v));
      }),
      { numRuns: 200 },
    );
  });

  it('stops a scan when the callback returns false', () => {
    const idx = new OrderedIndex<number>();
    for (let i = 0; i < 1000; i++) idx.set(Buffer.from(i.toString().padStart(4, '0')), i);
    const seen: number[] = [];
    idx.scan(Buffer.from('0100'), null, (_k, v) => {
      seen.push(v);
      return seen.length < 3;
    });
    expect(seen).toEqual([100, 101, 102]);
  });

  it('keeps 200k random keys ordered', () => {
    const idx = new OrderedIndex<number>();
    const n = 200_000;
    let x = 12345;
    const keys: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const k = Buffer.alloc(8);
      k.writeUInt32BE(x, 0);
      k.writeUInt32BE(i, 4);
      keys.push(k);
      idx.set(k, i);
    }
    expect(idx.size).toBe(n);
    let prev: Buffer | null = null;
    let count = 0;
    let disorder = 0;
    idx.scan(Buffer.alloc(0), null, (k) => {
      if (prev && Buffer.compare(prev, k) >= 0) disorder++;
      prev = k;
      count++;
    });
    expect([count, disorder]).toEqual([n, 0]);
    for (let i = 0; i < n; i += 997) expect(idx.get(keys[i]!)).toBe(i);
  });

  it('refuses a batch size it cannot use', () => {
    expect(() => new OrderedIndex<number>(0)).toThrow(RangeError);
    expect(() => new OrderedIndex<number>(1.5)).toThrow(RangeError);
  });
});
