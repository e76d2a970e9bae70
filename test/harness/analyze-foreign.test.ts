// `faultline analyze --format jepsen-edn FILE`: the options that make
// faultline's register model agree with Knossos's, and the unknown verdict for
// files with nothing to check.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAnalyzeArgs, UsageError } from '../../harness/cli/args.js';
import { runCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fl-analyze-foreign-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function file(text: string): string {
  const path = join(dir, `h${files++}.edn`);
  writeFileSync(path, text);
  return path;
}

async function analyze(argv: string[]) {
  const r = await runCli(['analyze', ...argv], { mergeErr: true });
  return { code: r.code, text: r.out };
}

const READ_ZERO = `; a read of 0 with no write: fine for a register that starts at 0
[{:process 0, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :read, :value 0}]`;

const WRITE_THEN_NIL = `[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value nil}]`;

const MUTEX = `{:type :invoke, :f :acquire, :process 0, :index 0}
{:type :ok, :f :acquire, :process 0, :index 1}
{:type :invoke, :f :release, :process 1, :index 2}
{:type :fail, :f :release, :process 1, :error :not-held, :index 3}
{:type :invoke, :f :acquire, :process 1, :index 4}
{:type :invoke, :f :release, :process 0, :index 5}
{:type :ok, :f :release, :process 0, :index 6}
{:type :ok, :f :acquire, :process 1, :index 7}
`;

// Two reads of values that are not in the register: p2's read of 3 begins
// first, but p1's read of 2 (2 was overwritten long before) completes first,
// so it is the one to blame.
const TWO_BAD_READS = `[{:process 0, :type :invoke, :f :write, :value 2, :index 10}
 {:process 0, :type :ok, :f :write, :value 2, :index 11}
 {:process 0, :type :invoke, :f :write, :value 0, :index 12}
 {:process 0, :type :ok, :f :write, :value 0, :index 13}
 {:process 2, :type :invoke, :f :read, :value nil, :index 14}
 {:process 1, :type :invoke, :f :read, :value nil, :index 15}
 {:process 1, :type :ok, :f :read, :value 2, :index 16}
 {:process 2, :type :ok, :f :read, :value 3, :index 17}]`;

describe('faultline analyze --format jepsen-edn', () => {
  it('--initial-value sets where every register starts (default absent)', async () => {
    const f = file(READ_ZERO);
    const absent = await analyze(['--format', 'jepsen-edn', f, '--checker', 'linearizable']);
    expect(absent.code, absent.text).toBe(1);
    expect(absent.text).toContain('no operation ever wrote 0');
    const zero = await analyze(['--format', 'jepsen-edn', f, '--checker', 'linearizable', '--initial-value', '0']);
    expect(zero.code, zero.text).toBe(0);
    expect(zero.text).toMatch(/initial value 0/);
    expect((await analyze(['--format', 'jepsen-edn', f, '--initial-value', 'nil'])).code).toBe(1);
  });

  it('--nil-reads: unknown by default for jepsen-edn, absent on request', async () => {
    const f = file(WRITE_THEN_NIL);
    const unknown = await analyze(['--format', 'jepsen-edn', f, '--checker', 'linearizable']);
    expect(unknown.code, unknown.text).toBe(0);
    expect(unknown.text).toContain('1 ok read of nil constrains nothing');
    expect((await analyze(['--format', 'jepsen-edn', f, '--nil-reads', 'unknown'])).code).toBe(0);
    const absent = await analyze(['--format', 'jepsen-edn', f, '--checker', 'linearizable', '--nil-reads', 'absent']);
    expect(absent.code, absent.text).toBe(1);
    expect(absent.text).toMatch(/read of key x returning nothing \(key absent\) \(invoked #2, ok #3\) is not linearizable/);
  });

  it('answers UNKNOWN (exit 2) for a mutex history, with or without --checker', async () => {
    const f = file(MUTEX);
    for (const extra of [[], ['--checker', 'linearizable']]) {
      const r = await analyze(['--format', 'jepsen-edn', f, ...extra]);
      expect(r.code, r.text).toBe(2);
      expect(r.text).toContain('no read, write or cas operations to check; the history has :acquire ×2, :release ×2 — mutex histories need a mutex model, which faultline does not have');
      expect(r.text).toMatch(/verdict: UNKNOWN: nothing to check/);
      expect(r.text).not.toMatch(/VALID/);
    }
  });

  it("blames the first op to complete, quoting the file's :index values", async () => {
    const r = await analyze(['--format', 'jepsen-edn', file(TWO_BAD_READS), '--initial-value', '0']);
    expect(r.code, r.text).toBe(1);
    expect(r.text).toContain(
      'read of key x returning 2 (invoked #15, ok #16) is not linearizable: 2 was written only by write of 2 to key x (invoked #10, ok #11), ' +
        'but after that write of 0 to key x (invoked #12, ok #13) wrote 0 and completed before the read began.',
    );
  });

  it('documents the options in --help', async () => {
    const r = await analyze(['--help']);
    expect(r.text).toMatch(/--initial-value V\s+.*default nil = absent/);
    expect(r.text).toMatch(/--nil-reads unknown\|absent\s+.*default unknown for jepsen-edn, absent for porcupine/);
  });
});

describe('parseAnalyzeArgs: --initial-value and --nil-reads', () => {
  it('parses numbers and nil, and leaves the defaults to the format', () => {
    const base = ['--format', 'jepsen-edn', 'h.edn'];
    expect(parseAnalyzeArgs(base)).toMatchObject({ format: 'jepsen-edn' });
    expect(parseAnalyzeArgs(base)).not.toHaveProperty('initialValue');
    expect(parseAnalyzeArgs(base)).not.toHaveProperty('nilReads');
    expect(parseAnalyzeArgs([...base, '--initial-value', '0'])).toMatchObject({ initialValue: 0 });
    expect(parseAnalyzeArgs([...base, '--initial-value', '-3'])).toMatchObject({ initialValue: -3 });
    expect(parseAnalyzeArgs([...base, '--initial-value', 'nil'])).toMatchObject({ initialValue: null });
    expect(parseAnalyzeArgs([...base, '--initial-value=absent'])).toMatchObject({ initialValue: null });
    expect(parseAnalyzeArgs([...base, '--nil-reads', 'absent'])).toMatchObject({ nilReads: 'absent' });
  });

  it('rejects bad values and use on stored runs', () => {
    const base = ['--format', 'jepsen-edn', 'h.edn'];
    expect(() => parseAnalyzeArgs([...base, '--initial-value', 'x'])).toThrow(/--initial-value must be a number, nil or absent/);
    expect(() => parseAnalyzeArgs([...base, '--nil-reads', 'maybe'])).toThrow(/--nil-reads must be unknown or absent/);
    expect(() => parseAnalyzeArgs(['run-dir', '--initial-value', '0'])).toThrow(UsageError);
    expect(() => parseAnalyzeArgs(['run-dir', '--nil-reads', 'unknown'])).toThrow(/needs --format jepsen-edn or porcupine/);
    expect(() => parseAnalyzeArgs([...base, '--checker', 'append', '--initial-value', '0'])).toThrow(/apply to --checker linearizable/);
  });
});
