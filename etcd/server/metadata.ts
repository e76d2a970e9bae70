// The WAL metadata record: who this member is, written once when the WAL is
// created so IDs stay stable across restarts even if flags change.

import { BinaryReader, BinaryWriter, DecodeError } from './binary.js';

const METADATA_VERSION = 1;

export interface MemberMetadata {
  memberId: bigint;
  clusterId: bigint;
}

export function encodeMetadata(m: MemberMetadata): Buffer {
  return new BinaryWriter().uvarint(METADATA_VERSION).int64(m.memberId).int64(m.clusterId).finish();
}

export function decodeMetadata(buf: Buffer): MemberMetadata {
  const r = new BinaryReader(buf);
  const version = r.uvarint();
  if (version !== METADATA_VERSION) throw new DecodeError(`unsupported WAL metadata version ${version}`);
  const memberId = r.uint64();
  const clusterId = r.uint64();
  if (!r.done) throw new DecodeError('trailing bytes in WAL metadata');
  return { memberId, clusterId };
}
