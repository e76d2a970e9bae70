// Domain types shared by the MVCC store, the applier and the API front doors.
// They mirror etcd's protobuf messages with camelCase names; the gRPC and HTTP
// layers convert between these and the wire. Revisions are plain numbers
// (2^53 writes is beyond any realistic run); lease and member IDs are int64 /
// uint64 on the wire, so they are bigint here.

export type Bytes = Buffer;
export type LeaseId = bigint;

export interface KeyValue {
  key: Bytes;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Bytes;
  lease: LeaseId;
}

export type EventType = 'PUT' | 'DELETE';

export interface MvccEvent {
  type: EventType;
  /** For DELETE: key and modRevision (the delete's revision) only. */
  kv: KeyValue;
  /** The key's previous state, when it existed. Watchers ask for it with prev_kv. */
  prevKv?: KeyValue;
}

export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface RangeRequest {
  key: Bytes;
  /** Empty: the single key. "\0": every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd: Bytes;
  limit: number;
  /** 0 = current revision. */
  revision: number;
  sortOrder: SortOrder;
  sortTarget: SortTarget;
  serializable: boolean;
  keysOnly: boolean;
  countOnly: boolean;
  minModRevision: number;
  maxModRevision: number;
  minCreateRevision: number;
  maxCreateRevision: number;
}

export interface RangeResponse {
  /** The store revision the read was served at (header.revision). */
  revision: number;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutRequest {
  key: Bytes;
  value: Bytes;
  lease: LeaseId;
  prevKv: boolean;
  ignoreValue: boolean;
  ignoreLease: boolean;
}

export interface PutResponse {
  revision: number;
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Bytes;
  rangeEnd: Bytes;
  prevKv: boolean;
}

export interface DeleteRangeResponse {
  revision: number;
  deleted: number;
  prevKvs: KeyValue[];
}

export type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';
export type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';

export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Bytes;
  rangeEnd: Bytes;
  /** The operand for the chosen target: number for VERSION/CREATE/MOD, Bytes for VALUE, bigint for LEASE. */
  version: number;
  createRevision: number;
  modRevision: number;
  value: Bytes;
  lease: LeaseId;
}

export type RequestOp =
  | { type: 'range'; range: RangeRequest }
  | { type: 'put'; put: PutRequest }
  | { type: 'deleteRange'; deleteRange: DeleteRangeRequest }
  | { type: 'txn'; txn: TxnRequest };

export type ResponseOp =
  | { type: 'range'; range: RangeResponse }
  | { type: 'put'; put: PutResponse }
  | { type: 'deleteRange'; deleteRange: DeleteRangeResponse }
  | { type: 'txn'; txn: TxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface TxnResponse {
  revision: number;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: number;
  physical: boolean;
}

export interface HashKVResult {
  hash: number;
  compactRevision: number;
  hashRevision: number;
}

/** Byte helpers used everywhere keys are compared. */
export const EMPTY: Bytes = Buffer.alloc(0);
export const ZERO_BYTE: Bytes = Buffer.from([0]);

/** etcd's prefix end: the prefix with its last byte below 0xff incremented, trailing 0xff bytes dropped; all 0xff gives "\0". */
export function prefixEnd(prefix: Bytes): Bytes {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const b = prefix[i]!;
    if (b < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = b + 1;
      return end;
    }
  }
  return ZERO_BYTE;
}
