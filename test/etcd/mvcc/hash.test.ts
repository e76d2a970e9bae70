// CRC-32C vectors and HashKV checked against an independent computation: the
// mvccpb.KeyValue encoding done by protobufjs from etcd's own kv.proto, and a
// bit-at-a-time CRC.

import { createRequire } from 'node:module';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { EtcdError } from '../../../etcd/errors.js';
import { Crc32c, crc32c } from '../../../etcd/util/crc32c.js';
import { MvccStore } from '../../../etcd/mvcc/store.js';
import { applyDeleteRange, applyPut, applyTxn } from '../../../etcd/mvcc/txn.js';
import { delReq, op, putReq, txnReq } from './helpers.js';

const require = createRequire(import.meta.url);
const root = protobuf.loadSync(require.resolve('etcd3/proto/kv.proto'));
const KeyValueMsg = root.lookupType('mvccpb.KeyValue');

function bitwiseCrc32c(chunks: Buffer[]): number {
  let c = 0xffffffff;
  for (const buf of chunks) {
    for (const byte of buf) {
      c ^= byte;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('matches the standard check values', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    const data = Buffer.from('The quick brown fox jumps over the lazy dog');
    expect(new Crc32c().update(data, 0, 10).update(data, 10).digest()).toBe(crc32c(data));
    expect(crc32c(data)).toBe(bitwiseCrc32c([data]));
  });
});

interface Rev {
  main: number;
  sub: number;
  tombstone: boolean;
  key: string;
  value: string;
  create: number;
  version: number;
  lease: bigint;
}

/** etcd's backend content for a history, recomputed from scratch: what its HashKV iterates. */
function expectedHashKV(history: Rev[], compactRev: number, rev: number): number {
  const keys = new Set(history.map((r) => r.key));
  const newestAtOrBelow = (key: string, at: number) => history.filter((r) => r.key === key && r.main <= at).pop();
  // What compaction at compactRev left in the backend.
  const retained = history.filter((r) => {
    if (r.main > compactRev) return true;
    return newestAtOrBelow(r.key, compactRev) === r && !r.tombstone;
  });
  const keep = new Set<Rev>();
  for (const k of keys) {
    const n = newestAtOrBelow(k, rev);
    if (n && !n.tombstone) keep.add(n);
  }
  const chunks: Buffer[] = [Buffer.from('key')];
  for (const r of retained) {
    if (r.main > rev) continue;
    if (r.main <= compactRev && keep.size > 0 && !keep.has(r)) continue;
    const k = Buffer.alloc(r.tombstone ? 18 : 17);
    k.writeBigUInt64BE(BigInt(r.main), 0);
    k[8] = 0x5f;
    k.writeBigUInt64BE(BigInt(r.sub), 9);
    if (r.tombstone) k[17] = 0x74;
    chunks.push(k);
    const full = { key: Buffer.from(r.key), createRevision: r.create, modRevision: r.main, version: r.version, value: Buffer.from(r.value), lease: r.lease.toString() };
    // Go's proto3 marshalling leaves zero-valued fields out; protobufjs writes whatever is set.
    const msg = Object.fromEntries(
      Object.entries(r.tombstone ? { key: full.key } : full).filter(([, v]) => !(v === 0 || v === '0' || (Buffer.isBuffer(v) && v.length === 0))),
    );
    chunks.push(Buffer.from(KeyValueMsg.encode(KeyValueMsg.fromObject(msg)).finish()));
  }
  return bitwiseCrc32c(chunks);
}

describe('hashKV', () => {
  const leases = { exists: () => true };

  function build(): { store: MvccStore; history: Rev[] } {
    const store = new MvccStore();
    const history: Rev[] = [];
    const record = (events: ReturnType<typeof applyPut>['events']) =>
      events.forEach((e, sub) =>
        history.push({
          main: e.kv.modRevision,
          sub,
          tombstone: e.type === 'DELETE',
          key: e.kv.key.toString(),
          value: e.kv.value.toString(),
          create: e.kv.createRevision,
          version: e.kv.version,
          lease: e.kv.lease,
        }),
      );
    record(applyPut(store, putReq('a', '1'), leases).events); // 2
    record(applyPut(store, putReq('b', 'x'.repeat(300), { lease: 0x1234_5678_9abcn }), leases).events); // 3
    record(applyTxn(store, txnReq({ success: [op.put('a', '2'), op.put('c', ''), op.del('b')] }), leases, { maxTxnOps: 128 }).events); // 4
    record(applyPut(store, putReq('d', 'neg', { lease: -2n }), leases).events); // 5
    record(applyDeleteRange(store, delReq('a', '\0')).events); // 6: deletes everything
    record(applyPut(store, putReq('e', '1'), leases).events); // 7
    return { store, history };
  }

  it('matches an independent computation before and after compactions', () => {
    const { store, history } = build();
    for (let rev = 1; rev <= 7; rev++) expect(store.hashKV(rev).hash, `rev ${rev}`).toBe(expectedHashKV(history, -1, rev));
    expect(store.hashKV(0)).toEqual({ hash: expectedHashKV(history, -1, 7), compactRevision: -1, hashRevision: 7 });
    for (const c of [3, 4, 6]) {
      store.compact(c);
      for (let rev = c + 1; rev <= 7; rev++) expect(store.hashKV(rev).hash, `compact ${c} rev ${rev}`).toBe(expectedHashKV(history, c, rev));
      expect(store.hashKV(0).compactRevision).toBe(c);
      expect(() => store.hashKV(c)).toThrow(EtcdError);
    }
    expect(() => store.hashKV(8)).toThrow('future revision');
  });

  it('covers the compacted revisions etcd keeps even when no key is live (etcd keeps them all then)', () => {
    const { store, history } = build();
    store.compact(5);
    // At revision 6 every key is deleted, so etcd's keep set is empty and old revisions count.
    expect(store.hashKV(6).hash).toBe(expectedHashKV(history, 5, 6));
  });

  it('changes with content and agrees between replicas', () => {
    const one = build().store;
    const two = build().store;
    expect(one.hashKV(0)).toEqual(two.hashKV(0));
    expect(one.hash()).toBe(two.hash());
    applyPut(two, putReq('e', '2'), leases);
    expect(two.hashKV(7)).toEqual(one.hashKV(7));
    expect(two.hashKV(8).hash).not.toBe(one.hashKV(7).hash);
    expect(two.hash()).not.toBe(one.hash());
  });
});
