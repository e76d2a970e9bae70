// Recovery as a pure fold over segment buffers: verify each segment, check the
// sequence and the CRC chain between segments, and rebuild the Raft log the
// records describe. The I/O layer (wal.ts) feeds files in order and applies
// the torn-tail repair this returns.

import { WalCorruptError } from './errors.js';
import {
  decodeCrcRecord,
  decodeEntry,
  decodeHardState,
  decodeSnapshotMeta,
  EMPTY_HARD_STATE,
  PayloadError,
  RecordType,
  recordTypeName,
  type Entry,
  type Frame,
  type HardState,
  type SnapshotMeta,
} from './records.js';
import { parseSegmentName, scanSegment, type SegmentName, type TornTail } from './segment.js';

export interface RecoveredState {
  hardState: HardState;
  /** Entries after the snapshot index, contiguous, overwritten suffixes resolved. */
  entries: Entry[];
  snapshot?: SnapshotMeta;
  metadata?: Uint8Array;
}

export interface ReplayResult extends RecoveredState {
  segments: SegmentName[];
  /** CRC of the last valid record: the chain continues from it. */
  lastCrc: number;
  /** Highest index the log covers (last entry, or the snapshot if no entry follows it). */
  lastIndex: number;
  /** Length of the valid prefix of the last segment. */
  lastSegmentBytes: number;
  /** Set when the last segment ends in a torn write to be truncated. */
  tail?: TornTail;
}

export class WalReplay {
  private entries: Entry[] = [];
  private snapshot: SnapshotMeta | undefined;
  private hardState: HardState = EMPTY_HARD_STATE;
  private metadata: Uint8Array | undefined;
  private lastCrc: number | undefined;
  private readonly segments: SegmentName[] = [];
  private lastSegmentBytes = 0;
  private tail: TornTail | undefined;
  private sawLast = false;

  addSegment(name: string, bytes: Uint8Array, isLast: boolean): void {
    if (this.sawLast) throw new Error('wal: segment added after the last one');
    const seg = parseSegmentName(name);
    if (!seg) throw new WalCorruptError(`wal: ${name} is not a segment file name`, name);
    const prev = this.segments[this.segments.length - 1];
    if (prev !== undefined && seg.seq !== prev.seq + 1) {
      throw new WalCorruptError(
        `wal: segment sequence broken: ${prev.name} is followed by ${name} (missing segment ${prev.seq + 1})`,
        name,
        0,
      );
    }
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const scanned = scanSegment(name, buf, isLast);
    const head = scanned.frames[0];
    if (head === undefined || head.type !== RecordType.crc) {
      throw new WalCorruptError(`wal: segment ${name} does not start with a valid crc record`, name, 0);
    }
    const crcRec = this.decode(name, buf, head, decodeCrcRecord);
    if (crcRec.seq !== seg.seq || crcRec.firstIndex !== seg.firstIndex) {
      throw new WalCorruptError(
        `wal: segment ${name} header says seq ${crcRec.seq}, first index ${crcRec.firstIndex}: the file was renamed or replaced`,
        name,
        0,
      );
    }
    if (this.lastCrc !== undefined && head.prevCrc !== this.lastCrc) {
      throw new WalCorruptError(
        `wal: crc chain broken between ${prev?.name ?? '?'} and ${name}: the previous segment was truncated or replaced`,
        name,
        0,
      );
    }
    for (let i = 1; i < scanned.frames.length; i++) this.apply(name, buf, scanned.frames[i]!);
    this.lastCrc = scanned.frames[scanned.frames.length - 1]!.crc;
    this.segments.push(seg);
    this.lastSegmentBytes = scanned.validBytes;
    this.tail = scanned.tail;
    this.sawLast = isLast;
  }

