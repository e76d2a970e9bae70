// Write-ahead log for faultline-etcd.
//
// Design. As in etcd, the server is a Raft log plus a state machine. The WAL
// persists what Raft must not forget across a crash: log entries, the hard
// state (term, vote, commit) and markers saying where snapshots were taken.
// The state machine (MVCC store, leases, members, ...) lives in memory and is
// written to the snapshot store (snapshots.ts) every --snapshot-count applied
// entries and on demand. Restart = load the newest valid snapshot, then replay
// the WAL entries after it. After a snapshot, segments wholly before it are
// deleted (releaseTo), so disk use, memory and restart time stay proportional
// to live data rather than to history.
//
// On disk: a directory of segment files named %016x-%016x.wal (sequence
// number, first index the segment may hold), each a run of framed records
// (format in records.ts). Every segment starts with a crc record carrying its
// sequence, first index and the CRC of the previous segment's last record, so
// the chain of CRCs runs unbroken across files and a missing, truncated or
// swapped segment is detected. New segments also repeat the metadata and the
// latest hard state, so that releasing old segments loses neither.
//
// Writes. save() only encodes records into a memory buffer. sync() writes
// everything buffered with one write and one fdatasync (group commit); syncs
// requested while one is in flight coalesce into a single follow-up. Segment
// files are created through a temp file + fsync + rename + directory fsync,
// so a segment that exists under its final name always has a complete header.
// A failed write or fdatasync poisons the WAL: after fsync reports an error
// the kernel may have dropped the dirty pages, so the only safe continuation
// is to restart and recover from what is actually on disk.
//
// Recovery (replay.ts, segment.ts) repairs a torn tail of the last segment and
// refuses (WalCorruptError) anything that looks like damage to data that had
// been acknowledged. Segment files are not preallocated; a zero-filled tail
// (as some filesystems leave after power loss) is handled as a torn tail.
//
// Snapshot protocol for callers: snapshots.save(meta, data); wal.saveSnapshot
// (meta); await wal.sync(); await wal.releaseTo(meta.index); snapshots.purge(n).
// A crash anywhere in that sequence leaves a recoverable state: the WAL still
// holds every entry after the snapshot marker it knows.

import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createDurably, fsyncDir, isErrno, writeAll } from './fsutil.js';
import {
  EMPTY_HARD_STATE,
  hardStateEqual,
  RecordBuffer,
  type Entry,
  type HardState,
  type SnapshotMeta,
} from './records.js';
import { WalReplay, type RecoveredState } from './replay.js';
import { segmentFileName, sortSegmentNames, type SegmentName } from './segment.js';

export type { Entry, HardState, SnapshotMeta, ConfState } from './records.js';
export type { RecoveredState } from './replay.js';
export { WalCorruptError } from './errors.js';

export type WalLogger = (level: 'info' | 'warn', message: string) => void;

export interface WalOptions {
  /** Roll to a new segment once the current one reaches this size. Default 64 MiB. */
  segmentBytes?: number;
  logger?: WalLogger;
}

export interface WalStats {
  /** fdatasync calls for batches (segment creation not counted). */
  syncs: number;
  bytesWritten: number;
  segmentsCreated: number;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

const defaultLogger: WalLogger = (level, message) => {
  if (level === 'warn') console.warn(message);
};

interface OpenState {
  segments: SegmentName[];
  fh: FileHandle;
  fileSize: number;
  lastCrc: number;
  lastIndex: number;
  hardState: HardState;
  metadata: Uint8Array | undefined;
  snapshotIndex: number;
}

export class Wal {
  private readonly segmentBytes: number;
  private readonly log: WalLogger;
  private readonly segments: SegmentName[];
  private fh: FileHandle;
  private fileSize: number;
  private lastCrc: number;
  private readonly pending = new RecordBuffer();

  // "latest" values include buffered records; "written" ones only records
  // already handed to the file. New segment headers use the written ones.
  private latestIndex: number;
  private writtenIndex: number;
  private latestHardState: HardState;
  private writtenHardState: HardState;
  private metadata: Uint8Array | undefined;
  private metadataWritten: boolean;
  private latestSnapshotIndex: number;
  private durableSnapshotIndex: number;

  private flushing: Promise<void> | undefined;
  private nextFlush: Promise<void> | undefined;
  private failure: Error | undefined;
  private closed = false;
  private readonly counters: WalStats = { syncs: 0, bytesWritten: 0, segmentsCreated: 0 };

  private constructor(
    readonly dir: string,
    opts: WalOptions,
    s: OpenState,
  ) {
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.log = opts.logger ?? defaultLogger;
    this.segments = s.segments;
    this.fh = s.fh;
    this.fileSize = s.fileSize;
    this.lastCrc = s.lastCrc;
    this.latestIndex = this.writtenIndex = s.lastIndex;
    this.latestHardState = this.writtenHardState = s.hardState;
    this.metadata = s.metadata;
    this.metadataWritten = s.metadata !== undefined;
    this.latestSnapshotIndex = this.durableSnapshotIndex = s.snapshotIndex;
  }

