import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeSnapshotFile, encodeSnapshotFile } from '../../../etcd/server/snapshot-file.js';

describe('snapshot file', () => {
  it('has a page-aligned body followed by its SHA-256, as etcdctl expects', () => {
    for (const size of [0, 1, 495, 496, 497, 5000]) {
      const image = Buffer.alloc(size, 7);
      const file = encodeSnapshotFile(image);
      expect((file.length - 32) % 512).toBe(0);
      const body = file.subarray(0, file.length - 32);
      expect(file.subarray(file.length - 32)).toEqual(createHash('sha256').update(body).digest());
      expect(decodeSnapshotFile(file)).toEqual(image);
    }
  });

  it('refuses damaged or foreign files with a clear error', () => {
    const file = encodeSnapshotFile(Buffer.from('state'));
    const flipped = Buffer.from(file);
    flipped[20] = flipped[20]! ^ 1;
    expect(() => decodeSnapshotFile(flipped)).toThrow(/SHA-256 mismatch/);
    expect(() => decodeSnapshotFile(file.subarray(0, 100))).toThrow(/page-aligned/);
  });
});
