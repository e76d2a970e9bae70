// The bytes etcd keeps per revision in its "key" bucket, reproduced for
// HashKV: the bucket key is the 17-byte revision (8-byte big-endian main, '_',
// 8-byte big-endian sub, plus 't' for a tombstone) and the value is the
// protobuf mvccpb.KeyValue (a tombstone stores only the key). Hashing the same
// bytes in the same order as etcd makes our HashKV match etcd's for the same
// history and compactions.

import type { KeyValue } from '../types.js';
import type { Crc32c } from '../util/crc32c.js';
import type { RevisionRecord } from './state.js';

export const KEY_BUCKET_NAME = Buffer.from('key');

const scratch = Buffer.alloc(64);

/** Writes a non-negative safe integer as a protobuf varint (arithmetic, since it may exceed 32 bits). */
function putUvarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}

/** int64 as protobuf encodes it: negative values as their 64-bit two's complement. */
function putInt64Varint(buf: Buffer, pos: number, v: bigint): number {
  let u = BigInt.asUintN(64, v);
  while (u >= 0x80n) {
    buf[pos++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  buf[pos++] = Number(u);
  return pos;
}

function putIntField(buf: Buffer, pos: number, tag: number, v: number): number {
  if (v === 0) return pos;
  buf[pos++] = tag;
  if (v < 0) return putInt64Varint(buf, pos, BigInt(v));
  return putUvarint(buf, pos, v);
}

function writeBytesField(h: Crc32c, tag: number, bytes: Buffer): void {
  if (bytes.length === 0) return;
  scratch[0] = tag;
  const end = putUvarint(scratch, 1, bytes.length);
  h.update(scratch, 0, end);
  h.update(bytes);
}

/** Feeds one revision's bucket key and value to the hash, as etcd's HashKV does. */
export function hashBackendEntry(h: Crc32c, rec: RevisionRecord): void {
  const kv: KeyValue = rec.kv;
  scratch.writeBigUInt64BE(BigInt(kv.modRevision), 0);
  scratch[8] = 0x5f;
  scratch.writeBigUInt64BE(BigInt(rec.sub), 9);
  let n = 17;
  if (rec.tombstone) scratch[n++] = 0x74;
  h.update(scratch, 0, n);

  writeBytesField(h, 0x0a, kv.key);
  if (rec.tombstone) return;
  n = putIntField(scratch, 0, 0x10, kv.createRevision);
  n = putIntField(scratch, n, 0x18, kv.modRevision);
  n = putIntField(scratch, n, 0x20, kv.version);
  h.update(scratch, 0, n);
  writeBytesField(h, 0x2a, kv.value);
  if (kv.lease !== 0n) {
    scratch[0] = 0x30;
    n = putInt64Varint(scratch, 1, kv.lease);
    h.update(scratch, 0, n);
  }
}
