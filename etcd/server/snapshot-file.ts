// The byte stream Maintenance.Snapshot sends, laid out the way etcd's clients
// expect a database snapshot: a body whose length is a multiple of 512 bytes
// (bbolt's page size; etcdctl 3.4 checks this alignment to find the digest),
// followed by the SHA-256 of the body. Our body carries the state-machine
// image with a small header so the padding can be told from the data.

import { createHash } from 'node:crypto';

const MAGIC = Buffer.from('FLSNAP01', 'ascii');
const PAGE = 512;
const HEADER = MAGIC.length + 8;
const DIGEST = 32;

export function encodeSnapshotFile(image: Buffer): Buffer {
  const bodyLen = Math.ceil((HEADER + image.length) / PAGE) * PAGE;
  const out = Buffer.alloc(bodyLen + DIGEST);
  MAGIC.copy(out, 0);
  out.writeBigUInt64BE(BigInt(image.length), MAGIC.length);
  image.copy(out, HEADER);
  createHash('sha256').update(out.subarray(0, bodyLen)).digest().copy(out, bodyLen);
  return out;
}

/** The state-machine image inside a snapshot file; throws a clear Error on anything else. */
export function decodeSnapshotFile(file: Buffer): Buffer {
  if (file.length < HEADER + DIGEST || (file.length - DIGEST) % PAGE !== 0) {
    throw new Error(`not a faultline-etcd snapshot: ${file.length} bytes is not a page-aligned body plus a SHA-256`);
  }
  const bodyLen = file.length - DIGEST;
  const want = file.subarray(bodyLen);
  const got = createHash('sha256').update(file.subarray(0, bodyLen)).digest();
  if (!got.equals(want)) throw new Error('snapshot SHA-256 mismatch: the file is damaged');
  if (!file.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a faultline-etcd snapshot: bad magic');
  const len = Number(file.readBigUInt64BE(MAGIC.length));
  if (HEADER + len > bodyLen) throw new Error('snapshot header length exceeds the body');
  return Buffer.from(file.subarray(HEADER, HEADER + len));
}
