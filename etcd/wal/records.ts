// The WAL's record vocabulary: the Raft shapes it persists, their payload
// encodings, and the on-disk frame around each record.
//
// Frame (all integers little-endian; every frame starts 8-byte aligned):
//
//   0  u32  payload length N
//   4  u8   record type (RecordType)
//   5  u8   flags (FLAG_BATCH_START on the first record of each write batch)
//   6  u16  reserved, zero
//   8  u32  prevCrc: the crc of the record before this one (chain link)
//  12  u32  crc: CRC-32C over bytes [0, 12) and the payload
//  16  N bytes payload, then zero padding up to a multiple of 8
//
// Each record's crc covers its own header (including prevCrc), so a record can
// be verified on its own, and the chain (prevCrc === previous record's crc,
// across segment files too) proves nothing was lost, inserted or reordered
// between two records. Being self-verifying is what lets recovery tell a torn
// tail from corruption: after a bad record it can look for intact records
// further on without knowing the chain state at that point.

import { crc32c } from '../util/crc32c.js';

export interface Entry {
  term: number;
  index: number;
  type: 'normal' | 'conf';
  data: Uint8Array;
}

export interface HardState {
  term: number;
  /** A 16-hex-char node id, or '' for no vote. */
  vote: string;
  commit: number;
}

export interface ConfState {
  voters: string[];
  learners: string[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  confState: ConfState;
}

export const RecordType = {
  metadata: 1,
  entry: 2,
  hardState: 3,
  snapshot: 4,
  crc: 5,
} as const;
export type RecordTypeValue = (typeof RecordType)[keyof typeof RecordType];

const RECORD_TYPE_NAMES: Record<number, string> = {
  1: 'metadata',
  2: 'entry',
  3: 'hardState',
  4: 'snapshot',
  5: 'crc',
};
export function recordTypeName(type: number): string {
  return RECORD_TYPE_NAMES[type] ?? `unknown(${type})`;
}

export const HEADER_BYTES = 16;
export const FLAG_BATCH_START = 1;
/** Guards against absurd allocations when a length field is corrupt. */
export const MAX_PAYLOAD_BYTES = 0x7fff_fff0;

export function frameBytes(payloadLength: number): number {
  return HEADER_BYTES + ((payloadLength + 7) & ~7);
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: '', commit: 0 });

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

// ---------------------------------------------------------------------------
// Payload encodings

/** Thrown for a payload that passed its CRC but does not parse: a writer bug. */
export class PayloadError extends Error {}

const TWO_32 = 0x1_0000_0000;

function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v % TWO_32, off);
  buf.writeUInt32LE(Math.floor(v / TWO_32), off + 4);
}

function checkU64(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`wal: ${what} must be a non-negative safe integer, got ${v}`);
}

class PayloadReader {
  private off: number;
  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly limit: number,
  ) {
    this.off = start;
  }

  u64(what: string): number {
    this.need(8, what);
    const lo = this.buf.readUInt32LE(this.off);
    const hi = this.buf.readUInt32LE(this.off + 4);
    this.off += 8;
    const v = hi * TWO_32 + lo;
    if (!Number.isSafeInteger(v)) throw new PayloadError(`${what} ${v} is not a safe integer`);
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.off++]!;
  }
  str(what: string): string {
    this.need(2, what);
    const n = this.buf.readUInt16LE(this.off);
    this.off += 2;
    this.need(n, what);
    const s = this.buf.toString('utf8', this.off, this.off + n);
    this.off += n;
    return s;
  }
  /**
   * A copy, so decoded values never pin the (possibly huge) segment buffer.
   * Buffer.from draws small copies from Node's shared pool: one ArrayBuffer
   * per entry would make recovery of a long log mostly garbage collection.
   */
  rest(): Uint8Array {
    const out = Buffer.from(this.buf.subarray(this.off, this.limit));
    this.off = this.limit;
    return out;
  }
  end(what: string): void {
    if (this.off !== this.limit) throw new PayloadError(`${what}: ${this.limit - this.off} trailing bytes`);
  }
  private need(n: number, what: string): void {
    if (this.off + n > this.limit) throw new PayloadError(`${what}: payload too short`);
  }
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Decoders read `payload[start, end)`, so callers need not slice a view per record. */
function reader(payload: Uint8Array, start = 0, end = payload.length): PayloadReader {
  return new PayloadReader(asBuffer(payload), start, end);
}

function strBytes(s: string, what: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  if (n > 0xffff) throw new RangeError(`wal: ${what} is longer than 65535 bytes`);
  return 2 + n;
}

function writeStr(buf: Buffer, off: number, s: string): number {
  const n = buf.write(s, off + 2, 'utf8');
  buf.writeUInt16LE(n, off);
  return off + 2 + n;
}

const ENTRY_FIXED = 17;

export function decodeEntry(payload: Uint8Array, start = 0, end = payload.length): Entry {
  const r = reader(payload, start, end);
  const index = r.u64('entry index');
  const term = r.u64('entry term');
  const t = r.u8('entry type');
  if (t !== 0 && t !== 1) throw new PayloadError(`entry type ${t} is unknown`);
  return { term, index, type: t === 0 ? 'normal' : 'conf', data: r.rest() };
}

