import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkForeignHistory, guessChecker, readForeignHistory } from '../../../checkers/io/analyze-foreign.js';
import { HistoryFormatError, readJepsenHistory, writeJepsenHistory } from '../../../checkers/io/jepsen.js';
import { unlimitedBudget } from '../../../checkers/result.js';
import type { Op } from '../../../harness/history.js';
import { simulate } from '../../../checkers/sim/elle-sim.js';

const fixture = (name: string) => readFileSync(join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures', name), 'utf8');
const verdict = (name: string, format: 'jepsen-edn' | 'porcupine', checker?: 'linearizable' | 'append' | 'wr') => {
  const ops = readForeignHistory(fixture(name), format);
  return checkForeignHistory(ops, checker ?? guessChecker(ops), unlimitedBudget);
};

describe('Jepsen history.edn import', () => {
  it('reads tagged op records, keywords as keys and the nemesis', () => {
    const ops = readJepsenHistory(fixture('append-valid.edn'));
    expect(ops).toHaveLength(11);
    expect(ops[2]).toEqual({ index: 2, type: 'ok', process: 0, f: 'txn', value: [['append', 'x', 1], ['r', 'y', []]], time: 2000 });
    expect(ops[7]).toMatchObject({ type: 'info', error: ':timeout' });
    expect(ops[10]).toMatchObject({ process: 'nemesis', f: 'start-partition', value: ['isolated', { n1: ['n2', 'n3'] }] });
  });

  it('reads independent cas-register tuples and bare values', () => {
    const ops = readJepsenHistory(fixture('cas-register-valid.edn'));
    expect(ops[0]!.value).toEqual({ key: '1', value: 3 });
    expect(ops[4]!.value).toEqual({ key: '1', from: 3, to: 4 });
    expect(ops[10]!.value).toEqual({ key: 'x', value: 1 });
    expect(ops.every((o, i) => o.index === i && o.time === i)).toBe(true);
  });

  it('names the problem in malformed histories', () => {
    expect(() => readJepsenHistory('{:type :ok}')).toThrow(/:f is missing/);
    expect(() => readJepsenHistory('{:type :done, :f :read}')).toThrow(HistoryFormatError);
    expect(() => readJepsenHistory('[1]')).toThrow(/entry 1 is not a map/);
    expect(() => readJepsenHistory('{:type :ok, :f :txn, :value [[:frob 1 2]], :process 0}')).toThrow(/unknown micro-op :frob/);
    expect(() => readJepsenHistory('{:type :ok, :f :cas, :value 3, :process 0}')).toThrow(/\[from to\]/);
    expect(() => readJepsenHistory('{:type :ok, :f :txn')).toThrow(/unterminated collection/);
  });

  it('export then import gives back our ops', () => {
    const raw: Op[] = [
      ...simulate('append', { seed: 4, txns: 40, processes: 3, keys: 2 }),
      ...simulate('wr', { seed: 4, txns: 40, processes: 3, keys: 2, revisions: true }).map((o) => ({ ...o, process: (o.process as number) + 100 })),
      { index: 0, type: 'invoke', process: 7, f: 'cas', value: { key: 'r1', from: 1, to: 2 }, time: 5 },
      { index: 0, type: 'ok', process: 7, f: 'cas', value: { key: 'r1', from: 1, to: 2 }, time: 6, revision: 9 },
      { index: 0, type: 'info', process: 'nemesis', f: 'kill', value: { targets: ['n1'] }, time: 7, error: 'x "quoted"' },
    ];
    const ops = raw.map((o, i): Op => ({ ...o, index: i }));
    const text = writeJepsenHistory(ops);
    expect(text.split('\n')[0]).toMatch(/^\{:index 0, :time \d+, :type :invoke, :process \d+, :f :txn, :value \[\[:/);
    expect(readJepsenHistory(text)).toEqual(ops);
  });
});

describe('known verdicts for hand-written histories', () => {
  it('list-append: valid, and read skew as G-single', () => {
    const ok = verdict('append-valid.edn', 'jepsen-edn');
    expect(ok.checker).toBe('append');
    expect(ok.valid).toBe(true);
    const bad = verdict('append-g-single.edn', 'jepsen-edn', 'append');
    expect(bad.valid).toBe(false);
    expect(bad.lines.join('\n')).toMatch(/anomalies: G-single ×1/);
    expect(bad.lines.join('\n')).toMatch(/strongest model satisfied: read-committed/);
  });

  it('rw-register: valid, and a lost update', () => {
    expect(verdict('wr-valid.edn', 'jepsen-edn').valid).toBe(true);
    const bad = verdict('wr-lost-update.edn', 'jepsen-edn', 'wr');
    expect(bad.valid).toBe(false);
    expect(bad.lines.join('\n')).toMatch(/lost-update/);
  });

  it('cas-register: valid, and a stale read', () => {
    expect(verdict('cas-register-valid.edn', 'jepsen-edn').valid).toBe(true);
    const bad = verdict('cas-register-stale.edn', 'jepsen-edn', 'linearizable');
    expect(bad.valid).toBe(false);
    expect(bad.lines[0]).toMatch(/not linearizable 1/);
  });
});
