import { describe, expect, it } from 'vitest';
import { EtcdError } from '../../../etcd/errors.js';
import { rangeFromWire, txnFromWire } from '../../../etcd/api/convert.js';
import { splitJsonValues } from '../../../etcd/api/gateway.js';
import { decodeJsonRequest, encodeJsonResponse } from '../../../etcd/api/json.js';

describe('gateway JSON', () => {
  it('decodes base64 bytes, string int64 and lowerCamel names like grpc-gateway', () => {
    const w = decodeJsonRequest('etcdserverpb.RangeRequest', { key: 'Zm9v', rangeEnd: 'Zm9w', limit: '5', sort_order: 'DESCEND' });
    const r = rangeFromWire(w);
    expect(r.key.toString()).toBe('foo');
    expect(r.rangeEnd.toString()).toBe('fop');
    expect(r.limit).toBe(5);
    expect(r.sortOrder).toBe('DESCEND');
    expect(r.serializable).toBe(false);
  });

  it('decodes a txn with a compare oneof and nested request ops', () => {
    const w = decodeJsonRequest('etcdserverpb.TxnRequest', {
      compare: [{ target: 'CREATE', key: 'Zm9v', createRevision: '2' }],
      success: [{ requestPut: { key: 'Zm9v', value: 'YmFy' } }],
      failure: [{ request_range: { key: 'Zm9v' } }],
    });
    const t = txnFromWire(w);
    expect(t.compare[0]!.target).toBe('CREATE');
    expect(t.compare[0]!.createRevision).toBe(2);
    expect(t.success[0]!.type).toBe('put');
    expect(t.failure[0]!.type).toBe('range');
  });

  it('rejects unknown fields and non-object bodies with InvalidArgument', () => {
    expect(() => decodeJsonRequest('etcdserverpb.PutRequest', { nope: 1 })).toThrow(EtcdError);
    expect(() => decodeJsonRequest('etcdserverpb.PutRequest', [1, 2])).toThrow(/JSON object/);
  });

  it('encodes responses with proto names, string int64 and omitted defaults', () => {
    const out = encodeJsonResponse('etcdserverpb.RangeResponse', {
      header: { cluster_id: '1', member_id: '2', revision: '3', raft_term: '4' },
      kvs: [{ key: Buffer.from('foo'), create_revision: '2', mod_revision: '2', version: '1', value: Buffer.from('bar'), lease: '0' }],
      more: false,
      count: '1',
    });
    expect(out).toEqual({
      header: { cluster_id: '1', member_id: '2', revision: '3', raft_term: '4' },
      kvs: [{ key: 'Zm9v', create_revision: '2', mod_revision: '2', version: '1', value: 'YmFy' }],
      count: '1',
    });
  });

  it('splits a stream body into JSON values, keeping an incomplete tail', () => {
    const { values, rest } = splitJsonValues('{"a":"}{"}\n{"b":{"c":1}}{"d":');
    expect(values).toEqual([{ a: '}{' }, { b: { c: 1 } }]);
    expect(rest).toBe('{"d":');
  });
});
