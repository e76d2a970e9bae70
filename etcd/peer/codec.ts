// Wire format of the peer transport.
//
// Frame:   u32be payloadLength | u32be crc32c(payload) | payload
// Payload: u8 frameKind | body
//
// Raft messages travel as MSG frames whose body starts with its own codec
// version byte, so an encoded message is self-describing on its own (and in
// tests). Integers that grow (terms, indexes) are unsigned LEB128 varints
// limited to 2^53-1, member ids are 8 raw bytes (0 = none), and byte strings
// are a varint length then the bytes. Encoding is deterministic: one message
// has exactly one encoding.
//
// Everything that reads bytes from the network throws PeerCodecError and
// nothing else, so a hostile or corrupted stream costs a connection, never
// the process.

import { crc32c } from '../util/crc32c.js';
import type { ConfState, Entry, EntryType, Message, MessageType, NodeId, Snapshot } from '../raft/types.js';

export const MESSAGE_CODEC_VERSION = 1;
export const PEER_PROTOCOL_VERSION = 1;
export const FRAME_HEADER_BYTES = 8;
/** Large enough for a snapshot of a default-sized (quota) backend image plus slack. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

export class PeerCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeerCodecError';
  }
}

// ---------------------------------------------------------------- writer

/** Member ids in wire form, computed once per id: every message carries two. */
const ID_BYTES = new Map<NodeId, Uint8Array>();
const ID_CACHE_LIMIT = 1024;

function nodeIdBytes(id: NodeId): Uint8Array {
  const cached = ID_BYTES.get(id);
  if (cached) return cached;
  const out = new Uint8Array(8);
  if (id !== '') {
    if (!/^[0-9a-f]{16}$/.test(id) || id === '0000000000000000') {
      throw new PeerCodecError(`invalid node id: ${JSON.stringify(id)}`);
    }
    const v = BigInt(`0x${id}`);
    for (let i = 7, x = v; i >= 0; i--, x >>= 8n) out[i] = Number(x & 0xffn);
  }
  if (ID_BYTES.size >= ID_CACHE_LIMIT) ID_BYTES.clear();
  ID_BYTES.set(id, out);
  return out;
}

