import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import type { Op } from '../../harness/history.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function storedRun(ops: Omit<Op, 'index'>[]): { store: string; dir: string } {
  const store = mkdtempSync(join(tmpdir(), 'fl-analyze-'));
  dirs.push(store);
  const dir = join(store, 'register-etcd-none', '20240101T000000.000Z');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'history.jsonl'), ops.map((o, index) => JSON.stringify({ index, ...o })).join('\n') + '\n');
  writeFileSync(join(dir, 'test.json'), JSON.stringify({ name: 'register-etcd-none', seed: 3, options: { db: 'etcd', nodes: 3, nemesis: [] } }));
  return { store, dir };
}

async function analyze(argv: string[]) {
  const r = await runCli(['analyze', ...argv], { mergeErr: true });
  return { code: r.code, text: r.out };
}

const w = (p: number, v: number, t: number, type: Op['type'] = 'ok'): Omit<Op, 'index'> => ({ type, process: p, f: 'write', value: { key: 'r0', value: v }, time: t, member: 'n1', ...(type === 'ok' ? { revision: v + 1, memberId: 'a' } : {}) });
const r = (p: number, v: number | null, t: number, type: Op['type'] = 'ok', rev = 10): Omit<Op, 'index'> => ({ type, process: p, f: 'read', value: { key: 'r0', value: v, ...(v !== null && type === 'ok' ? { modRevision: v + 1 } : {}) }, time: t, member: 'n2', ...(type === 'ok' ? { revision: rev, memberId: 'b' } : {}) });

describe('faultline analyze', () => {
  it('re-checks a valid stored history: exit 0, results.json and index.html written', async () => {
    const { dir } = storedRun([w(0, 1, 1, 'invoke'), w(0, 1, 2), r(1, null, 3, 'invoke'), r(1, 1, 4)]);
    const { code, text } = await analyze([dir]);
    expect(code, text).toBe(0);
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { valid: unknown; opCounts: { ok: number } };
    expect(results.valid).toBe(true);
    expect(results.opCounts.ok).toBe(2);
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).toContain('register-etcd-none');
  });

  it('finds a read of a value that was overwritten before the read began: exit 1 with the anomaly anchored in the report', async () => {
    const { dir, store } = storedRun([
      w(0, 1, 1, 'invoke'),
      w(0, 1, 2),
      w(0, 2, 3, 'invoke'),
      w(0, 2, 4),
      r(1, null, 5, 'invoke'),
      r(1, 1, 6),
    ]);
    // No run has been analyzed or finished in this store yet, so there is no latest.
    const { code, text } = await analyze(['--store', store]);
    expect(code).toBe(3);
    expect(text).toMatch(/no runs in/);
    const res = await analyze([dir]);
    expect(res.code, res.text).toBe(1);
    expect(res.text).toMatch(/INVALID/);
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { valid: unknown; anomalies: { opIndexes: number[] }[] };
    expect(results.valid).toBe(false);
    expect(results.anomalies.length).toBeGreaterThan(0);
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    expect(html).toContain('id="first-anomaly"');
    // Now store/latest exists and analyze finds it without a directory.
    expect((await analyze(['--store', store])).code).toBe(1);
  });

  it('handles a history cut short by a crash: open invocations count as unknown', async () => {
    const { dir } = storedRun([w(0, 1, 1, 'invoke'), w(0, 1, 2), w(1, 2, 3, 'invoke')]);
    appendFileSync(join(dir, 'history.jsonl'), '{"index":3,"ty');
    const { code, text } = await analyze([dir]);
    expect(code, text).toBe(0);
    expect(text).toMatch(/1 unreadable lines skipped/);
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { opCounts: { info: number } };
    expect(results.opCounts.info).toBe(1);
  });
});
