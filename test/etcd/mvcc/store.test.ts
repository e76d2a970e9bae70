import { describe, expect, it } from 'vitest';
import { MvccStore } from '../../../etcd/mvcc/store.js';
import { FIRST_SLAB_BYTES } from '../../../etcd/mvcc/slab.js';
import { applyDeleteRange, applyPut, applyTxn } from '../../../etcd/mvcc/txn.js';
import type { EventHistory } from '../../../etcd/mvcc/watch.js';
import { prefixEnd } from '../../../etcd/types.js';
import { b, delReq, errorOf, op, putReq, rangeReq, show, txnReq } from './helpers.js';

const NO_LEASES = { exists: () => false };
const put = (s: MvccStore, k: string, v: string) => applyPut(s, putReq(k, v), NO_LEASES);
const del = (s: MvccStore, k: string, end = '') => applyDeleteRange(s, delReq(k, end));
const get = (s: MvccStore, k: string, end = '', extra = {}) => s.range(rangeReq(k, end, extra));
const keys = (s: MvccStore, k: string, end = '', extra = {}) => get(s, k, end, extra).kvs.map((kv) => kv.key.toString('latin1'));

describe('revisions', () => {
  it('numbers writes like etcd', () => {
    const s = new MvccStore();
    expect(s.currentRevision).toBe(1);
    expect(s.compactRevision).toBe(0);
    expect(put(s, 'foo', 'bar').revision).toBe(2);
    const second = put(s, 'foo', 'baz');
    expect(second.revision).toBe(3);
    expect(get(s, 'foo').kvs.map(show)).toEqual(['foo=baz@c2m3v2']);

    const noop = del(s, 'missing');
    expect(noop.revision).toBe(3);
    expect(noop.response).toEqual({ revision: 3, deleted: 0, prevKvs: [] });
    expect(noop.events).toEqual([]);
    expect(s.currentRevision).toBe(3);

    const t = applyTxn(s, txnReq({ success: [op.put('a', '1'), op.put('b', '2')] }), NO_LEASES, { maxTxnOps: 128 });
    expect(t.revision).toBe(4);
    expect(t.response.revision).toBe(4);
    expect(t.events.map((e) => [e.type, show(e.kv)])).toEqual([
      ['PUT', 'a=1@c4m4v1'],
      ['PUT', 'b=2@c4m4v1'],
    ]);

    expect(del(s, 'foo').revision).toBe(5);
    expect(get(s, 'foo').kvs).toEqual([]);
    expect(put(s, 'foo', 'again').revision).toBe(6);
    expect(get(s, 'foo').kvs.map(show)).toEqual(['foo=again@c6m6v1']);
  });

  it('serves older revisions and tombstones', () => {
    const s = new MvccStore();
    put(s, 'k', 'v1'); // 2
    put(s, 'k', 'v2'); // 3
    del(s, 'k'); // 4
    put(s, 'k', 'v3'); // 5
    expect(get(s, 'k', '', { revision: 1 }).kvs).toEqual([]);
    expect(get(s, 'k', '', { revision: 2 }).kvs.map(show)).toEqual(['k=v1@c2m2v1']);
    expect(get(s, 'k', '', { revision: 3 }).kvs.map(show)).toEqual(['k=v2@c2m3v2']);
    expect(get(s, 'k', '', { revision: 4 }).kvs).toEqual([]);
    expect(get(s, 'k', '', { revision: 5 }).kvs.map(show)).toEqual(['k=v3@c5m5v1']);
    expect(get(s, 'k', '', { revision: 3 }).revision).toBe(5);
    expect(errorOf(() => get(s, 'k', '', { revision: 6 }))).toBe('etcdserver: mvcc: required revision is a future revision');
    expect(errorOf(() => get(s, '', ''))).toBe('etcdserver: key is not provided');
  });

  it('copies caller buffers and hands out frozen KeyValues', () => {
    const s = new MvccStore();
    const key = b('key');
    const value = b('value');
    applyPut(s, { key, value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }, NO_LEASES);
    key[0] = 0x7a;
    value[0] = 0x7a;
    const kv = get(s, 'key').kvs[0]!;
    expect(show(kv)).toBe('key=value@c2m2v1');
    expect(() => {
      (kv as { version: number }).version = 9;
    }).toThrow(TypeError);
  });
});