  /** True if `dir` holds at least one segment file. */
  static async exists(dir: string): Promise<boolean> {
    try {
      return sortSegmentNames(await readdir(dir)).length > 0;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  /**
   * Opens (creating if needed) the WAL in `dir` and recovers its contents.
   * Throws WalCorruptError if the log is damaged anywhere but a torn tail.
   */
  static async open(dir: string, opts: WalOptions = {}): Promise<{ wal: Wal; recovered: RecoveredState }> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isInteger(segmentBytes) || segmentBytes <= 0) throw new RangeError('wal: segmentBytes must be a positive integer');
    const log = opts.logger ?? defaultLogger;
    await mkdir(dir, { recursive: true });
    const names = await readdir(dir);
    for (const n of names) {
      if (n.endsWith('.wal.tmp')) {
        // A segment whose creation was interrupted; the previous segment is complete.
        log('info', `wal: removing interrupted segment ${n}`);
        await unlink(path.join(dir, n));
      }
    }
    const segs = sortSegmentNames(names);
    if (segs.length === 0) {
      const first = { name: segmentFileName(0, 1), seq: 0, firstIndex: 1 };
      const header = new RecordBuffer(64);
      header.appendCrc({ seq: 0, firstIndex: 1 });
      const { bytes, lastCrc } = header.seal(0);
      const fh = await createDurably(dir, first.name, bytes, true);
      const wal = new Wal(dir, opts, {
        segments: [first],
        fh,
        fileSize: bytes.length,
        lastCrc,
        lastIndex: 0,
        hardState: EMPTY_HARD_STATE,
        metadata: undefined,
        snapshotIndex: 0,
      });
      wal.counters.segmentsCreated++;
      return { wal, recovered: { hardState: { ...EMPTY_HARD_STATE }, entries: [] } };
    }

    const replay = new WalReplay();
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      replay.addSegment(seg.name, await readFile(path.join(dir, seg.name)), i === segs.length - 1);
    }
    const r = replay.finish();
    const lastName = segs[segs.length - 1]!.name;
    const fh = await open(path.join(dir, lastName), 'r+');
    try {
      if (r.tail) {
        log(
          'warn',
          `wal: repairing torn tail of ${r.tail.file}: truncating at offset ${r.tail.offset}, dropping ${r.tail.droppedBytes} bytes` +
            ` (${r.tail.zeroFilled ? 'zero-filled' : r.tail.reason})`,
        );
        await fh.truncate(r.tail.offset);
        await fh.datasync();
      }
    } catch (err) {
      await fh.close();
      throw err;
    }
    const recovered: RecoveredState = { hardState: r.hardState, entries: r.entries };
    if (r.snapshot) recovered.snapshot = r.snapshot;
    if (r.metadata) recovered.metadata = r.metadata;
    const wal = new Wal(dir, opts, {
      segments: r.segments,
      fh,
      fileSize: r.lastSegmentBytes,
      lastCrc: r.lastCrc,
      lastIndex: r.lastIndex,
      hardState: r.hardState,
      metadata: r.metadata,
      snapshotIndex: r.snapshot?.index ?? 0,
    });
    return { wal, recovered };
  }

  /** Index of the last entry saved (buffered or not), or of the last snapshot marker if later. */
  get lastIndex(): number {
    return this.latestIndex;
  }

  get stats(): Readonly<WalStats> {
    return { ...this.counters };
  }

  /** Segment file names, oldest first. */
  segmentFiles(): string[] {
    return this.segments.map((s) => s.name);
  }

  /** Records the WAL's metadata (e.g. cluster and member ids). Allowed once per WAL. */
  setMetadata(bytes: Uint8Array): void {
    this.checkUsable();
    if (this.metadata !== undefined) throw new Error('wal: metadata is already set');
    this.metadata = new Uint8Array(bytes);
    this.pending.appendMetadata(this.metadata);
  }

  /**
   * Buffers entries and hard state; nothing reaches the disk until sync().
   * Entries must be consecutive and may start at most one past the last index;
   * starting at or below it truncates the log there (Raft conflict resolution).
   */
  save(hardState: HardState | undefined, entries: readonly Entry[]): void {
    this.checkUsable();
    const first = entries[0];
    if (first !== undefined) {
      if (first.index > this.latestIndex + 1) {
        throw new RangeError(`wal: entry ${first.index} would leave a gap after index ${this.latestIndex}`);
      }
      for (let i = 1; i < entries.length; i++) {
        if (entries[i]!.index !== first.index + i) throw new RangeError('wal: entries in one save must be consecutive');
      }
      for (const e of entries) this.pending.appendEntry(e);
      this.latestIndex = entries[entries.length - 1]!.index;
    }
    if (hardState !== undefined && !hardStateEqual(hardState, this.latestHardState)) {
      this.pending.appendHardState(hardState);
      this.latestHardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
    }
  }

