// Snapshot files: the serialized state machine at a log index.
//
// File name %016x-%016x.snap (term, index), as etcd names them. Contents
// (integers little-endian):
//
//   0  8 bytes  magic "FLSNAP\0\2"
//   8  u32      CRC-32 (IEEE) of everything from offset 12 to the end
//  12  u32      length M of the encoded SnapshotMeta
//  16  M bytes  SnapshotMeta (same encoding as the WAL's snapshot record)
//      u32 lo, u32 hi  data length D
//      D bytes  data
//
// Version 1 files ("FLSNAP\0\1") are the same but checksummed with CRC-32C;
// they are still read. Version 2 switched to CRC-32 because Node computes it
// natively, several times faster: a snapshot checksums hundreds of MB.
//
// Files are created under a temp name, fsynced, renamed and the directory
// fsynced, so a file under a final name is complete unless the disk damaged it.
//
// If the newest snapshot fails verification, loading refuses (throws
// SnapshotCorruptError) rather than falling back to an older one. Falling back
// is only correct if the WAL still holds every entry between the older
// snapshot and now, but the WAL deletes segments once a newer snapshot exists,
// so the fallback would typically restart with a silent hole in the log: wrong
// data. Refusing makes an operator restore the member from a peer instead.

import { readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from '../util/crc32.js';
import { nextTurn } from '../util/next-turn.js';
import { crc32c } from '../util/crc32c.js';
import { SnapshotCorruptError } from './errors.js';
import { createDurably, isErrno, writeAll, writeAllAt } from './fsutil.js';
import { decodeSnapshotMeta, encodeSnapshotMeta, PayloadError, type SnapshotMeta } from './records.js';

export type { SnapshotMeta } from './records.js';
export { SnapshotCorruptError } from './errors.js';

const MAGIC = Buffer.from('FLSNAP\x00\x02', 'latin1');
/** The first format, checksummed with CRC-32C; read, never written. */
const MAGIC_V1 = Buffer.from('FLSNAP\x00\x01', 'latin1');
const SNAP_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const TWO_32 = 0x1_0000_0000;

export interface SnapshotFile {
  name: string;
  term: number;
  index: number;
}

export function snapshotFileName(term: number, index: number): string {
  return `${term.toString(16).padStart(16, '0')}-${index.toString(16).padStart(16, '0')}.snap`;
}

export function parseSnapshotFileName(name: string): SnapshotFile | undefined {
  const m = SNAP_NAME.exec(name);
  if (!m) return undefined;
  const term = Number.parseInt(m[1]!, 16);
  const index = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index)) return undefined;
  return { name, term, index };
}

export function encodeSnapshotFile(meta: SnapshotMeta, data: Uint8Array): Buffer {
  const head = snapshotFileHead(meta, data.length);
  head.writeUInt32LE(crc32(data, crc32(head, 0, 12)), 8);
  return Buffer.concat([head, data]);
}

/**
 * The header of a file holding `length` bytes of image. Its checksum (bytes
 * 8–11) is left for the caller: it covers everything after itself, the rest
 * of the header (crc32(head, 0, 12)) and then the image.
 */
function snapshotFileHead(meta: SnapshotMeta, length: number): Buffer {
  const metaBytes = encodeSnapshotMeta(meta);
  const head = Buffer.alloc(16 + metaBytes.length + 8);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(metaBytes.length, 12);
  metaBytes.copy(head, 16);
  const o = 16 + metaBytes.length;
  head.writeUInt32LE(length % TWO_32, o);
  head.writeUInt32LE(Math.floor(length / TWO_32), o + 4);
  return head;
}

/** Bytes checksummed between two yields when a snapshot file is saved. */
const CRC_SLICE_BYTES = 8 * 1024 * 1024;

/** Verifies and decodes a snapshot file; throws a plain Error describing what is wrong. */
export function decodeSnapshotFile(buf: Buffer): { meta: SnapshotMeta; data: Uint8Array } {
  if (buf.length < 16 + 8) throw new Error(`file is too short (${buf.length} bytes)`);
  const magic = buf.subarray(0, 8);
  const checksum = magic.equals(MAGIC) ? crc32 : magic.equals(MAGIC_V1) ? crc32c : undefined;
  if (checksum === undefined) throw new Error('bad magic: not a snapshot file');
  const stored = buf.readUInt32LE(8);
  const actual = checksum(buf, 0, 12);
  if (stored !== actual) throw new Error(`crc mismatch (stored ${stored}, computed ${actual})`);
  const metaLen = buf.readUInt32LE(12);
  if (16 + metaLen + 8 > buf.length) throw new Error('metadata length runs past end of file');
  let meta: SnapshotMeta;
  try {
    meta = decodeSnapshotMeta(buf.subarray(16, 16 + metaLen));
  } catch (err) {
    if (err instanceof PayloadError) throw new Error(`metadata does not parse: ${err.message}`);
    throw err;
  }
  const o = 16 + metaLen;
  const dataLen = buf.readUInt32LE(o) + buf.readUInt32LE(o + 4) * TWO_32;
  if (o + 8 + dataLen !== buf.length) throw new Error(`data length ${dataLen} does not match file size`);
  const data = new Uint8Array(dataLen);
  data.set(buf.subarray(o + 8));
  return { meta, data };
}