export function decodeHardState(payload: Uint8Array, start = 0, end = payload.length): HardState {
  const r = reader(payload, start, end);
  const term = r.u64('hardState term');
  const commit = r.u64('hardState commit');
  const vote = r.str('hardState vote');
  r.end('hardState');
  return { term, vote, commit };
}

function snapshotMetaBytes(meta: SnapshotMeta): number {
  let n = 8 + 8 + 4 + 4;
  for (const v of meta.confState.voters) n += strBytes(v, 'voter id');
  for (const l of meta.confState.learners) n += strBytes(l, 'learner id');
  return n;
}

function writeSnapshotMeta(buf: Buffer, off: number, meta: SnapshotMeta): number {
  writeU64(buf, off, meta.index);
  writeU64(buf, off + 8, meta.term);
  let o = off + 16;
  buf.writeUInt32LE(meta.confState.voters.length, o);
  o += 4;
  for (const v of meta.confState.voters) o = writeStr(buf, o, v);
  buf.writeUInt32LE(meta.confState.learners.length, o);
  o += 4;
  for (const l of meta.confState.learners) o = writeStr(buf, o, l);
  return o;
}

/** Standalone encoding of a SnapshotMeta (also used by snapshot files). */
export function encodeSnapshotMeta(meta: SnapshotMeta): Buffer {
  checkU64(meta.index, 'snapshot index');
  checkU64(meta.term, 'snapshot term');
  const buf = Buffer.alloc(snapshotMetaBytes(meta));
  writeSnapshotMeta(buf, 0, meta);
  return buf;
}

export function decodeSnapshotMeta(payload: Uint8Array, start = 0, end = payload.length): SnapshotMeta {
  const r = reader(payload, start, end);
  const index = r.u64('snapshot index');
  const term = r.u64('snapshot term');
  const readIds = (what: string): string[] => {
    const n = r.u32(`${what} count`);
    if (n > end - start) throw new PayloadError(`${what} count ${n} is implausible`);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(r.str(what));
    return ids;
  };
  const voters = readIds('voter id');
  const learners = readIds('learner id');
  r.end('snapshot');
  return { index, term, confState: { voters, learners } };
}

export interface CrcRecord {
  /** Segment sequence number. */
  seq: number;
  /** The index the segment's name promises: the log's lastIndex + 1 when it was created. */
  firstIndex: number;
}

export function decodeCrcRecord(payload: Uint8Array, start = 0, end = payload.length): CrcRecord {
  const r = reader(payload, start, end);
  const seq = r.u64('crc record seq');
  const firstIndex = r.u64('crc record firstIndex');
  r.end('crc record');
  return { seq, firstIndex };
}

// ---------------------------------------------------------------------------
// Batch encoder

/**
 * Accumulates records into one growable buffer; `seal` fills in the chain and
 * CRCs and hands the batch over as a single Buffer for a single write. CRCs are
 * computed at seal time, not append time, because only then is it known which
 * record starts the batch (its flag is covered by its CRC).
 */
export class RecordBuffer {
  private buf: Buffer;
  private size = 0;
  private sealed: Buffer | undefined;
  private spare: Buffer | undefined;

  // allocUnsafeSlow: never a slice of Node's shared pool, so reusing it is safe.
  constructor(private readonly initialCapacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(initialCapacity);
  }

  get length(): number {
    return this.size;
  }

  appendEntry(e: Entry): void {
    checkU64(e.index, 'entry index');
    checkU64(e.term, 'entry term');
    const off = this.begin(RecordType.entry, ENTRY_FIXED + e.data.length);
    writeU64(this.buf, off, e.index);
    writeU64(this.buf, off + 8, e.term);
    this.buf[off + 16] = e.type === 'conf' ? 1 : 0;
    this.buf.set(e.data, off + ENTRY_FIXED);
  }

  appendHardState(hs: HardState): void {
    checkU64(hs.term, 'hardState term');
    checkU64(hs.commit, 'hardState commit');
    const off = this.begin(RecordType.hardState, 16 + strBytes(hs.vote, 'vote'));
    writeU64(this.buf, off, hs.term);
    writeU64(this.buf, off + 8, hs.commit);
    writeStr(this.buf, off + 16, hs.vote);
  }

  appendSnapshot(meta: SnapshotMeta): void {
    checkU64(meta.index, 'snapshot index');
    checkU64(meta.term, 'snapshot term');
    const off = this.begin(RecordType.snapshot, snapshotMetaBytes(meta));
    writeSnapshotMeta(this.buf, off, meta);
  }

  appendMetadata(bytes: Uint8Array): void {
    const off = this.begin(RecordType.metadata, bytes.length);
    this.buf.set(bytes, off);
  }

  appendCrc(rec: CrcRecord): void {
    checkU64(rec.seq, 'segment seq');
    checkU64(rec.firstIndex, 'segment firstIndex');
    const off = this.begin(RecordType.crc, 16);
    writeU64(this.buf, off, rec.seq);
    writeU64(this.buf, off + 8, rec.firstIndex);
  }

