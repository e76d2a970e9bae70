// One segment file at a time: its name, and the decision between "torn tail"
// and "corruption" when a record does not verify. Pure: works on a Buffer.

import { WalCorruptError } from './errors.js';
import { FLAG_BATCH_START, HEADER_BYTES, readFrame, type Frame } from './records.js';

const SEGMENT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

export interface SegmentName {
  name: string;
  seq: number;
  firstIndex: number;
}

export function segmentFileName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}.wal`;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const m = SEGMENT_NAME.exec(name);
  if (!m) return undefined;
  const seq = Number.parseInt(m[1]!, 16);
  const firstIndex = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) return undefined;
  return { name, seq, firstIndex };
}

/** Segment names from a directory listing, ordered by sequence number. */
export function sortSegmentNames(names: readonly string[]): SegmentName[] {
  const segs = names.map(parseSegmentName).filter((s): s is SegmentName => s !== undefined);
  return segs.sort((a, b) => a.seq - b.seq);
}

export interface TornTail {
  file: string;
  /** Where the last valid record ends: the file is truncated here. */
  offset: number;
  droppedBytes: number;
  reason: string;
  zeroFilled: boolean;
}

export interface ScannedSegment {
  frames: Frame[];
  /** Length of the valid prefix. */
  validBytes: number;
  tail?: TornTail;
}

/**
 * Verifies every frame of a segment and the CRC chain inside it.
 *
 * A bad frame in a non-last segment is corruption: segments are fsynced
 * before the next one is created. In the last segment a bad frame is a torn
 * write only if no later write batch follows it. Every sync() writes one batch
 * and waits for its fdatasync before the next batch is written, so an intact
 * record carrying FLAG_BATCH_START after the bad one proves the bad record had
 * been made durable (and acknowledged) before: that is corruption. Records of
 * the same, final batch after the bad one may legitimately exist (pages of an
 * unsynced write reach the disk in any order on power loss); they were never
 * acknowledged and are dropped with the tail.
 */
export function scanSegment(name: string, buf: Buffer, isLast: boolean): ScannedSegment {
  const frames: Frame[] = [];
  let off = 0;
  while (off < buf.length) {
    const r = readFrame(buf, off);
    if (r.ok) {
      const prev = frames[frames.length - 1];
      if (prev !== undefined && r.frame.prevCrc !== prev.crc) {
        throw new WalCorruptError(
          `wal: corrupt segment ${name} at offset ${off}: crc chain broken (record links to ${r.frame.prevCrc}, previous record is ${prev.crc})`,
          name,
          off,
        );
      }
      frames.push(r.frame);
      off = r.frame.end;
      continue;
    }
    if (!isLast) {
      throw new WalCorruptError(`wal: corrupt segment ${name} at offset ${off}: ${r.reason} (not the last segment)`, name, off);
    }
    const later = findBatchStart(buf, off + 8);
    if (later !== undefined) {
      throw new WalCorruptError(
        `wal: corrupt segment ${name} at offset ${off}: ${r.reason}, but a later write batch at offset ${later} is intact`,
        name,
        off,
      );
    }
    return {
      frames,
      validBytes: off,
      tail: { file: name, offset: off, droppedBytes: buf.length - off, reason: r.reason, zeroFilled: isZero(buf, off) },
    };
  }
  return { frames, validBytes: off };
}

function findBatchStart(buf: Buffer, from: number): number | undefined {
  for (let q = (from + 7) & ~7; q + HEADER_BYTES <= buf.length; q += 8) {
    // Cheap pre-filter before paying for a CRC: a batch-start flag and zero reserved bytes.
    if (buf[q + 5] !== FLAG_BATCH_START || buf[q + 6] !== 0 || buf[q + 7] !== 0) continue;
    const r = readFrame(buf, q);
    if (r.ok) return q;
  }
  return undefined;
}

function isZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}
