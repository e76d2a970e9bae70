import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkLinearizable } from '../../../checkers/linearizable.js';
import { readPorcupineHistory } from '../../../checkers/io/porcupine.js';
import { unlimitedBudget } from '../../../checkers/result.js';

const fixture = (name: string) => readFileSync(join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures', name), 'utf8');

describe('Porcupine histories', () => {
  it('reads Jepsen log lines as one cas register and checks them', () => {
    const ops = readPorcupineHistory(fixture('porcupine-etcd.log'));
    expect(ops).toHaveLength(13);
    expect(ops[0]).toMatchObject({ type: 'invoke', process: 0, f: 'write', value: { key: 'x', value: 3 } });
    expect(ops[4]).toMatchObject({ process: 'nemesis', f: 'start' });
    expect(ops[8]).toMatchObject({ type: 'fail', f: 'read', value: { key: 'x', value: null } });
    expect(ops[10]).toMatchObject({ type: 'info', f: 'cas', value: { key: 'x', from: 0, to: 4 } });
    expect(checkLinearizable(ops, { budget: unlimitedBudget }).valid).toBe(true);
  });

  it('finds a non-linearizable Jepsen log', () => {
    const text = fixture('porcupine-etcd.log').replace(/3\t:ok\t:read\t1/, '3\t:ok\t:read\t3');
    expect(checkLinearizable(readPorcupineHistory(text), { budget: unlimitedBudget }).valid).toBe(false);
  });

  it('reads kv logs as registers per key: an empty get after a put is a stale read', () => {
    const ops = readPorcupineHistory(fixture('porcupine-kv-bad.txt'));
    expect(ops[1]).toMatchObject({ f: 'write', value: { key: 'a', value: 1 } });
    expect(ops[3]).toMatchObject({ f: 'read', value: { key: 'a', value: null } });
    expect(checkLinearizable(ops, { budget: unlimitedBudget }).valid).toBe(false);
  });

  it('rejects what it cannot check, naming the line', () => {
    expect(() => readPorcupineHistory('{:process 0, :type :invoke, :f :append, :key "a", :value "x"}')).toThrow(/:append is not a register operation/);
    expect(() => readPorcupineHistory('INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2')).toThrow(/line 1: EDN: unterminated/);
    expect(() => readPorcupineHistory('INFO  jepsen.util - 0\t:invoke\t:frob\t1')).toThrow(/line 1: unknown operation :frob/);
  });
});
