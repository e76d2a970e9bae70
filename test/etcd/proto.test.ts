import { describe, expect, it } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import { loadEtcdProtos } from '../../etcd/proto/load.js';

describe('etcd protos', () => {
  it('define every etcd v3 service with its methods', () => {
    const root = loadEtcdProtos();
    const pb = root['etcdserverpb'] as grpc.GrpcObject;
    const kv = pb['KV'] as grpc.ServiceClientConstructor;
    expect(Object.keys(kv.service)).toEqual(['Range', 'Put', 'DeleteRange', 'Txn', 'Compact']);
    expect(kv.service['Range']!.path).toBe('/etcdserverpb.KV/Range');
    const watch = pb['Watch'] as grpc.ServiceClientConstructor;
    expect(watch.service['Watch']!.requestStream).toBe(true);
    expect(watch.service['Watch']!.responseStream).toBe(true);
    for (const name of ['Lease', 'Cluster', 'Maintenance', 'Auth']) expect(pb[name]).toBeDefined();
  });

  it('encode a PutRequest with etcd field numbers', () => {
    const root = loadEtcdProtos();
    const kv = (root['etcdserverpb'] as grpc.GrpcObject)['KV'] as grpc.ServiceClientConstructor;
    const put = kv.service['Put']!;
    const bytes = put.requestSerialize({ key: Buffer.from('a'), value: Buffer.from('b'), lease: '5' });
    // field 1 (key, wire type 2), field 2 (value), field 3 (lease, varint 5)
    expect([...bytes]).toEqual([0x0a, 1, 0x61, 0x12, 1, 0x62, 0x18, 5]);
  });
});