  /**
   * Finishes the batch: marks its first record, links every record to the one
   * before (starting from `prevCrc`), computes CRCs, and resets this buffer.
   * The returned Buffer is owned by the caller.
   */
  seal(prevCrc: number): { bytes: Buffer; lastCrc: number } {
    const bytes = this.buf.subarray(0, this.size);
    let crc = prevCrc;
    let off = 0;
    while (off < bytes.length) {
      const len = bytes.readUInt32LE(off);
      bytes[off + 5] = off === 0 ? FLAG_BATCH_START : 0;
      bytes.writeUInt32LE(crc, off + 8);
      const headerCrc = crc32c(bytes, 0, off, off + 12);
      crc = crc32c(bytes, headerCrc, off + HEADER_BYTES, off + HEADER_BYTES + len);
      bytes.writeUInt32LE(crc, off + 12);
      off += frameBytes(len);
    }
    this.sealed = this.buf;
    this.buf = this.spare ?? Buffer.allocUnsafeSlow(Math.max(this.initialCapacity, Math.min(this.size, 64 * 1024 * 1024)));
    this.spare = undefined;
    this.size = 0;
    return { bytes, lastCrc: crc };
  }

  /**
   * Declares the last sealed batch written, so its memory can hold the next
   * batch after this one: two buffers alternate instead of one per batch.
   */
  recycle(): void {
    this.spare = this.sealed;
    this.sealed = undefined;
  }

  /** Reserves a frame, writes everything but the chain fields, returns the payload offset. */
  private begin(type: RecordTypeValue, payloadLength: number): number {
    if (payloadLength > MAX_PAYLOAD_BYTES) throw new RangeError(`wal: record of ${payloadLength} bytes is too large`);
    const frame = frameBytes(payloadLength);
    this.reserve(frame);
    const off = this.size;
    const b = this.buf;
    b.writeUInt32LE(payloadLength, off);
    b[off + 4] = type;
    b[off + 5] = 0;
    b.writeUInt16LE(0, off + 6);
    const padStart = off + HEADER_BYTES + payloadLength;
    b.fill(0, padStart, off + frame);
    this.size += frame;
    return off + HEADER_BYTES;
  }

  private reserve(n: number): void {
    if (this.size + n <= this.buf.length) return;
    let cap = Math.max(this.buf.length * 2, 1024);
    while (cap < this.size + n) cap *= 2;
    const next = Buffer.allocUnsafeSlow(cap);
    this.buf.copy(next, 0, 0, this.size);
    this.buf = next;
  }
}

// ---------------------------------------------------------------------------
// Frame decoding

export interface Frame {
  offset: number;
  /** Offset just past this frame's padding. */
  end: number;
  type: RecordTypeValue;
  flags: number;
  prevCrc: number;
  crc: number;
  /** Payload bounds within the segment buffer. */
  payloadStart: number;
  payloadEnd: number;
}

export type FrameResult = { ok: true; frame: Frame } | { ok: false; reason: string };

/** Parses and verifies the frame at `off` on its own (no chain check). */
export function readFrame(buf: Buffer, off: number): FrameResult {
  const available = buf.length - off;
  if (available < HEADER_BYTES) {
    return { ok: false, reason: `partial record header (${available} of ${HEADER_BYTES} bytes)` };
  }
  const len = buf.readUInt32LE(off);
  const type = buf[off + 4]!;
  const flags = buf[off + 5]!;
  const reserved = buf.readUInt16LE(off + 6);
  const prevCrc = buf.readUInt32LE(off + 8);
  const crc = buf.readUInt32LE(off + 12);
  if (len === 0 && type === 0 && flags === 0 && reserved === 0 && prevCrc === 0 && crc === 0) {
    return { ok: false, reason: 'zero-filled record header' };
  }
  if (RECORD_TYPE_NAMES[type] === undefined) return { ok: false, reason: `unknown record type ${type}` };
  if ((flags & ~FLAG_BATCH_START) !== 0 || reserved !== 0) return { ok: false, reason: 'reserved header bits are set' };
  if (len > MAX_PAYLOAD_BYTES) return { ok: false, reason: `record length ${len} is implausible` };
  const end = off + frameBytes(len);
  if (end > buf.length) {
    return { ok: false, reason: `record of ${end - off} bytes runs past end of file (${available} bytes left)` };
  }
  const payloadEnd = off + HEADER_BYTES + len;
  const actual = crc32c(buf, crc32c(buf, 0, off, off + 12), off + HEADER_BYTES, payloadEnd);
  if (actual !== crc) {
    return {
      ok: false,
      reason: `crc mismatch in ${recordTypeName(type)} record (stored ${hex32(crc)}, computed ${hex32(actual)})`,
    };
  }
  for (let i = payloadEnd; i < end; i++) {
    if (buf[i] !== 0) return { ok: false, reason: 'record padding is not zero' };
  }
  return {
    ok: true,
    frame: { offset: off, end, type: type as RecordTypeValue, flags, prevCrc, crc, payloadStart: off + HEADER_BYTES, payloadEnd },
  };
}

export function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
