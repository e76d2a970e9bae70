import { describe, expect, it } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadEtcdProtos } from '../../etcd/proto/grpc-object.js';
import { OURS_BUILT, ROOT } from '../support/servers.js';

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

describe('the server process', () => {
  // grpc-js is a client library here; loading it costs a server 10+ MB of
  // resident memory for nothing.
  it.skipIf(!OURS_BUILT)('does not load grpc-js', () => {
    const main = pathToFileURL(join(ROOT, 'dist', 'etcd', 'main.js')).href;
    const script = `await import(${JSON.stringify(main)});
const { createRequire } = await import('node:module');
const loaded = Object.keys(createRequire(import.meta.url).cache);
console.log(JSON.stringify({ grpcJs: loaded.filter((f) => f.includes('@grpc/grpc-js')).length, protoLoader: loaded.filter((f) => f.includes('@grpc/proto-loader')).length }));`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(out.status, out.stderr).toBe(0);
    // proto-loader is loaded (the server's codec), so the probe does see packages.
    const loaded = JSON.parse(out.stdout.trim().split('\n').pop()!) as { grpcJs: number; protoLoader: number };
    expect(loaded.protoLoader).toBeGreaterThan(0);
    expect(loaded.grpcJs).toBe(0);
  });
});