class Writer {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 64) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }

  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }

  u64(v: bigint): void {
    if (v < 0n || v >= 1n << 64n) throw new PeerCodecError(`u64 out of range: ${v}`);
    this.ensure(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
  }

  varint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new PeerCodecError(`not a non-negative safe integer: ${v}`);
    this.ensure(8);
    let n = v;
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    this.bytes(Buffer.from(s, 'utf8'));
  }

  nodeId(id: NodeId): void {
    this.ensure(8);
    this.buf.set(nodeIdBytes(id), this.pos);
    this.pos += 8;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

// ---------------------------------------------------------------- reader

const UTF8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  private pos = 0;

  constructor(private buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.remaining < n) throw new PeerCodecError(`truncated ${what}: need ${n} bytes, have ${this.remaining}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  bool(what: string): boolean {
    const v = this.u8(what);
    if (v > 1) throw new PeerCodecError(`invalid boolean ${v} for ${what}`);
    return v === 1;
  }

  u64(what: string): bigint {
    this.need(8, what);
    let v = 0n;
    for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(this.buf[this.pos++]!);
    return v;
  }

  varint(what: string): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8(what);
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw new PeerCodecError(`varint too large for ${what}`);
        if (b === 0 && i > 0) throw new PeerCodecError(`non-canonical varint for ${what}`);
        return result;
      }
      scale *= 0x80;
    }
    throw new PeerCodecError(`varint too long for ${what}`);
  }

  /**
   * Copies what is left of the input once, so later view() calls alias that
   * copy rather than the socket's read buffer (which may hold other frames).
   */
  detach(): void {
    const rest = new Uint8Array(this.remaining);
    rest.set(this.buf.subarray(this.pos));
    this.buf = rest;
    this.pos = 0;
  }

  /** A view into the input, no copy: call detach() first so it pins only this message's bytes. */
  view(what: string): Uint8Array {
    const len = this.varint(`${what} length`);
    this.need(len, what);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A copy, so decoded data never pins the (possibly large) frame buffer. */
  bytes(what: string): Uint8Array {
    const len = this.varint(`${what} length`);
    this.need(len, what);
    // Buffer#slice would alias; copy into a plain Uint8Array instead.
    const out = new Uint8Array(len);
    out.set(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return out;
  }

  string(what: string): string {
    const b = this.bytes(what);
    try {
      return UTF8.decode(b);
    } catch {
      throw new PeerCodecError(`invalid UTF-8 in ${what}`);
    }
  }

  nodeId(what: string): NodeId {
    this.need(8, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 8;
    // Two 32-bit halves: no BigInt on a path every message takes.
    const hi = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    const lo = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
    if (hi === 0 && lo === 0) return '';
    return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
  }

  /** A count of items each at least minBytes long; bounded so garbage cannot make us allocate. */
  count(what: string, minBytes: number): number {
    const n = this.varint(what);
    if (n * minBytes > this.remaining) throw new PeerCodecError(`${what} ${n} exceeds the remaining ${this.remaining} bytes`);
    return n;
  }

  end(what: string): void {
    if (this.remaining !== 0) throw new PeerCodecError(`${this.remaining} trailing bytes after ${what}`);
  }
}

// ---------------------------------------------------------------- messages

const TYPE_CODES: Record<MessageType, number> = {
  app: 1,
  appResp: 2,
  vote: 3,
  voteResp: 4,
  preVote: 5,
  preVoteResp: 6,
  heartbeat: 7,
  heartbeatResp: 8,
  snap: 9,
  timeoutNow: 10,
  prop: 11,
  readIndex: 12,
  readIndexResp: 13,
  transferLeader: 14,
};
const TYPES_BY_CODE = new Map<number, MessageType>(
  (Object.entries(TYPE_CODES) as Array<[MessageType, number]>).map(([t, c]) => [c, t]),
);

const ENTRY_TYPE_CODES: Record<EntryType, number> = { normal: 0, conf: 1 };

function readEntryType(r: Reader): EntryType {
  const c = r.u8('entry type');
  if (c === 0) return 'normal';
  if (c === 1) return 'conf';
  throw new PeerCodecError(`unknown entry type ${c}`);
}

function writeEntry(w: Writer, e: Entry): void {
  w.varint(e.term);
  w.varint(e.index);
  w.u8(ENTRY_TYPE_CODES[e.type]);
  w.bytes(e.data);
}

function readEntry(r: Reader): Entry {
  const term = r.varint('entry term');
  const index = r.varint('entry index');
  const type = readEntryType(r);
  const data = r.view('entry data');
  return { term, index, type, data };
}

function writeIds(w: Writer, ids: readonly NodeId[]): void {
  w.varint(ids.length);
  for (const id of ids) w.nodeId(id);
}

function readIds(r: Reader, what: string): NodeId[] {
  const n = r.count(what, 8);
  const ids: NodeId[] = [];
  for (let i = 0; i < n; i++) ids.push(r.nodeId(what));
  return ids;
}

function writeSnapshot(w: Writer, s: Snapshot): void {
  w.varint(s.index);
  w.varint(s.term);
  writeIds(w, s.confState.voters);
  writeIds(w, s.confState.learners);
  w.bytes(s.data);
}

function readSnapshot(r: Reader): Snapshot {
  const index = r.varint('snapshot index');
  const term = r.varint('snapshot term');
  const confState: ConfState = { voters: readIds(r, 'voters'), learners: readIds(r, 'learners') };
  const data = r.bytes('snapshot data');
  return { index, term, confState, data };
}

function writeMessage(w: Writer, m: Message): void {
  const code = TYPE_CODES[m.type];
  if (code === undefined) throw new PeerCodecError(`unknown message type ${JSON.stringify(m.type)}`);
  w.u8(MESSAGE_CODEC_VERSION);
  w.u8(code);
  w.nodeId(m.from);
  w.nodeId(m.to);
  w.varint(m.term);
  switch (m.type) {
    case 'app':
      w.varint(m.index);
      w.varint(m.logTerm);
      w.varint(m.commit);
      w.varint(m.entries.length);
      for (const e of m.entries) writeEntry(w, e);
      return;
    case 'appResp':
      w.varint(m.index);
      w.bool(m.reject);
      w.varint(m.rejectHint);
      w.varint(m.logTerm);
      return;
    case 'vote':
    case 'preVote':
      w.varint(m.index);
      w.varint(m.logTerm);
      w.bool(m.force);
      return;
    case 'voteResp':
    case 'preVoteResp':
      w.bool(m.reject);
      return;
    case 'heartbeat':
      w.varint(m.commit);
      w.varint(m.readRound);
      return;
    case 'heartbeatResp':
      w.varint(m.readRound);
      return;
    case 'snap':
      writeSnapshot(w, m.snapshot);
      return;
    case 'timeoutNow':
      return;
    case 'prop':
      w.varint(m.entries.length);
      for (const e of m.entries) {
        w.u8(ENTRY_TYPE_CODES[e.type]);
        w.bytes(e.data);
      }
      return;
    case 'readIndex':
      w.bytes(m.ctx);
      return;
    case 'readIndexResp':
      w.varint(m.index);
      w.bytes(m.ctx);
      return;
    case 'transferLeader':
      w.nodeId(m.transferee);
      return;
  }
}

function readMessage(r: Reader): Message {
  const version = r.u8('message version');
  if (version !== MESSAGE_CODEC_VERSION) throw new PeerCodecError(`unsupported message codec version ${version}`);
  const code = r.u8('message type');
  const type = TYPES_BY_CODE.get(code);
  if (type === undefined) throw new PeerCodecError(`unknown message type code ${code}`);
  const from = r.nodeId('from');
  const to = r.nodeId('to');
  const term = r.varint('term');
  // Object literals written out in full (no spread of a shared base): this
  // runs for every message and spreads were a visible share of the profile.
  switch (type) {
    case 'app': {
      const index = r.varint('index');
      const logTerm = r.varint('logTerm');
      const commit = r.varint('commit');
      const n = r.count('entry count', 4);
      // One copy for all entries instead of one per entry; entries alias it.
      if (n > 0) r.detach();
      const entries: Entry[] = [];
      for (let i = 0; i < n; i++) entries.push(readEntry(r));
      return { type, from, to, term, index, logTerm, entries, commit };
    }
    case 'appResp': {
      const index = r.varint('index');
      const reject = r.bool('reject');
      const rejectHint = r.varint('rejectHint');
      const logTerm = r.varint('logTerm');
      return { type, from, to, term, index, reject, rejectHint, logTerm };
    }
    case 'vote':
    case 'preVote': {
      const index = r.varint('index');
      const logTerm = r.varint('logTerm');
      const force = r.bool('force');
      return { type, from, to, term, index, logTerm, force };
    }
    case 'voteResp':
    case 'preVoteResp':
      return { type, from, to, term, reject: r.bool('reject') };
    case 'heartbeat': {
      const commit = r.varint('commit');
      const readRound = r.varint('readRound');
      return { type, from, to, term, commit, readRound };
    }
    case 'heartbeatResp':
      return { type, from, to, term, readRound: r.varint('readRound') };
    case 'snap':
      return { type, from, to, term, snapshot: readSnapshot(r) };
    case 'timeoutNow':
      return { type, from, to, term };
    case 'prop': {
      const n = r.count('entry count', 2);
      if (n > 0) r.detach();
      const entries: Array<{ type: EntryType; data: Uint8Array }> = [];
      for (let i = 0; i < n; i++) {
        const et = readEntryType(r);
        entries.push({ type: et, data: r.view('entry data') });
      }
      return { type, from, to, term, entries };
    }
    case 'readIndex':
      return { type, from, to, term, ctx: r.bytes('ctx') };
    case 'readIndexResp': {
      const index = r.varint('index');
      return { type, from, to, term, index, ctx: r.bytes('ctx') };
    }
    case 'transferLeader':
      return { type, from, to, term, transferee: r.nodeId('transferee') };
  }
}

/** Bytes a message's variable parts need, so the writer allocates once instead of doubling its way up. */
function payloadHint(m: Message): number {
  if (m.type === 'snap') return m.snapshot.data.length + 16 * (m.snapshot.confState.voters.length + m.snapshot.confState.learners.length);
  if (m.type !== 'app' && m.type !== 'prop') return 0;
  let n = 0;
  for (const e of m.entries) n += e.data.length + 24;
  return n;
}

/** Deterministic encoding of one Raft message; throws PeerCodecError for values the wire cannot carry. */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer(64 + payloadHint(m));
  writeMessage(w, m);
  return w.finish();
}

/** Decodes exactly one message; any malformation (including trailing bytes) throws PeerCodecError. */
export function decodeMessage(bytes: Uint8Array): Message {
  const r = new Reader(bytes);
  const m = readMessage(r);
  r.end('message');
  return m;
}

// ---------------------------------------------------------------- frames

export const FrameKind = {
  HELLO: 1,
  HELLO_OK: 2,
  HELLO_REJECT: 3,
  MESSAGE: 4,
  SNAPSHOT_ACK: 5,
  REQUEST: 6,
  RESPONSE_OK: 7,
  RESPONSE_ERROR: 8,
} as const;

export interface Hello {
  protocolVersion: number;
  clusterId: bigint;
  from: NodeId;
  to: NodeId;
}

export type Frame =
  | { kind: 'hello'; hello: Hello }
  | { kind: 'helloOk' }
  | { kind: 'helloReject'; reason: string }
  | { kind: 'message'; message: Message }
  /** Confirms that a snapshot message was received whole and handed to the local node. */
  | { kind: 'snapshotAck'; index: number }
  | { kind: 'request'; id: number; type: string; payload: Uint8Array }
  | { kind: 'responseOk'; id: number; payload: Uint8Array }
  /** code: a gRPC status code the handler attached, if any. */
  | { kind: 'responseError'; id: number; code: number | undefined; message: string };

function writeFrameBody(w: Writer, f: Frame): void {
  switch (f.kind) {
    case 'hello':
      w.u8(FrameKind.HELLO);
      w.u8(f.hello.protocolVersion);
      w.u64(f.hello.clusterId);
      w.nodeId(f.hello.from);
      w.nodeId(f.hello.to);
      return;
    case 'helloOk':
      w.u8(FrameKind.HELLO_OK);
      return;
    case 'helloReject':
      w.u8(FrameKind.HELLO_REJECT);
      w.string(f.reason);
      return;
    case 'message':
      w.u8(FrameKind.MESSAGE);
      writeMessage(w, f.message);
      return;
    case 'snapshotAck':
      w.u8(FrameKind.SNAPSHOT_ACK);
      w.varint(f.index);
      return;
    case 'request':
      w.u8(FrameKind.REQUEST);
      w.varint(f.id);
      w.string(f.type);
      w.bytes(f.payload);
      return;
    case 'responseOk':
      w.u8(FrameKind.RESPONSE_OK);
      w.varint(f.id);
      w.bytes(f.payload);
      return;
    case 'responseError':
      w.u8(FrameKind.RESPONSE_ERROR);
      w.varint(f.id);
      w.varint(f.code === undefined ? 0 : f.code + 1);
      w.string(f.message);
      return;
  }
}

/** Decodes a frame payload (header already stripped and checked). */
export function decodeFramePayload(payload: Uint8Array): Frame {
  const r = new Reader(payload);
  const kind = r.u8('frame kind');
  let f: Frame;
  switch (kind) {
    case FrameKind.HELLO: {
      const protocolVersion = r.u8('protocol version');
      const clusterId = r.u64('cluster id');
      const from = r.nodeId('from');
      const to = r.nodeId('to');
      f = { kind: 'hello', hello: { protocolVersion, clusterId, from, to } };
      break;
    }
    case FrameKind.HELLO_OK:
      f = { kind: 'helloOk' };
      break;
    case FrameKind.HELLO_REJECT:
      f = { kind: 'helloReject', reason: r.string('reason') };
      break;
    case FrameKind.MESSAGE:
      f = { kind: 'message', message: readMessage(r) };
      break;
    case FrameKind.SNAPSHOT_ACK:
      f = { kind: 'snapshotAck', index: r.varint('snapshot index') };
      break;
    case FrameKind.REQUEST: {
      const id = r.varint('request id');
      const type = r.string('request kind');
      f = { kind: 'request', id, type, payload: r.bytes('request payload') };
      break;
    }
    case FrameKind.RESPONSE_OK: {
      const id = r.varint('request id');
      f = { kind: 'responseOk', id, payload: r.bytes('response payload') };
      break;
    }
    case FrameKind.RESPONSE_ERROR: {
      const id = r.varint('request id');
      const code = r.varint('error code');
      f = { kind: 'responseError', id, code: code === 0 ? undefined : code - 1, message: r.string('error message') };
      break;
    }
    default:
      throw new PeerCodecError(`unknown frame kind ${kind}`);
  }
  r.end('frame');
  return f;
}

/** A complete frame (header + payload) ready for the socket. */
export function encodeFrame(f: Frame): Buffer {
  const w = new Writer(80 + (f.kind === 'message' ? payloadHint(f.message) : f.kind === 'request' || f.kind === 'responseOk' ? f.payload.length : 0));
  // Reserve the header, then fill it in once the payload length is known.
  w.u64(0n);
  writeFrameBody(w, f);
  const buf = w.finish();
  const len = buf.length - FRAME_HEADER_BYTES;
  if (len > 0xffffffff) throw new PeerCodecError(`frame too large: ${len} bytes`);
  buf.writeUInt32BE(len, 0);
  buf.writeUInt32BE(crc32c(buf, 0, FRAME_HEADER_BYTES, buf.length), 4);
  return buf;
}

/**
 * Splits a byte stream into checked frame payloads. Chunks are kept as
 * received and joined only once a whole frame is present, so a large
 * snapshot costs one copy rather than one per chunk.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the frame being assembled, once its header has arrived. */
  private want = -1;
  private wantCrc = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Returns every frame payload completed by `chunk`; throws PeerCodecError on a bad frame. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length > 0) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.buffered += chunk.length;
    }
    const out: Uint8Array[] = [];
    for (;;) {
      if (this.want < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        const header = this.take(FRAME_HEADER_BYTES);
        const len = header.readUInt32BE(0);
        if (len > this.maxFrameBytes) {
          throw new PeerCodecError(`frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes}`);
        }
        if (len === 0) throw new PeerCodecError('empty frame');
        this.want = len;
        this.wantCrc = header.readUInt32BE(4);
      }
      if (this.buffered < this.want) break;
      const payload = this.take(this.want);
      this.want = -1;
      const crc = crc32c(payload);
      if (crc !== this.wantCrc) {
        throw new PeerCodecError(`frame checksum mismatch: expected ${this.wantCrc.toString(16)}, got ${crc.toString(16)}`);
      }
      out.push(payload);
    }
    return out;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - filled);
        c.copy(out, filled, 0, k);
        filled += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}