  /** Buffers a marker saying a snapshot was taken at meta.index (after the snapshot file is durable). */
  saveSnapshot(meta: SnapshotMeta): void {
    this.checkUsable();
    this.pending.appendSnapshot(meta);
    this.latestSnapshotIndex = Math.max(this.latestSnapshotIndex, meta.index);
    this.latestIndex = Math.max(this.latestIndex, meta.index);
  }

  /**
   * Makes everything saved so far durable: one write and one fdatasync for all
   * of it. Calls made while a sync is in flight share one follow-up sync.
   */
  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.nextFlush) return this.nextFlush;
    if (this.flushing) {
      if (this.pending.length === 0) return this.flushing;
      const next = this.flushing
        .catch(() => undefined)
        .then(() => {
          this.nextFlush = undefined;
          return this.startFlush();
        });
      this.nextFlush = next;
      return next;
    }
    return this.startFlush();
  }

  saveAndSync(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void> {
    this.save(hardState, entries);
    return this.sync();
  }

  /**
   * Deletes segments that hold nothing after `snapshotIndex`, keeping the one
   * that contains it. Requires a synced snapshot marker at or beyond the index.
   */
  async releaseTo(snapshotIndex: number): Promise<void> {
    this.checkUsable();
    if (snapshotIndex > this.durableSnapshotIndex) {
      throw new RangeError(
        `wal: cannot release to ${snapshotIndex}: the last synced snapshot marker is at ${this.durableSnapshotIndex}`,
      );
    }
    let keep = -1;
    for (let i = 0; i < this.segments.length; i++) if (this.segments[i]!.firstIndex <= snapshotIndex) keep = i;
    if (keep <= 0) return;
    // Oldest first, so a crash midway leaves a contiguous run of segments.
    const victims = this.segments.splice(0, keep);
    for (const v of victims) {
      try {
        await unlink(path.join(this.dir, v.name));
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    await fsyncDir(this.dir);
  }

  /** Syncs anything buffered and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.failure) await this.sync();
    } finally {
      this.closed = true;
      await this.fh.close();
    }
  }

  private startFlush(): Promise<void> {
    const p: Promise<void> = this.flushOnce().finally(() => {
      if (this.flushing === p) this.flushing = undefined;
    });
    this.flushing = p;
    return p;
  }

  private async flushOnce(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.pending.length === 0) return;
    // Everything below up to the first await runs synchronously, so the batch
    // and the "written" bookkeeping describe exactly the same records.
    const { bytes, lastCrc } = this.pending.seal(this.lastCrc);
    this.lastCrc = lastCrc;
    this.writtenIndex = this.latestIndex;
    this.writtenHardState = this.latestHardState;
    this.metadataWritten = this.metadata !== undefined;
    const snapshotIndex = this.latestSnapshotIndex;
    try {
      await writeAll(this.fh, bytes, this.fileSize);
      this.pending.recycle();
      this.fileSize += bytes.length;
      await this.fh.datasync();
      this.counters.syncs++;
      this.counters.bytesWritten += bytes.length;
      this.durableSnapshotIndex = snapshotIndex;
      if (this.fileSize >= this.segmentBytes) await this.cut();
    } catch (err) {
      this.failure = new Error(`wal: unusable after a failed write or fsync; restart to recover: ${String(err)}`, { cause: err });
      throw this.failure;
    }
  }

  private async cut(): Promise<void> {
    const prev = this.segments[this.segments.length - 1]!;
    const seg: SegmentName = { seq: prev.seq + 1, firstIndex: this.writtenIndex + 1, name: '' };
    seg.name = segmentFileName(seg.seq, seg.firstIndex);
    const header = new RecordBuffer(256);
    header.appendCrc({ seq: seg.seq, firstIndex: seg.firstIndex });
    if (this.metadataWritten && this.metadata) header.appendMetadata(this.metadata);
    if (!hardStateEqual(this.writtenHardState, EMPTY_HARD_STATE)) header.appendHardState(this.writtenHardState);
    const { bytes, lastCrc } = header.seal(this.lastCrc);
    const fh = await createDurably(this.dir, seg.name, bytes, true);
    const old = this.fh;
    this.fh = fh;
    this.fileSize = bytes.length;
    this.lastCrc = lastCrc;
    this.segments.push(seg);
    this.counters.segmentsCreated++;
    await old.close();
  }

  private checkUsable(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('wal: closed');
  }
}