describe('range', () => {
  const store = () => {
    const s = new MvccStore();
    for (const k of ['a', 'ab', 'abc', 'b', 'c']) put(s, k, `v-${k}`); // revisions 2..6
    put(s, 'b', 'v-b2'); // 7: b at version 2
    put(s, 'a', 'zz'); // 8: a at version 2
    return s;
  };

  it('selects single keys, prefixes, [key, end), key and above, everything', () => {
    const s = store();
    expect(keys(s, 'ab')).toEqual(['ab']);
    expect(keys(s, 'a', prefixEnd(b('a')).toString('latin1'))).toEqual(['a', 'ab', 'abc']);
    expect(keys(s, 'ab', 'b')).toEqual(['ab', 'abc']);
    expect(keys(s, 'abc', '\0')).toEqual(['abc', 'b', 'c']);
    expect(keys(s, '\0', '\0')).toEqual(['a', 'ab', 'abc', 'b', 'c']);
    expect(keys(s, 'c', 'a')).toEqual([]);
  });

  it('reports count over the whole range and more when limit cut it', () => {
    const s = store();
    const r = get(s, '\0', '\0', { limit: 2 });
    expect(r.kvs.map((kv) => kv.key.toString())).toEqual(['a', 'ab']);
    expect(r.count).toBe(5);
    expect(r.more).toBe(true);
    const exact = get(s, '\0', '\0', { limit: 5 });
    expect([exact.kvs.length, exact.count, exact.more]).toEqual([5, 5, false]);
    const co = get(s, '\0', '\0', { countOnly: true, limit: 1 });
    expect([co.kvs.length, co.count, co.more]).toEqual([0, 5, false]);
    const ko = get(s, 'a', '', { keysOnly: true });
    expect(ko.kvs[0]!.value.length).toBe(0);
    expect(ko.kvs[0]!.version).toBe(2);
    expect(get(s, 'a').kvs[0]!.value.toString()).toBe('zz');
  });

  it('applies revision filters after fetching, leaving count alone', () => {
    const s = store();
    const r = get(s, '\0', '\0', { minModRevision: 7, limit: 1 });
    expect(r.kvs.map(show)).toEqual(['a=zz@c2m8v2']);
    expect(r.count).toBe(5);
    expect(r.more).toBe(true);
    const created = get(s, '\0', '\0', { maxCreateRevision: 3 });
    expect(created.kvs.map((kv) => kv.key.toString())).toEqual(['a', 'ab']);
    expect(created.more).toBe(false);
  });

  it('sorts like etcd, including NONE with a non-KEY target', () => {
    const s = store();
    expect(keys(s, '\0', '\0', { sortOrder: 'DESCEND', sortTarget: 'KEY' })).toEqual(['c', 'b', 'abc', 'ab', 'a']);
    expect(keys(s, '\0', '\0', { sortOrder: 'ASCEND', sortTarget: 'MOD' })).toEqual(['ab', 'abc', 'c', 'b', 'a']);
    // Ties keep key order in either direction.
    expect(keys(s, '\0', '\0', { sortOrder: 'DESCEND', sortTarget: 'VERSION' })).toEqual(['a', 'b', 'ab', 'abc', 'c']);
    expect(keys(s, '\0', '\0', { sortOrder: 'DESCEND', sortTarget: 'VALUE' })).toEqual(['a', 'c', 'b', 'abc', 'ab']);
    expect(keys(s, '\0', '\0', { sortOrder: 'DESCEND', sortTarget: 'CREATE' })).toEqual(['c', 'b', 'abc', 'ab', 'a']);
    // NONE + VERSION means ASCEND by version...
    expect(keys(s, '\0', '\0', { sortOrder: 'NONE', sortTarget: 'VERSION' })).toEqual(['ab', 'abc', 'c', 'a', 'b']);
    expect(keys(s, '\0', '\0', { sortOrder: 'DESCEND', sortTarget: 'VERSION', limit: 1 })).toEqual(['a']);
  });

  it('sorts only the limit + 1 keys fetched in key order when sort_order is NONE', () => {
    const s = new MvccStore();
    for (const k of ['x1', 'x2', 'x3', 'x1', 'x2']) put(s, k, 'v');
    // Versions: x1 2, x2 2, x3 1.
    expect(keys(s, 'x', 'y', { sortOrder: 'NONE', sortTarget: 'VERSION', limit: 1 })).toEqual(['x1']);
    expect(keys(s, 'x', 'y', { sortOrder: 'ASCEND', sortTarget: 'VERSION', limit: 1 })).toEqual(['x3']);
    expect(keys(s, 'x', 'y', { sortOrder: 'NONE', sortTarget: 'VERSION', limit: 2 })).toEqual(['x3', 'x1']);
    const r = get(s, 'x', 'y', { sortOrder: 'NONE', sortTarget: 'MOD', limit: 1 });
    expect([r.kvs.map(show), r.count, r.more]).toEqual([['x1=v@c2m5v2'], 3, true]);
  });
});

