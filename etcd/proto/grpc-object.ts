// The etcd services as grpc-js client constructors, for clients (the
// harness, tests). Kept apart from load.ts so the server does not load grpc-js.
import * as grpc from '@grpc/grpc-js';
import { loadEtcdDefinitions } from './load.js';

let cached: grpc.GrpcObject | undefined;

/** The grpc-js package object for every etcd service, loaded once per process. */
export function loadEtcdProtos(): grpc.GrpcObject {
  cached ??= grpc.loadPackageDefinition(loadEtcdDefinitions());
  return cached;
}
