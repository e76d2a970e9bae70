import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeOpenOps, HistoryWriter, parseHistory, readHistory } from '../../harness/history-log.js';
import { pairOps } from '../../harness/history.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'fl-hist-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('HistoryWriter', () => {
  it('assigns dense indexes and writes each op as it is appended', () => {
    const path = join(tmp(), 'history.jsonl');
    const w = new HistoryWriter(path);
    const a = w.append({ type: 'invoke', process: 0, f: 'write', value: { key: 'r0', value: 1 }, time: 10 });
    // Already on disk before the next append or close: a crash loses nothing.
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(1);
    const b = w.append({ type: 'ok', process: 0, f: 'write', value: { key: 'r0', value: 1 }, time: 20, revision: 2, memberId: 'abc' });
    w.close();
    expect([a.index, b.index]).toEqual([0, 1]);
    const { ops, skipped } = readHistory(path);
    expect(skipped).toBe(0);
    expect(ops).toEqual([a, b]);
    expect(pairOps(ops)).toHaveLength(1);
  });

  it('reads a history whose last line was torn by a crash', () => {
    const path = join(tmp(), 'history.jsonl');
    const w = new HistoryWriter(path);
    w.append({ type: 'invoke', process: 1, f: 'read', value: { key: 'r0', value: null }, time: 1 });
    w.close();
    appendFileSync(path, '{"index":1,"type":"ok","proc');
    const { ops, skipped } = readHistory(path);
    expect(ops).toHaveLength(1);
    expect(skipped).toBe(1);
  });

  it('ignores blank lines and non-op JSON', () => {
    const { ops, skipped } = parseHistory('\n42\n{"index":0,"type":"invoke","process":0,"f":"read","value":null,"time":0}\n\n');
    expect(ops).toHaveLength(1);
    expect(skipped).toBe(1);
  });
});

describe('closeOpenOps', () => {
  it('completes dangling invocations as info and keeps indexes dense', () => {
    const ops = parseHistory(
      [
        { index: 0, type: 'invoke', process: 0, f: 'write', value: { key: 'k', value: 1 }, time: 1 },
        { index: 1, type: 'invoke', process: 1, f: 'read', value: { key: 'k', value: null }, time: 2 },
        { index: 2, type: 'ok', process: 1, f: 'read', value: { key: 'k', value: null }, time: 3 },
      ]
        .map((o) => JSON.stringify(o))
        .join('\n'),
    ).ops;
    const closed = closeOpenOps(ops, 99);
    expect(closed).toHaveLength(4);
    expect(closed[3]).toMatchObject({ index: 3, type: 'info', process: 0, f: 'write', time: 99 });
    expect(pairOps(closed).every((p) => p.complete !== undefined)).toBe(true);
  });
});
