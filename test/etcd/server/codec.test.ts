import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../../etcd/server/binary.js';
import { decodeRecord, encodeRecord, type InternalRequest, type LogRecord } from '../../../etcd/server/codec.js';
import { decodeMetadata, encodeMetadata } from '../../../etcd/server/metadata.js';
import type { RequestOp } from '../../../etcd/types.js';
import { cmp, delReq, putReq, rangeReq } from './helpers.js';

const bytes = fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a));
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const i64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const rev = fc.integer({ min: -5, max: 2 ** 40 });

const opArb: fc.Arbitrary<RequestOp> = fc.oneof(
  fc.record({ key: bytes, value: bytes, lease: i64, prevKv: fc.boolean() }).map((p) => ({ type: 'put' as const, put: { ...putReq('', ''), ...p } })),
  fc.record({ key: bytes, rangeEnd: bytes, prevKv: fc.boolean() }).map((d) => ({ type: 'deleteRange' as const, deleteRange: d })),
  fc.record({ key: bytes, rangeEnd: bytes, limit: rev, revision: rev, sortOrder: fc.constantFrom('NONE' as const, 'ASCEND' as const, 'DESCEND' as const), countOnly: fc.boolean() }).map((r) => ({
    type: 'range' as const,
    range: { ...rangeReq(''), ...r },
  })),
);

const requestArb: fc.Arbitrary<InternalRequest> = fc.oneof(
  fc.constant({ op: 'noop' as const }),
  opArb.filter((o) => o.type === 'put').map((o) => ({ op: 'put' as const, put: (o as Extract<RequestOp, { type: 'put' }>).put })),
  fc.record({ compare: fc.array(fc.record({ key: bytes, modRevision: rev, value: bytes, lease: i64 }).map((c) => cmp('', { ...c, target: 'MOD', result: 'LESS' })), { maxLength: 3 }), success: fc.array(opArb, { maxLength: 3 }), failure: fc.array(opArb, { maxLength: 3 }) }).map(
    (txn) => ({ op: 'txn' as const, txn: { ...txn, success: [...txn.success, { type: 'txn' as const, txn: { compare: [], success: txn.failure, failure: [] } }] } }),
  ),
  fc.record({ revision: rev, physical: fc.boolean() }).map((compact) => ({ op: 'compact' as const, compact })),
  fc.record({ id: i64, ttl: fc.nat() }).map((r) => ({ op: 'leaseGrant' as const, ...r })),
  fc.record({ action: fc.constantFrom('ACTIVATE' as const, 'DEACTIVATE' as const), memberId: u64, alarm: fc.constantFrom('NONE' as const, 'NOSPACE' as const, 'CORRUPT' as const) }).map((r) => ({ op: 'alarm' as const, ...r })),
  fc.record({ id: u64, name: fc.string(), peerURLs: fc.array(fc.webUrl(), { maxLength: 2 }), clientURLs: fc.array(fc.webUrl(), { maxLength: 2 }), isLearner: fc.boolean() }).map((member) => ({ op: 'memberAdd' as const, member })),
  fc.record({ id: u64, name: fc.string(), clientURLs: fc.array(fc.string(), { maxLength: 2 }) }).map((r) => ({ op: 'memberAttributes' as const, ...r })),
);

describe('log record codec', () => {
  it('round-trips every request deterministically', () => {
    fc.assert(
      fc.property(u64, requestArb, (requestId, request) => {
        const rec: LogRecord = { requestId, request };
        const enc = encodeRecord(rec);
        expect(decodeRecord(enc)).toEqual(rec);
        expect(encodeRecord(decodeRecord(enc))).toEqual(enc);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects other format versions, truncation and trailing bytes', () => {
    const enc = encodeRecord({ requestId: 5n, request: { op: 'deleteRange', deleteRange: delReq('k') } });
    expect(() => decodeRecord(Buffer.concat([Buffer.from([2]), enc.subarray(1)]))).toThrow(DecodeError);
    expect(() => decodeRecord(enc.subarray(0, enc.length - 1))).toThrow(DecodeError);
    expect(() => decodeRecord(Buffer.concat([enc, Buffer.from([0])]))).toThrow(DecodeError);
    expect(() => decodeRecord(Buffer.concat([enc.subarray(0, 9), Buffer.from([200])]))).toThrow(DecodeError);
  });

  it('round-trips WAL metadata', () => {
    const m = { memberId: 0x8e9e05c52164694dn, clusterId: 0xcdf818194e3a8c32n };
    expect(decodeMetadata(encodeMetadata(m))).toEqual(m);
  });
});
