import { describe, expect, it } from 'vitest';
import { checkForeignHistory, defaultNilReads, fileLabeler, guessChecker, nothingToCheck, readForeignFile } from '../../../checkers/io/analyze-foreign.js';
import { registerCalls } from '../../../checkers/register-calls.js';
import { unlimitedBudget } from '../../../checkers/result.js';

const edn = (text: string) => readForeignFile(text, 'jepsen-edn');

const MUTEX = `[{:process 0, :type :invoke, :f :acquire}
 {:process 0, :type :ok, :f :acquire}
 {:process 1, :type :invoke, :f :acquire}
 {:process 1, :type :ok, :f :acquire}
 {:process 0, :type :invoke, :f :release}
 {:process 0, :type :fail, :f :release}
 {:process :nemesis, :type :info, :f :start}]`;

describe('foreign histories with nothing to check', () => {
  it('answers unknown for a mutex history and names what it holds', () => {
    const { ops } = edn(MUTEX);
    expect(guessChecker(ops)).toBe('linearizable');
    const v = checkForeignHistory(ops, 'linearizable', unlimitedBudget);
    expect(v.valid).toBe('unknown');
    expect(v.nothingChecked).toBe(
      'no read, write or cas operations to check; the history has :acquire ×2, :release ×1 and 1 nemesis entry — mutex histories need a mutex model, which faultline does not have',
    );
    expect(v.lines[0]).toMatch(/nothing checked/);
  });

  it('answers unknown for an empty history, and for Elle checkers without matching txns', () => {
    expect(checkForeignHistory(edn('[]').ops, 'linearizable', unlimitedBudget).valid).toBe('unknown');
    expect(nothingToCheck(edn('[]').ops, 'linearizable')).toMatch(/the history is empty$/);
    const register = edn(`[{:process 0, :type :invoke, :f :write, :value 1} {:process 0, :type :ok, :f :write, :value 1}]`).ops;
    for (const checker of ['append', 'wr'] as const) {
      const v = checkForeignHistory(register, checker, unlimitedBudget);
      expect(v.valid).toBe('unknown');
      expect(v.nothingChecked).toMatch(/^no txn operations with :(append|w) or :r micro-ops to check; the history has :write ×1 — register histories need --checker linearizable$/);
    }
    const txns = edn(`[{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]} {:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}]`).ops;
    expect(nothingToCheck(txns, 'append')).toBeUndefined();
    expect(nothingToCheck(txns, 'linearizable')).toMatch(/txn histories need --checker append or wr$/);
  });

  it('still checks a history whose register ops all failed', () => {
    const { ops } = edn(`[{:process 0, :type :invoke, :f :write, :value 1} {:process 0, :type :fail, :f :write, :value 1}]`);
    expect(checkForeignHistory(ops, 'linearizable', unlimitedBudget).valid).toBe(true);
  });
});

describe('foreign register semantics', () => {
  const READ_ZERO = `[{:process 0, :type :invoke, :f :read, :value nil} {:process 0, :type :ok, :f :read, :value 0}]`;
  const WRITE_THEN_NIL = `[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value nil}]`;

  it('takes the initial value it is given', () => {
    const { ops } = edn(READ_ZERO);
    expect(checkForeignHistory(ops, 'linearizable', unlimitedBudget).valid).toBe(false);
    const v = checkForeignHistory(ops, 'linearizable', unlimitedBudget, { initialValue: 0 });
    expect(v.valid).toBe(true);
    expect(v.lines[0]).toMatch(/initial value 0/);
  });

  it('reads nil as unknown for Jepsen EDN and as absent for Porcupine by default', () => {
    expect(defaultNilReads('jepsen-edn')).toBe('unknown');
    expect(defaultNilReads('porcupine')).toBe('absent');
    const { ops } = edn(WRITE_THEN_NIL);
    const unknown = checkForeignHistory(ops, 'linearizable', unlimitedBudget, { nilReads: 'unknown' });
    expect(unknown.valid).toBe(true);
    expect(unknown.ops).toBe(4);
    expect(unknown.lines).toContain('  1 ok read of nil constrains nothing (value not recorded)');
    expect(checkForeignHistory(ops, 'linearizable', unlimitedBudget, { nilReads: 'absent' }).valid).toBe(false);
  });
});

describe('op numbers in explanations', () => {
  const INDEXED = `[{:process 0 :type :invoke :f :write :value 1 :index 5}
 {:process 0 :type :ok     :f :write :value 1 :index 7}
 {:process 0 :type :invoke :f :read :value 2 :index 99}
 {:process 0 :type :ok     :f :read :value 2 :index 100}]`;

  it("quotes the file's :index values, both invocation and completion", () => {
    const { ops, fileIndex } = edn(INDEXED);
    expect(fileIndex).toEqual([5, 7, 99, 100]);
    expect(ops.map((o) => o.index)).toEqual([0, 1, 2, 3]);
    const v = checkForeignHistory(ops, 'linearizable', unlimitedBudget, { label: fileLabeler(fileIndex) });
    expect(v.valid).toBe(false);
    expect(v.lines[1]).toBe('  read of key x returning 2 (invoked #99, ok #100) is not linearizable: no operation ever wrote 2.');
  });

  it('falls back to positions where :index is missing, and says when an op never completed', () => {
    const { ops, fileIndex } = edn(`[{:process 0, :type :invoke, :f :write, :value 1, :index 40}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value 1}]`);
    const label = fileLabeler(fileIndex);
    const [write, read] = registerCalls(ops);
    expect(label(write!)).toBe('invoked #40, never completed');
    expect(label(read!)).toBe('invoked #1, ok #2');
  });
});