describe('write txns', () => {
  it('lets later ops see earlier writes and reports etcd revisions', () => {
    const s = new MvccStore();
    put(s, 'x', '1'); // 2
    const txn = s.beginWrite();
    expect(txn.range(rangeReq('x')).revision).toBe(2);
    expect(txn.deleteRange(b('missing'), b('')).revision).toBe(2);
    expect(txn.put(b('x'), b('2'))).toBe(3);
    expect(txn.range(rangeReq('x')).kvs.map(show)).toEqual(['x=2@c2m3v2']);
    expect(txn.range(rangeReq('x')).revision).toBe(3);
    expect(txn.range(rangeReq('x', '', { revision: 2 })).kvs.map(show)).toEqual(['x=1@c2m2v1']);
    expect(txn.deleteRange(b('missing'), b('')).revision).toBe(3);
    // Outside readers still see the committed state.
    expect(get(s, 'x').kvs.map(show)).toEqual(['x=1@c2m2v1']);
    const { revision, events } = txn.end();
    expect(revision).toBe(3);
    expect(events.map((e) => show(e.kv))).toEqual(['x=2@c2m3v2']);
    expect(() => txn.put(b('y'), b('1'))).toThrow(/already ended/);
  });

  it('abort undoes everything, including keys it created', () => {
    const s = new MvccStore();
    put(s, 'a', '1');
    put(s, 'b', '1');
    const before = s.serialize();
    const [hash, size, live, count] = [s.hash(), s.sizeBytes(), s.liveSizeBytes(), s.keyCount];
    const txn = s.beginWrite();
    txn.put(b('a'), b('2'));
    txn.put(b('new'), b('x'));
    txn.deleteRange(b('b'), b(''));
    txn.put(b('b'), b('back'));
    expect(() => s.beginWrite()).toThrow(/already open/);
    txn.abort();
    expect(s.serialize().equals(before)).toBe(true);
    expect([s.hash(), s.sizeBytes(), s.liveSizeBytes(), s.keyCount]).toEqual([hash, size, live, count]);
    expect(get(s, 'new').kvs).toEqual([]);
    expect(s.currentRevision).toBe(3);

    expect(() =>
      s.write((t) => {
        t.put(b('c'), b('1'));
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(s.serialize().equals(before)).toBe(true);
    expect(s.write((t) => t.put(b('c'), b('1'))).revision).toBe(4);
  });

  it('emits events with prevKv and bare DELETE kvs', () => {
    const s = new MvccStore();
    const created = put(s, 'k', 'v1').events;
    expect(created).toHaveLength(1);
    expect(created[0]!.prevKv).toBeUndefined();
    const updated = put(s, 'k', 'v2').events[0]!;
    expect(show(updated.prevKv!)).toBe('k=v1@c2m2v1');
    const deleted = del(s, 'k').events[0]!;
    expect(deleted.type).toBe('DELETE');
    expect(deleted.kv).toEqual({ key: b('k'), createRevision: 0, modRevision: 4, version: 0, value: b(''), lease: 0n });
    expect(show(deleted.prevKv!)).toBe('k=v2@c2m3v2');
  });
});

describe('compaction', () => {
  function history(): MvccStore {
    const s = new MvccStore();
    put(s, 'a', '1'); // 2
    put(s, 'a', '2'); // 3
    put(s, 'gone', 'x'); // 4
    del(s, 'gone'); // 5
    put(s, 'b', '1'); // 6
    put(s, 'a', '3'); // 7
    return s;
  }

  it('follows etcd rules for the compaction revision', () => {
    const s = history();
    expect(errorOf(() => s.compact(8))).toBe('etcdserver: mvcc: required revision is a future revision');
    s.compact(5);
    expect(s.compactRevision).toBe(5);
    expect(errorOf(() => s.compact(5))).toBe('etcdserver: mvcc: required revision has been compacted');
    expect(errorOf(() => s.compact(4))).toBe('etcdserver: mvcc: required revision has been compacted');
    expect(errorOf(() => get(s, 'a', '', { revision: 4 }))).toBe('etcdserver: mvcc: required revision has been compacted');
    expect(get(s, 'a', '', { revision: 5 }).kvs.map(show)).toEqual(['a=2@c2m3v2']);
    expect(get(s, 'a', '', { revision: 7 }).kvs.map(show)).toEqual(['a=3@c2m7v3']);
    expect(s.compactMainRevision).toBe(5);
  });

  it('accepts compact(0) on a never-compacted store, as etcd does', () => {
    const s = new MvccStore();
    expect(s.compactMainRevision).toBe(-1);
    expect(s.hashKV(0).compactRevision).toBe(-1);
    s.compact(0);
    expect(s.compactMainRevision).toBe(0);
    expect(errorOf(() => s.compact(0))).toBe('etcdserver: mvcc: required revision has been compacted');
  });

  it('drops history but keeps the newest revision at or below the compaction point', () => {
    const s = history();
    const full = s.sizeBytes();
    s.compact(5);
    expect(s.sizeBytes()).toBeLessThan(full);
    // 'a'@3 is kept (newest at or below 5), 'gone' disappears with its tombstone.
    const events = s.eventsFrom(5);
    expect(events.map((e) => `${e.type} ${show(e.kv)}`)).toEqual(['PUT b=1@c6m6v1', 'PUT a=3@c2m7v3']);
    expect(show(events[1]!.prevKv!)).toBe('a=2@c2m3v2');
    expect(errorOf(() => s.eventsFrom(4))).toBe('etcdserver: mvcc: required revision has been compacted');
    s.compact(7);
    expect(s.sizeBytes()).toBe(s.liveSizeBytes());
    // Replay from the compaction point yields what survived at it, without prevKv.
    expect(s.eventsFrom(7).map((e) => [show(e.kv), e.prevKv])).toEqual([['a=3@c2m7v3', undefined]]);
  });

  it('gives the same content whether compaction runs before or after later writes', () => {
    const early = history();
    early.compact(5);
    put(early, 'c', '1');
    del(early, 'b');
    const late = history();
    put(late, 'c', '1');
    del(late, 'b');
    late.compact(5);
    expect(late.hash()).toBe(early.hash());
    expect(late.serialize().equals(early.serialize())).toBe(true);
    for (const rev of [0, 6, 7, 8, 9]) expect(late.hashKV(rev)).toEqual(early.hashKV(rev));
  });
});

describe('eventsFrom', () => {
  it('is what the watch hub reads history from', () => {
    const history: EventHistory = new MvccStore();
    expect(history.eventsFrom(1, 10)).toEqual([]);
  });

  it('pages without splitting a revision', () => {
    const s = new MvccStore();
    put(s, 'a', '1'); // 2
    applyTxn(s, txnReq({ success: [op.put('b', '1'), op.put('c', '1'), op.put('d', '1')] }), NO_LEASES, { maxTxnOps: 128 }); // 3
    put(s, 'e', '1'); // 4
    const first = s.eventBatch(0, 2);
    expect(first.events.map((e) => e.kv.modRevision)).toEqual([2]);
    expect(first.nextRevision).toBe(3);
    const second = s.eventBatch(3, 2);
    expect(second.events.map((e) => e.kv.modRevision)).toEqual([3, 3, 3]);
    expect(second.nextRevision).toBe(4);
    const third = s.eventBatch(4, 2);
    expect(third.events.map((e) => show(e.kv))).toEqual(['e=1@c4m4v1']);
    expect(third.nextRevision).toBe(5);
    expect(s.eventBatch(5)).toEqual({ events: [], nextRevision: 5 });
    expect(s.eventBatch(9)).toEqual({ events: [], nextRevision: 9 });
    expect(s.eventsFrom(3, 1).map((e) => e.kv.key.toString())).toEqual(['b', 'c', 'd']);
  });
});

describe('memory', () => {
  it("keeps keys and values in the store's own slabs, not in Node's buffer pool or the request buffer", () => {
    const s = new MvccStore();
    const request = Buffer.from('key-one:value-one');
    s.write((t) => t.put(request.subarray(0, 7), request.subarray(8)));
    const restored = MvccStore.deserialize(s.serialize());
    request.fill(0);
    for (const store of [s, restored]) {
      const kv = store.range(rangeReq('key-one')).kvs[0]!;
      expect(kv.key.toString()).toBe('key-one');
      expect(kv.value.toString()).toBe('value-one');
      // Node's pool is 8 KiB and shared with short-lived buffers; a slab is the store's alone.
      expect([kv.key.buffer.byteLength, kv.value.buffer.byteLength]).toEqual([FIRST_SLAB_BYTES, FIRST_SLAB_BYTES]);
      expect(kv.value.buffer).not.toBe(request.buffer);
    }
  });
});

describe('scale', () => {
  it('handles 100k keys with ordered scans and compaction', () => {
    const s = new MvccStore();
    const n = 100_000;
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      // Scrambled insertion order exercises splits everywhere in the index.
      const k = ((i * 7919) % n).toString().padStart(6, '0');
      s.write((t) => t.put(b(`key/${k}`), b('v')));
    }
    for (let i = 0; i < n; i += 2) s.write((t) => t.put(b(`key/${i.toString().padStart(6, '0')}`), b('w')));
    expect(s.currentRevision).toBe(1 + n + n / 2);
    expect(s.keyCount).toBe(n);
    const r = s.range(rangeReq('key/050000', 'key/050010'));
    expect(r.kvs.map((kv) => kv.value.toString())).toEqual(['w', 'v', 'w', 'v', 'w', 'v', 'w', 'v', 'w', 'v']);
    expect(s.range(rangeReq('key/', prefixEnd(b('key/')).toString('latin1'), { countOnly: true })).count).toBe(n);
    s.compact(s.currentRevision);
    expect(s.sizeBytes()).toBe(s.liveSizeBytes());
    const last = s.range(rangeReq('key/099999')).kvs[0]!;
    expect([last.version, last.createRevision === last.modRevision, last.value.toString()]).toEqual([1, true, 'v']);
    expect(performance.now() - started).toBeLessThan(20_000);
  });
});