  finish(): ReplayResult {
    const first = this.entries[0];
    const last = this.entries[this.entries.length - 1];
    const base = this.snapshot?.index ?? 0;
    if (first !== undefined && first.index !== base + 1) {
      throw new WalCorruptError(
        this.snapshot
          ? `wal: entries resume at index ${first.index} but the last snapshot is at index ${base}: segments holding entries ${base + 1}..${first.index - 1} are missing`
          : `wal: entries start at index ${first.index} and there is no snapshot marker: earlier segments are missing`,
      );
    }
    const result: ReplayResult = {
      hardState: { ...this.hardState },
      entries: this.entries,
      segments: [...this.segments],
      lastCrc: this.lastCrc ?? 0,
      lastIndex: Math.max(last?.index ?? 0, base),
      lastSegmentBytes: this.lastSegmentBytes,
    };
    if (this.snapshot) result.snapshot = this.snapshot;
    if (this.metadata) result.metadata = this.metadata;
    if (this.tail) result.tail = this.tail;
    return result;
  }

  private apply(file: string, buf: Buffer, frame: Frame): void {
    switch (frame.type) {
      case RecordType.entry:
        this.applyEntry(file, frame, this.decode(file, buf, frame, decodeEntry));
        return;
      case RecordType.hardState:
        this.hardState = this.decode(file, buf, frame, decodeHardState);
        return;
      case RecordType.snapshot:
        this.applySnapshot(this.decode(file, buf, frame, decodeSnapshotMeta));
        return;
      case RecordType.metadata: {
        const payload = buf.subarray(frame.payloadStart, frame.payloadEnd);
        const md = new Uint8Array(payload);
        if (this.metadata !== undefined && !Buffer.from(this.metadata).equals(payload)) {
          throw new WalCorruptError(`wal: segment ${file} at offset ${frame.offset}: metadata differs from earlier segments`, file, frame.offset);
        }
        this.metadata = md;
        return;
      }
      case RecordType.crc:
        throw new WalCorruptError(`wal: segment ${file} at offset ${frame.offset}: unexpected crc record inside a segment`, file, frame.offset);
    }
  }

  /** A later entry at index i replaces entries >= i: a Raft log truncation. */
  private applyEntry(file: string, frame: Frame, e: Entry): void {
    if (this.snapshot && e.index <= this.snapshot.index) return;
    const first = this.entries[0];
    if (first === undefined) {
      // The first entry of a released log need not follow the snapshot seen so
      // far; finish() checks the final log against the final snapshot.
      this.entries.push(e);
      return;
    }
    const lastIndex = first.index + this.entries.length - 1;
    if (e.index > lastIndex + 1) {
      throw new WalCorruptError(
        `wal: segment ${file} at offset ${frame.offset}: entry ${e.index} leaves a gap after entry ${lastIndex}`,
        file,
        frame.offset,
      );
    }
    if (e.index <= lastIndex) this.entries.length = Math.max(0, e.index - first.index);
    this.entries.push(e);
  }

  private applySnapshot(meta: SnapshotMeta): void {
    if (this.snapshot && meta.index < this.snapshot.index) return;
    this.snapshot = meta;
    const first = this.entries[0];
    if (first === undefined || first.index > meta.index) return;
    this.entries = this.entries.slice(meta.index - first.index + 1);
  }

  private decode<T>(file: string, buf: Buffer, frame: Frame, fn: (p: Uint8Array, start: number, end: number) => T): T {
    try {
      return fn(buf, frame.payloadStart, frame.payloadEnd);
    } catch (err) {
      if (err instanceof PayloadError) {
        throw new WalCorruptError(
          `wal: segment ${file} at offset ${frame.offset}: ${recordTypeName(frame.type)} record does not parse: ${err.message}`,
          file,
          frame.offset,
        );
      }
      throw err;
    }
  }
}

/** Convenience over WalReplay for buffers already in memory (tests, tools). */
export function replaySegments(files: readonly { name: string; bytes: Uint8Array }[]): ReplayResult {
  const replay = new WalReplay();
  files.forEach((f, i) => replay.addSegment(f.name, f.bytes, i === files.length - 1));
  return replay.finish();
}