/**
 * An image whose length is known up front, produced as a sequence of slices
 * (each a list of parts). A slice's parts may be reused by the producer once
 * the next slice is asked for, so each is written before moving on.
 */
export interface SnapshotImage {
  readonly length: number;
  readonly slices: Iterable<readonly Uint8Array[]>;
}

function toImage(data: Uint8Array | readonly Uint8Array[] | SnapshotImage): SnapshotImage {
  if (data instanceof Uint8Array) return { length: data.length, slices: [[data]] };
  if ('slices' in data) return data;
  const parts = data as readonly Uint8Array[];
  return { length: parts.reduce((n, p) => n + p.length, 0), slices: [parts] };
}

export class SnapshotStore {
  constructor(readonly dir: string) {}

  /**
   * Writes a snapshot durably; resolves once it survives power loss. The
   * image is given whole, in parts, or as a SnapshotImage produced slice by
   * slice: each slice goes to the file as it comes, so a large image is never
   * held whole, and `pause()` is awaited between slices (and between 8 MB of
   * checksumming) to leave the event loop free.
   */
  async save(meta: SnapshotMeta, data: Uint8Array | readonly Uint8Array[] | SnapshotImage, pause: () => Promise<void> = nextTurn): Promise<void> {
    const image = toImage(data);
    const head = snapshotFileHead(meta, image.length);
    let crc = crc32(head, 0, 12);
    let written = 0;
    await createDurably(this.dir, snapshotFileName(meta.term, meta.index), async (fh) => {
      await writeAll(fh, head, 0);
      for (const slice of image.slices) {
        let sinceYield = 0;
        for (const p of slice) {
          for (let at = 0; at < p.length; at += CRC_SLICE_BYTES) {
            const end = Math.min(p.length, at + CRC_SLICE_BYTES);
            crc = crc32(p, crc, at, end);
            sinceYield += end - at;
            if (sinceYield >= CRC_SLICE_BYTES) {
              sinceYield = 0;
              await pause();
            }
          }
        }
        if (slice.length > 0) await writeAllAt(fh, slice, head.length + written);
        written += slice.reduce((n, p) => n + p.length, 0);
        await pause();
      }
      if (written !== image.length) throw new Error(`snapshot image is ${written} bytes, its header says ${image.length}`);
      // The checksum covers the image, so it is known only now.
      head.writeUInt32LE(crc, 8);
      await writeAll(fh, head.subarray(8, 12), 8);
    });
  }

  /** Snapshot files, oldest first (by index, then term). */
  async list(): Promise<SnapshotFile[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    return names
      .map(parseSnapshotFileName)
      .filter((f): f is SnapshotFile => f !== undefined)
      .sort((a, b) => a.index - b.index || a.term - b.term);
  }

  /** The newest snapshot, verified; undefined if there is none. Throws SnapshotCorruptError if it is damaged. */
  async loadNewest(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | undefined> {
    const files = await this.list();
    const newest = files[files.length - 1];
    return newest ? this.load(newest) : undefined;
  }

  /** Loads and verifies one snapshot file (e.g. the one a WAL snapshot marker names). */
  async load(file: { term: number; index: number }): Promise<{ meta: SnapshotMeta; data: Uint8Array }> {
    const name = snapshotFileName(file.term, file.index);
    const full = path.join(this.dir, name);
    const buf = await readFile(full);
    let decoded: { meta: SnapshotMeta; data: Uint8Array };
    try {
      decoded = decodeSnapshotFile(buf);
    } catch (err) {
      throw new SnapshotCorruptError(
        `snap: snapshot ${full} is corrupt (${(err as Error).message}); refusing to start from an older snapshot, restore this member from a healthy peer`,
        full,
      );
    }
    if (decoded.meta.index !== file.index || decoded.meta.term !== file.term) {
      throw new SnapshotCorruptError(
        `snap: snapshot ${full} contains term ${decoded.meta.term} index ${decoded.meta.index}, not what its name says`,
        full,
      );
    }
    return decoded;
  }

  /** Deletes all but the newest `keep` snapshot files, and interrupted temp files. */
  async purge(keep: number): Promise<string[]> {
    if (!Number.isInteger(keep) || keep < 1) throw new RangeError('snap: purge must keep at least one snapshot');
    const removed: string[] = [];
    const files = await this.list();
    const victims = files.slice(0, Math.max(0, files.length - keep)).map((f) => f.name);
    for (const n of await readdir(this.dir)) if (n.endsWith('.snap.tmp')) victims.push(n);
    for (const n of victims) {
      try {
        await unlink(path.join(this.dir, n));
        removed.push(n);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    return removed;
  }
}
