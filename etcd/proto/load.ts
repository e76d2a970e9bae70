// Loads the .proto files that define etcd's wire API. They ship next to the
// compiled code's package root (etcd/proto/), found by walking up from this
// module, so the same code works from the sources (vitest) and from dist/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'etcd', 'proto', 'rpc.proto');
    if (existsSync(candidate)) return dirname(candidate);
    if (existsSync(join(dir, 'rpc.proto'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('faultline: cannot find etcd/proto/rpc.proto next to the installed package');
}

/**
 * Decoding options shared by server and client: int64 as decimal strings (no
 * precision loss for lease and member IDs), enums as names, bytes as Buffers,
 * defaults filled so absent fields read as etcd's zero values.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

export const PROTO_FILES = ['rpc.proto', 'kv.proto', 'auth.proto', 'health.proto', 'v3lock.proto', 'v3election.proto'];

let cached: protoLoader.PackageDefinition | undefined;

/**
 * Every etcd service and message, as proto-loader's package definition
 * (services keyed by full name, e.g. "etcdserverpb.KV"), loaded once per
 * process. The server needs nothing more; clients wrap it with grpc-js
 * (grpc-object.ts), which the server therefore never loads.
 */
export function loadEtcdDefinitions(): protoLoader.PackageDefinition {
  if (cached) return cached;
  const dir = protoDir();
  cached = protoLoader.loadSync(PROTO_FILES.map((f) => join(dir, f)), { ...LOADER_OPTIONS, includeDirs: [dir] });
  return cached;
}
