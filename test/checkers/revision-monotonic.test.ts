import { describe, expect, it } from 'vitest';
import type { Op } from '../../harness/history.js';
import { checkRevisions } from '../../checkers/revision-monotonic.js';
import { HistoryBuilder } from './history-builder.js';

const types = (h: HistoryBuilder): string[] => checkRevisions(h.ops).anomalies.map((a) => a.type);

describe('checkRevisions', () => {
  it('accepts revisions that grow with real time, with reads and failures repeating the store revision', () => {
    const h = new HistoryBuilder()
      .write(0, 'a', 1).ok(0, { revision: 2 })
      .read(1, 'a').ok(1, { value: 1, modRevision: 2, revision: 2 })
      .cas(1, 'a', 7, 8).fail(1, 2)
      .write(0, 'b', 1)
      .write(1, 'a', 2)
      .ok(1, { revision: 4 })
      .ok(0, { revision: 3 })
      .read(2, 'b').ok(2, { value: 1, modRevision: 3, revision: 4 });
    const r = checkRevisions(h.ops);
    expect(r.valid).toBe(true);
    expect(r.revisionsChecked).toBe(6);
  });

  it('flags a process whose revision goes down', () => {
    const h = new HistoryBuilder().read(0, 'a').ok(0, { value: null, revision: 5 }).read(0, 'a').ok(0, { value: null, revision: 4 });
    const r = checkRevisions(h.ops);
    expect(r.anomalies.map((a) => a.type)).toEqual(['revision-decreased-in-process', 'revision-went-back-in-time']);
    expect(r.anomalies[0]!.ops.map((o) => o.index)).toEqual([1, 3]);
  });

  it('flags a response older than one another process got before the op began', () => {
    const h = new HistoryBuilder().read(0, 'a').ok(0, { value: null, revision: 5 }).read(1, 'a').ok(1, { value: null, revision: 4 });
    expect(types(h)).toEqual(['revision-went-back-in-time']);
  });

  it('accepts an older revision from an op that overlapped the newer one', () => {
    const h = new HistoryBuilder().read(1, 'a').read(0, 'a').ok(0, { value: null, revision: 5 }).ok(1, { value: null, revision: 4 });
    expect(types(h)).toEqual([]);
  });

  it('requires a write to create a revision newer than any seen before it began', () => {
    const h = new HistoryBuilder().read(0, 'a').ok(0, { value: null, revision: 5 }).write(1, 'a', 1).ok(1, { revision: 5 });
    const r = checkRevisions(h.ops);
    expect(r.anomalies.map((a) => a.type)).toEqual(['revision-went-back-in-time']);
    expect(r.anomalies[0]!.explanation).toContain('created revision 5, which is not newer than revision 5');
  });

  it('flags two acknowledged writes with the same revision, even on different keys', () => {
    const h = new HistoryBuilder().write(0, 'a', 1).write(1, 'b', 1).ok(0, { revision: 3 }).ok(1, { revision: 3 });
    expect(types(h)).toEqual(['duplicate-write-revision']);
  });

  it('flags a read whose kv was modified after the revision it observed', () => {
    const h = new HistoryBuilder().read(0, 'a').ok(0, { value: 1, modRevision: 9, revision: 4 });
    expect(types(h)).toEqual(['mod-revision-after-header-revision']);
  });

  it('treats a worker that continues under a new process id as a new process, and ignores the nemesis', () => {
    const h = new HistoryBuilder().read(1, 'a').read(0, 'a').ok(0, { value: null, revision: 6 }).info(1).read(3, 'a').ok(3, { value: null, revision: 6 });
    const nemesis: Op[] = [
      { index: h.ops.length, type: 'invoke', process: 'nemesis', f: 'kill', value: null, time: 0 },
      { index: h.ops.length + 1, type: 'info', process: 'nemesis', f: 'kill', value: null, time: 0, revision: 1 },
    ];
    expect(checkRevisions([...h.ops, ...nemesis]).valid).toBe(true);
  });
});
