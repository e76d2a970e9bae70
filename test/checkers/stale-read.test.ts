import { describe, expect, it } from 'vitest';
import { checkStaleReads } from '../../checkers/stale-read.js';
import { HistoryBuilder } from './history-builder.js';

describe('checkStaleReads', () => {
  it('accepts reads that observe the latest completed write or a concurrent one', () => {
    const h = new HistoryBuilder()
      .write(0, 'k', 1).ok(0, { revision: 2 })
      .read(1, 'k').ok(1, { value: 1, modRevision: 2, revision: 2 })
      .write(0, 'k', 2)
      .read(1, 'k').ok(1, { value: 1, modRevision: 2, revision: 2 })
      .ok(0, { revision: 3 })
      .read(1, 'k').ok(1, { value: 2, modRevision: 3, revision: 3 });
    const r = checkStaleReads(h.ops);
    expect(r.valid).toBe(true);
    expect(r.readsChecked).toBe(3);
  });

  it('flags a read whose version is older than a write that completed before it began', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0, { revision: 2 }).write(0, 'k', 2).ok(0, { revision: 5 });
    const write = h.last;
    h.read(1, 'k').ok(1, { value: 1, modRevision: 2, revision: 5 });
    const read = h.last;
    const r = checkStaleReads(h.ops);
    expect(r.valid).toBe(false);
    expect(r.anomalies).toHaveLength(1);
    const a = r.anomalies[0]!;
    expect(a.type).toBe('stale-read');
    expect(a.key).toBe('k');
    expect(a.ops.map((o) => o.index)).toEqual([read, write]);
    expect(a.explanation).toBe(
      'read of key k returning 1 (op #4, ok) is stale: it observed the version at revision 2, ' +
        'but write of 2 to key k (op #2, ok) had already completed at revision 5 before the read began.',
    );
  });

  it('traces a read without mod_revision to its write through the value', () => {
    const h = new HistoryBuilder()
      .write(0, 'k', 1).ok(0, { revision: 2 })
      .cas(0, 'k', 1, 2).ok(0, { revision: 3 })
      .read(1, 'k').ok(1, { value: 1 });
    const r = checkStaleReads(h.ops);
    expect(r.valid).toBe(false);
    expect(r.anomalies[0]!.type).toBe('stale-read');
  });

  it('flags a read of absence after a completed write', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0, { revision: 2 }).read(1, 'k').ok(1, { value: null, revision: 2 });
    const r = checkStaleReads(h.ops);
    expect(r.valid).toBe(false);
    expect(r.anomalies[0]!.explanation).toContain('it observed no version of the key');
  });

  it('skips reads it cannot place: values only indeterminate writes wrote, without mod_revision', () => {
    const h = new HistoryBuilder()
      .write(0, 'k', 1).info(0)
      .write(1, 'k', 2).ok(1, { revision: 3 })
      .read(2, 'k').ok(2, { value: 1 });
    const r = checkStaleReads(h.ops);
    expect(r.valid).toBe(true);
    expect(r.readsSkipped).toBe(1);
  });

  it('ignores writes on other keys and writes that had not completed', () => {
    const h = new HistoryBuilder()
      .write(0, 'other', 9).ok(0, { revision: 7 })
      .write(1, 'k', 1)
      .read(2, 'k').ok(2, { value: null, revision: 7 })
      .ok(1, { revision: 8 });
    expect(checkStaleReads(h.ops).valid).toBe(true);
  });

  it('flags reads of values nobody wrote, naming a failed write when there is one', () => {
    const h = new HistoryBuilder().read(0, 'k').ok(0, { value: 42 });
    const r = checkStaleReads(h.ops);
    expect(r.anomalies.map((a) => a.type)).toEqual(['read-of-unwritten-value']);
    const failed = new HistoryBuilder().write(0, 'k', 5).fail(0).read(0, 'k').ok(0, { value: 5 });
    const f = checkStaleReads(failed.ops);
    expect(f.valid).toBe(false);
    expect(f.anomalies[0]!.explanation).toMatch(/written only by write of 5 .* which failed/);
    expect(f.anomalies[0]!.ops).toHaveLength(2);
  });

  it('flags a mod_revision that disagrees with the only write of the value', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0, { revision: 2 }).read(1, 'k').ok(1, { value: 1, modRevision: 4, revision: 4 });
    const r = checkStaleReads(h.ops);
    expect(r.anomalies.map((a) => a.type)).toEqual(['mod-revision-mismatch']);
  });

  it('caps anomalies per type but keeps the exact count', () => {
    const h = new HistoryBuilder().write(0, 'k', 1).ok(0, { revision: 2 });
    for (let i = 0; i < 5; i++) h.read(1, 'k').ok(1, { value: null, revision: 2 });
    const r = checkStaleReads(h.ops, { maxPerType: 2 });
    expect(r.anomalies).toHaveLength(2);
    expect(r.counts).toEqual({ 'stale-read': 5 });
  });
});
