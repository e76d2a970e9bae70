// Shapes of decoded protobuf messages as @grpc/proto-loader produces them with
// LOADER_OPTIONS (keepCase, int64 as decimal strings, enums as names, bytes as
// Buffer, defaults filled, oneof markers). Only the fields the front door reads
// or writes are listed. Incoming messages are untrusted: every converter reads
// them defensively.

export type Int64 = string | number;

export interface WireHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}

export interface WireKeyValue {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
  lease: string;
}

export interface WireEvent {
  type: 'PUT' | 'DELETE';
  kv: WireKeyValue;
  prev_kv?: WireKeyValue;
}

/** A decoded request: any field may be missing or of the wrong type when it comes from JSON. */
export type WireObject = Record<string, unknown>;
