import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EdnChar, EdnError, EdnList, EdnMap, EdnSet, EdnSymbol, ednEquals, kw, parseEdn, parseEdnAll, Tagged, writeEdn, type Edn } from '../../../checkers/io/edn.js';

const name = fc.stringMatching(/^[a-z][a-z0-9*+!?_-]{0,8}(\/[a-z][a-z0-9-]{0,5})?$/);
const edn: fc.Arbitrary<Edn> = fc.letrec<{ v: Edn }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: false }),
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
    fc.string({ unit: 'binary' }),
    name.map((n) => kw(n)),
    name.filter((n) => !['nil', 'true', 'false'].includes(n)).map((n) => new EdnSymbol(n)),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).map((c) => new EdnChar(c)),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(tie('v'), { maxLength: 4 }).map((xs) => new EdnList(xs)),
    fc.array(tie('v'), { maxLength: 4 }).map((xs) => new EdnSet(xs)),
    fc.array(fc.tuple(tie('v'), tie('v')), { maxLength: 3 }).map((es) => new EdnMap(es)),
    fc.tuple(name.filter((n) => /^[a-z]/.test(n)), tie('v')).map(([t, v]) => new Tagged(t, v)),
  ),
})).v;

describe('EDN reader and writer', () => {
  it('round-trips every value', () => {
    fc.assert(
      fc.property(edn, (v) => {
        const text = writeEdn(v);
        expect(ednEquals(parseEdn(text), v)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('reads the EDN forms Jepsen histories use', () => {
    const [a, b, c] = parseEdnAll(`
      ; a comment
      {:type :ok, :f :txn, :value [[:append 1 2] [:r 1 [1 2]]], :process 3, :time 12345678901234}
      #jepsen.history.Op{:index 0 :error #_ignored "boom"}
      (1 -2 +3 4.5 -1e3 7N 1.5M 1/2 ##Inf \\a \\newline "t\\"x\\u0041" nil true false sym #{1 2})`);
    expect(a).toBeInstanceOf(EdnMap);
    const m = a as EdnMap;
    expect(m.get('type')).toBe(kw('ok'));
    expect(m.get('time')).toBe(12345678901234);
    expect(ednEquals(m.get('value')!, [[kw('append'), 1, 2], [kw('r'), 1, [1, 2]]])).toBe(true);
    expect(b).toBeInstanceOf(Tagged);
    expect(((b as Tagged).value as EdnMap).get('error')).toBe('boom');
    const items = (c as EdnList).items;
    expect(items.slice(0, 8)).toEqual([1, -2, 3, 4.5, -1000, 7n, 1.5, 0.5]);
    expect(items[8]).toBe(Number.POSITIVE_INFINITY);
    expect(items[9]).toEqual(new EdnChar('a'));
    expect(items[10]).toEqual(new EdnChar('\n'));
    expect(items.slice(11, 15)).toEqual(['t"xA', null, true, false]);
    expect(items[15]).toEqual(new EdnSymbol('sym'));
    expect((items[16] as EdnSet).items).toEqual([1, 2]);
  });

  it('big integers stay exact', () => {
    expect(parseEdn('123456789012345678901234567890')).toBe(123456789012345678901234567890n);
  });

  it('rejects bad input with the line and column', () => {
    const cases: [string, RegExp][] = [
      ['[1 2', /unterminated collection, expected \] at line 1, column 1/],
      ['{:a 1 :b}', /even number of forms/],
      ['(1 2]', /unexpected \], expected \)/],
      ['"abc', /unterminated string/],
      ['"\\q"', /unknown escape/],
      ['\n  )', /unexpected \) at line 2, column 3/],
      ['1 2', /more than one form/],
      ['', /no form/],
      ['#_', /nothing to discard/],
      ['12abc', /bad number/],
      ['\\foo', /unknown character/],
      ['#1', /bad # dispatch/],
      ['[' .repeat(5000), /nested too deeply/],
    ];
    for (const [text, re] of cases) {
      expect(() => parseEdn(text)).toThrow(EdnError);
      expect(() => parseEdn(text)).toThrow(re);
    }
  });

  it('never throws anything but EdnError on random text', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'{}[]()#:;"\\ ,_1a-N.e/'.split('')), maxLength: 30 }), (text) => {
        try {
          parseEdnAll(text);
        } catch (err) {
          expect(err).toBeInstanceOf(EdnError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
