import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { putFromWire, rangeFromWire } from '../../../etcd/api/convert.js';
import {
  decodePutRequest,
  decodeRangeRequest,
  encodePutResponse,
  encodeRangeResponse,
  ProtoDecodeError,
} from '../../../etcd/api/kv-codec.js';
import type { WireObject } from '../../../etcd/api/wire.js';
import { loadEtcdDefinitions } from '../../../etcd/proto/load.js';
import type { MethodDefinition } from '@grpc/proto-loader';

// proto-loader, which serves every other message, is the oracle.
type Method = MethodDefinition<WireObject, WireObject>;
const kv = loadEtcdDefinitions()['etcdserverpb.KV'] as unknown as Record<string, Method>;
const Put = kv['Put']!;
const Range = kv['Range']!;

const INT64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
const UINT64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
const SMALL = fc.integer({ min: 0, max: 2 ** 40 }).map(String);
const INT = fc.oneof(INT64, SMALL, fc.constant('0'));
const BYTES = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

/** What a converter makes of a wire object: the value, or the error message. */
function outcome<T>(f: () => T): { ok: T } | { error: string } {
  try {
    return { ok: f() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function varint(v: bigint): number[] {
  let x = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (x >= 128n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}

describe('own PutRequest and RangeRequest decoders', () => {
  it('give the converters what proto-loader gives them, for any request proto-loader encodes', () => {
    const putReq = fc.record({ key: BYTES, value: BYTES, lease: INT, prev_kv: fc.boolean(), ignore_value: fc.boolean(), ignore_lease: fc.boolean() }, { requiredKeys: [] });
    fc.assert(
      fc.property(putReq, (req) => {
        const bytes = Buffer.from(Put.requestSerialize(req as WireObject));
        expect(outcome(() => putFromWire(decodePutRequest(bytes)))).toEqual(outcome(() => putFromWire(Put.requestDeserialize(bytes))));
      }),
      { numRuns: 500 },
    );
    const rangeReq = fc.record(
      {
        key: BYTES,
        range_end: BYTES,
        limit: INT,
        revision: INT,
        sort_order: fc.integer({ min: -2, max: 4 }),
        sort_target: fc.integer({ min: -1, max: 6 }),
        serializable: fc.boolean(),
        keys_only: fc.boolean(),
        count_only: fc.boolean(),
        min_mod_revision: INT,
        max_mod_revision: INT,
        min_create_revision: INT,
        max_create_revision: INT,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(rangeReq, (req) => {
        const bytes = Buffer.from(Range.requestSerialize(req as WireObject));
        expect(outcome(() => rangeFromWire(decodeRangeRequest(bytes)))).toEqual(outcome(() => rangeFromWire(Range.requestDeserialize(bytes))));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps every bit of a 64-bit lease and of negative int64s', () => {
    for (const lease of ['9223372036854775807', '-9223372036854775808', '-1', '9007199254740993']) {
      const bytes = Buffer.from(Put.requestSerialize({ key: Buffer.from('k'), lease }));
      expect(putFromWire(decodePutRequest(bytes)).lease).toBe(BigInt(lease));
    }
  });

  it('skips unknown fields of every wire type, nested groups included, and accepts padded tags and lengths', () => {
    const deep = 20_000;
    const bytes = Buffer.from([
      ...[(1 << 3) | 2, 1, 0x6b], // key "k"
      ...[(9 << 3) | 0, 0x96, 0x01], // unknown varint
      ...[(10 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8], // unknown fixed64
      ...[(11 << 3) | 5, 1, 2, 3, 4], // unknown fixed32
      ...[(12 << 3) | 2, 2, 0xff, 0xff], // unknown bytes
      ...[(13 << 3) | 3, (1 << 3) | 0, 5, (13 << 3) | 4], // unknown group with a field inside
      ...new Array<number>(deep).fill((14 << 3) | 3), // groups nested 20 000 deep...
      ...new Array<number>(deep).fill((14 << 3) | 4), // ...and closed
      ...[0x92, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x76], // value "v": tag and length padded to 9 bytes
    ]);
    const put = putFromWire(decodePutRequest(bytes));
    expect(put.key.toString()).toBe('k');
    expect(put.value.toString()).toBe('v');
  });

  it('fails a known field sent with the wrong wire type with gogo\'s message, as etcd does', () => {
    expect(() => decodePutRequest(Buffer.from([(1 << 3) | 2, 1, 0x61, (2 << 3) | 0, 5]))).toThrow('proto: wrong wireType = 0 for field Value');
    expect(() => decodePutRequest(Buffer.from([(4 << 3) | 2, 1, 1]))).toThrow('proto: wrong wireType = 2 for field PrevKv');
    expect(() => decodeRangeRequest(Buffer.from([(7 << 3) | 5, 1, 0, 0, 0]))).toThrow('proto: wrong wireType = 5 for field Serializable');
    expect(() => decodeRangeRequest(Buffer.from([(2 << 3) | 0, 1]))).toThrow('proto: wrong wireType = 0 for field RangeEnd');
  });

  it('takes the last occurrence of a field and reads bools of any encoding length', () => {
    const bytes = Buffer.from([
      ...[(1 << 3) | 2, 1, 0x61],
      ...[(1 << 3) | 2, 1, 0x62],
      ...[(4 << 3) | 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], // 10-byte zero
      ...[(5 << 3) | 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // 2^63: non-zero
      ...[(3 << 3) | 0, ...varint(5n)],
      ...[(3 << 3) | 0, ...varint(-7n)],
    ]);
    const put = putFromWire(decodePutRequest(bytes));
    expect(put.key.toString()).toBe('b');
    expect(put.prevKv).toBe(false);
    expect(put.ignoreValue).toBe(true);
    expect(put.lease).toBe(-7n);
  });

  it('rejects malformed input with ProtoDecodeError only, never another throw or a hang', () => {
    const bad = [
      [(1 << 3) | 2, 5, 0x61], // length past the end
      [(3 << 3) | 0, 0x80], // truncated varint
      [(3 << 3) | 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // 11-byte varint
      [(3 << 3) | 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02], // 2^64: past 64 bits
      [(9 << 3) | 1, 1, 2], // truncated fixed64
      [(9 << 3) | 6], // wire type 6
      [(9 << 3) | 3, (1 << 3) | 0, 5], // unterminated group
      [(9 << 3) | 3, (8 << 3) | 4], // group ended by another field's end
      [(9 << 3) | 4], // end of a group never opened
      [0 << 3, 1], // field number 0
      new Array<number>(30_000).fill((9 << 3) | 3), // 30 000 groups opened, none closed
    ];
    for (const b of bad) {
      expect(() => decodePutRequest(Buffer.from(b))).toThrow(ProtoDecodeError);
      expect(() => decodeRangeRequest(Buffer.from(b))).toThrow(ProtoDecodeError);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (a) => {
        for (const decode of [decodePutRequest, decodeRangeRequest]) {
          try {
            decode(Buffer.from(a));
          } catch (err) {
            expect(err).toBeInstanceOf(ProtoDecodeError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('own PutResponse and RangeResponse encoders', () => {
  const header = fc.record({ cluster_id: fc.oneof(UINT64, SMALL), member_id: fc.oneof(UINT64, SMALL), revision: INT, raft_term: fc.oneof(UINT64, SMALL) });
  const keyValue = fc.record({ key: BYTES, create_revision: INT, mod_revision: INT, version: INT, value: BYTES, lease: INT });

  it('encode what proto-loader decodes to the same object as its own encoding', () => {
    fc.assert(
      fc.property(header, fc.option(keyValue, { nil: null }), (h, prev) => {
        const res = { header: h, prev_kv: prev };
        const ours = encodePutResponse(res);
        expect(ours).toBeDefined();
        expect(Put.responseDeserialize(ours!)).toEqual(Put.responseDeserialize(Buffer.from(Put.responseSerialize(res))));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(header, fc.array(keyValue, { maxLength: 5 }), fc.boolean(), INT, (h, kvs, more, count) => {
        const res = { header: h, kvs, more, count };
        const ours = encodeRangeResponse(res);
        expect(ours).toBeDefined();
        expect(Range.responseDeserialize(ours!)).toEqual(Range.responseDeserialize(Buffer.from(Range.responseSerialize(res))));
      }),
      { numRuns: 500 },
    );
  });

  it('accept numbers and bigints for int64 fields as well as decimal strings', () => {
    const h = { cluster_id: 2n ** 64n - 1n, member_id: 7, revision: -1, raft_term: 3n };
    const decoded = Put.responseDeserialize(encodePutResponse({ header: h, prev_kv: null })!);
    expect(decoded['header']).toEqual({ cluster_id: '18446744073709551615', member_id: '7', revision: '-1', raft_term: '3' });
  });

  it('leave a response of any other shape to proto-loader', () => {
    const h = { cluster_id: '1', member_id: '2', revision: '3', raft_term: '4' };
    expect(encodePutResponse({ prev_kv: null })).toBeUndefined();
    expect(encodePutResponse({ header: { ...h, revision: 'x' }, prev_kv: null })).toBeUndefined();
    expect(encodePutResponse({ header: { ...h, revision: 1.5 }, prev_kv: null })).toBeUndefined();
    expect(encodePutResponse({ header: { ...h, revision: '99999999999999999999' }, prev_kv: null })).toBeUndefined();
    expect(encodePutResponse({ header: h, prev_kv: { key: 'not bytes' } })).toBeUndefined();
    expect(encodeRangeResponse({ header: h, kvs: 'no', more: false, count: '0' })).toBeUndefined();
    expect(encodeRangeResponse({ header: h, kvs: [], more: 'yes', count: '0' })).toBeUndefined();
    expect(encodeRangeResponse({ header: h, kvs: [], more: false })).toBeUndefined();
    // A field the encoders do not know must not vanish from the wire.
    expect(encodePutResponse({ header: h, prev_kv: null, extra: 1 })).toBeUndefined();
    expect(encodeRangeResponse({ header: h, kvs: [], more: false, count: '0', extra: 1 })).toBeUndefined();
    expect(encodePutResponse({ header: { ...h, revision: 2n ** 64n }, prev_kv: null })).toBeUndefined();
  });
});
