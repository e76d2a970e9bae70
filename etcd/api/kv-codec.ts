// Hand-written protobuf for the KV service's busiest messages: PutRequest and
// RangeRequest in, PutResponse and RangeResponse out.
//
// proto-loader's generic path turns every int64 of a response from a decimal
// string into a Long object (fromObject) before encoding it, and copies every
// bytes field of a request into a fresh Buffer (toObject). Under 1000 writers
// that was 2–3 µs and about 1 KB of short-lived heap per request, on the
// member that serves it. These codecs read and write the same wire objects
// (wire.ts) directly: requests come out as proto-loader would shape them,
// except that int64 fields are numbers when they are exact as numbers and
// bytes fields are views of the message (the store copies what it keeps).
// Every other message still goes through proto-loader, and so does a
// response whose shape these encoders do not expect.
//
// Decoding follows etcd 3.4's generated (gogo) unmarshalers: the last
// occurrence of a field wins, unknown fields are skipped (groups too, however
// deeply nested), and a known field sent with the wrong wire type fails the
// request with gogo's message, where proto-loader misread it.

import type { WireObject } from './wire.js';

const enum WireType {
  VARINT = 0,
  FIXED64 = 1,
  BYTES = 2,
  START_GROUP = 3,
  END_GROUP = 4,
  FIXED32 = 5,
}

export class ProtoDecodeError extends Error {}

const TWO_32 = 2 ** 32;

/** A cursor over one message's bytes. */
class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /**
   * A varint as a number when it has at most 7 bytes (49 bits, exact), else
   * as a bigint (at most 64 bits: longer varints are rejected, as in Go).
   */
  varint(): number | bigint {
    const buf = this.buf;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const b = buf[this.pos++];
      if (b === undefined) throw new ProtoDecodeError('truncated varint');
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    let big = BigInt(value);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      const b = buf[this.pos++];
      if (b === undefined) throw new ProtoDecodeError('truncated varint');
      // The tenth byte holds bit 63 only; Go rejects anything more.
      if (i === 9 && b > 1) throw new ProtoDecodeError('varint overflows 64 bits');
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return big;
      shift += 7n;
    }
    throw new ProtoDecodeError('varint overflows 64 bits');
  }

  /** A length or tag: a non-negative number below 2^32. */
  uint32(): number {
    const v = this.varint();
    // A padded encoding (8 or more bytes) of a small value arrives as a bigint.
    const n = typeof v === 'number' ? v : v < BigInt(TWO_32) ? Number(v) : TWO_32;
    if (n >= TWO_32) throw new ProtoDecodeError('length or tag out of range');
    return n;
  }

  bytes(): Buffer {
    const len = this.uint32();
    const end = this.pos + len;
    if (end > this.buf.length) throw new ProtoDecodeError('truncated length-delimited field');
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  /** Skips an unknown field; nested groups are followed with a stack, not recursion. */
  skip(wireType: number, field: number): void {
    if (wireType !== WireType.START_GROUP) {
      this.skipScalar(wireType);
      return;
    }
    const open = [field];
    while (open.length > 0) {
      if (this.done) throw new ProtoDecodeError('unterminated group');
      const tag = this.uint32();
      const wt = tag & 7;
      if (wt === WireType.END_GROUP) {
        if (tag >>> 3 !== open.pop()) throw new ProtoDecodeError('mismatched end group');
      } else if (wt === WireType.START_GROUP) {
        open.push(tag >>> 3);
      } else {
        this.skipScalar(wt);
      }
    }
  }

  private skipScalar(wireType: number): void {
    switch (wireType) {
      case WireType.VARINT:
        this.varint();
        return;
      case WireType.FIXED64:
        this.advance(8);
        return;
      case WireType.BYTES:
        this.bytes();
        return;
      case WireType.FIXED32:
        this.advance(4);
        return;
      default:
        throw new ProtoDecodeError(`invalid wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new ProtoDecodeError('truncated fixed-width field');
    this.pos += n;
  }
}

/** An int64 as the converters accept it: a number when exact, else its decimal string. */
function int64(v: number | bigint): number | string {
  if (typeof v === 'number') return v;
  const signed = BigInt.asIntN(64, v);
  return signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(signed) : signed.toString();
}

/** An enum (int32 on the wire): negative values arrive as 10-byte varints. */
function enumValue(v: number | bigint): number {
  return typeof v === 'number' ? v | 0 : Number(BigInt.asIntN(32, v));
}

/** A bool: any non-zero varint, however long its encoding. */
function nonZero(v: number | bigint): boolean {
  return v !== 0 && v !== 0n;
}

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * A request message's known fields by number, with their Go names for
 * gogo's error text. In both messages decoded here, fields 1 and 2 are
 * bytes and every other known field is a varint.
 */
interface MessageFields {
  readonly message: string;
  readonly goNames: Readonly<Record<number, string>>;
}

const PUT_REQUEST: MessageFields = {
  message: 'PutRequest',
  goNames: { 1: 'Key', 2: 'Value', 3: 'Lease', 4: 'PrevKv', 5: 'IgnoreValue', 6: 'IgnoreLease' },
};

const RANGE_REQUEST: MessageFields = {
  message: 'RangeRequest',
  goNames: {
    1: 'Key',
    2: 'RangeEnd',
    3: 'Limit',
    4: 'Revision',
    5: 'SortOrder',
    6: 'SortTarget',
    7: 'Serializable',
    8: 'KeysOnly',
    9: 'CountOnly',
    10: 'MinModRevision',
    11: 'MaxModRevision',
    12: 'MinCreateRevision',
    13: 'MaxCreateRevision',
  },
};

/**
 * The number of the next known field, whose value the reader is then at,
 * or 0 at the end of the message. Unknown fields are skipped; a known one
 * with the wrong wire type fails with gogo's message.
 */
function nextField(r: Reader, fields: MessageFields): number {
  while (!r.done) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0) throw new ProtoDecodeError(`proto: ${fields.message}: illegal tag 0 (wire type ${wt})`);
    const name = fields.goNames[field];
    if (name === undefined) {
      r.skip(wt, field);
      continue;
    }
    if (wt !== (field <= 2 ? WireType.BYTES : WireType.VARINT)) throw new ProtoDecodeError(`proto: wrong wireType = ${wt} for field ${name}`);
    return field;
  }
  return 0;
}

/** etcdserverpb.PutRequest, shaped as proto-loader's toObject with defaults. */
export function decodePutRequest(buf: Buffer): WireObject {
  const r = new Reader(buf);
  let key = EMPTY;
  let value = EMPTY;
  let lease: number | string = 0;
  let prevKv = false;
  let ignoreValue = false;
  let ignoreLease = false;
  for (let field = nextField(r, PUT_REQUEST); field !== 0; field = nextField(r, PUT_REQUEST)) {
    switch (field) {
      case 1: key = r.bytes(); break;
      case 2: value = r.bytes(); break;
      case 3: lease = int64(r.varint()); break;
      case 4: prevKv = nonZero(r.varint()); break;
      case 5: ignoreValue = nonZero(r.varint()); break;
      default: ignoreLease = nonZero(r.varint()); break;
    }
  }
  return { key, value, lease, prev_kv: prevKv, ignore_value: ignoreValue, ignore_lease: ignoreLease };
}

/** etcdserverpb.RangeRequest, shaped as proto-loader's toObject with defaults (enums as numbers). */
export function decodeRangeRequest(buf: Buffer): WireObject {
  const r = new Reader(buf);
  const out = {
    key: EMPTY,
    range_end: EMPTY,
    limit: 0 as number | string,
    revision: 0 as number | string,
    sort_order: 0,
    sort_target: 0,
    serializable: false,
    keys_only: false,
    count_only: false,
    min_mod_revision: 0 as number | string,
    max_mod_revision: 0 as number | string,
    min_create_revision: 0 as number | string,
    max_create_revision: 0 as number | string,
  };
  for (let field = nextField(r, RANGE_REQUEST); field !== 0; field = nextField(r, RANGE_REQUEST)) {
    switch (field) {
      case 1: out.key = r.bytes(); break;
      case 2: out.range_end = r.bytes(); break;
      case 3: out.limit = int64(r.varint()); break;
      case 4: out.revision = int64(r.varint()); break;
      case 5: out.sort_order = enumValue(r.varint()); break;
      case 6: out.sort_target = enumValue(r.varint()); break;
      case 7: out.serializable = nonZero(r.varint()); break;
      case 8: out.keys_only = nonZero(r.varint()); break;
      case 9: out.count_only = nonZero(r.varint()); break;
      case 10: out.min_mod_revision = int64(r.varint()); break;
      case 11: out.max_mod_revision = int64(r.varint()); break;
      case 12: out.min_create_revision = int64(r.varint()); break;
      default: out.max_create_revision = int64(r.varint()); break;
    }
  }
  return out;
}

// ---- responses ---------------------------------------------------------------

/**
 * An unsigned 64-bit value to write: a number when exact, else the bytes of
 * its varint, encoded once (member and cluster IDs are above 2^53 and are
 * the same in every response header).
 */
type U64 = number | Uint8Array;

/**
 * An int64 or uint64 of a wire object (a decimal string, a number or a
 * bigint) as the unsigned value its varint carries, or undefined when it is
 * none of those: the caller then leaves the message to proto-loader.
 */
function u64(v: unknown): U64 | undefined {
  if (typeof v === 'string') {
    const n = v.length;
    if (n > 0 && n <= 15) {
      let x = 0;
      for (let i = 0; i < n; i++) {
        const d = v.charCodeAt(i) - 48;
        if (d < 0 || d > 9) return bigU64(v);
        x = x * 10 + d;
      }
      return x;
    }
    return bigU64(v);
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) return undefined;
    return v >= 0 ? v : bigVarint(BigInt(v));
  }
  if (typeof v === 'bigint') {
    if (v < INT64_MIN || v > UINT64_MAX) return undefined;
    return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : bigVarint(v);
  }
  return undefined;
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** Decimal strings too long to be exact numbers, with what they encode to. Bounded: cleared when full. */
const bigCache = new Map<string, U64 | undefined>();
const BIG_CACHE_MAX = 256;

function bigU64(s: string): U64 | undefined {
  const hit = bigCache.get(s);
  if (hit !== undefined || bigCache.has(s)) return hit;
  let out: U64 | undefined;
  if (/^-?\d+$/.test(s)) {
    const b = BigInt(s);
    if (b >= INT64_MIN && b <= UINT64_MAX) out = b >= 0n && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : bigVarint(b);
  }
  if (bigCache.size >= BIG_CACHE_MAX) bigCache.clear();
  bigCache.set(s, out);
  return out;
}

/** The varint of a value's low 64 bits (two's complement for negatives). */
function bigVarint(b: bigint): Uint8Array {
  let v = BigInt.asUintN(64, b);
  const out: number[] = [];
  while (v >= 128n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function varintSize(v: U64): number {
  if (typeof v !== 'number') return v.length;
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, pos: number, v: U64): number {
  if (typeof v !== 'number') {
    buf.set(v, pos);
    return pos + v.length;
  }
  while (v >= 128) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/** Size of an optional varint field (tags here are all one byte): nothing when zero. */
function intFieldSize(v: U64): number {
  return v === 0 ? 0 : 1 + varintSize(v);
}

function bytesFieldSize(b: Uint8Array): number {
  return b.length === 0 ? 0 : 1 + varintSize(b.length) + b.length;
}

function messageFieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

function writeIntField(buf: Buffer, pos: number, field: number, v: U64): number {
  if (v === 0) return pos;
  buf[pos++] = field << 3;
  return writeVarint(buf, pos, v);
}

function writeBytesField(buf: Buffer, pos: number, field: number, b: Uint8Array): number {
  if (b.length === 0) return pos;
  buf[pos++] = (field << 3) | WireType.BYTES;
  pos = writeVarint(buf, pos, b.length);
  buf.set(b, pos);
  return pos + b.length;
}

function writeMessageHead(buf: Buffer, pos: number, field: number, len: number): number {
  buf[pos++] = (field << 3) | WireType.BYTES;
  return writeVarint(buf, pos, len);
}

interface Header {
  cluster: U64;
  member: U64;
  revision: U64;
  term: U64;
  size: number;
}

interface Kv {
  key: Uint8Array;
  create: U64;
  mod: U64;
  version: U64;
  value: Uint8Array;
  lease: U64;
  size: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function header(v: unknown): Header | undefined {
  if (!isObject(v)) return undefined;
  const cluster = u64(v['cluster_id']);
  const member = u64(v['member_id']);
  const revision = u64(v['revision']);
  const term = u64(v['raft_term']);
  if (cluster === undefined || member === undefined || revision === undefined || term === undefined) return undefined;
  const size = intFieldSize(cluster) + intFieldSize(member) + intFieldSize(revision) + intFieldSize(term);
  return { cluster, member, revision, term, size };
}

function keyValue(v: unknown): Kv | undefined {
  if (!isObject(v)) return undefined;
  const key = v['key'];
  const value = v['value'];
  if (!(key instanceof Uint8Array) || !(value instanceof Uint8Array)) return undefined;
  const create = u64(v['create_revision']);
  const mod = u64(v['mod_revision']);
  const version = u64(v['version']);
  const lease = u64(v['lease']);
  if (create === undefined || mod === undefined || version === undefined || lease === undefined) return undefined;
  const size =
    bytesFieldSize(key) + intFieldSize(create) + intFieldSize(mod) + intFieldSize(version) + bytesFieldSize(value) + intFieldSize(lease);
  return { key, create, mod, version, value, lease, size };
}

function writeHeader(buf: Buffer, pos: number, h: Header): number {
  pos = writeMessageHead(buf, pos, 1, h.size);
  pos = writeIntField(buf, pos, 1, h.cluster);
  pos = writeIntField(buf, pos, 2, h.member);
  pos = writeIntField(buf, pos, 3, h.revision);
  return writeIntField(buf, pos, 4, h.term);
}

function writeKv(buf: Buffer, pos: number, field: number, kv: Kv): number {
  pos = writeMessageHead(buf, pos, field, kv.size);
  pos = writeBytesField(buf, pos, 1, kv.key);
  pos = writeIntField(buf, pos, 2, kv.create);
  pos = writeIntField(buf, pos, 3, kv.mod);
  pos = writeIntField(buf, pos, 4, kv.version);
  pos = writeBytesField(buf, pos, 5, kv.value);
  return writeIntField(buf, pos, 6, kv.lease);
}

const PUT_RESPONSE_FIELDS: ReadonlySet<string> = new Set(['header', 'prev_kv']);
const RANGE_RESPONSE_FIELDS: ReadonlySet<string> = new Set(['header', 'kvs', 'more', 'count']);

/**
 * Whether `res` has no field besides `known`: a field a handler adds later
 * must not vanish from the wire, so such a response goes to proto-loader.
 */
function onlyFields(res: WireObject, known: ReadonlySet<string>): boolean {
  for (const k in res) if (!known.has(k)) return false;
  return true;
}

/** etcdserverpb.PutResponse, or undefined when `res` is not shaped as the Put handler answers. */
export function encodePutResponse(res: WireObject): Buffer | undefined {
  if (!onlyFields(res, PUT_RESPONSE_FIELDS)) return undefined;
  const h = header(res['header']);
  if (h === undefined) return undefined;
  const prev = res['prev_kv'];
  let kv: Kv | undefined;
  if (prev !== null && prev !== undefined) {
    kv = keyValue(prev);
    if (kv === undefined) return undefined;
  }
  const size = messageFieldSize(h.size) + (kv === undefined ? 0 : messageFieldSize(kv.size));
  const buf = Buffer.allocUnsafe(size);
  let pos = writeHeader(buf, 0, h);
  if (kv !== undefined) pos = writeKv(buf, pos, 2, kv);
  return pos === size ? buf : undefined;
}

/** etcdserverpb.RangeResponse, or undefined when `res` is not shaped as the Range handler answers. */
export function encodeRangeResponse(res: WireObject): Buffer | undefined {
  if (!onlyFields(res, RANGE_RESPONSE_FIELDS)) return undefined;
  const h = header(res['header']);
  const list = res['kvs'];
  const more = res['more'];
  const count = u64(res['count']);
  if (h === undefined || !Array.isArray(list) || typeof more !== 'boolean' || count === undefined) return undefined;
  const kvs: Kv[] = [];
  let size = messageFieldSize(h.size) + (more ? 2 : 0) + intFieldSize(count);
  for (const item of list) {
    const kv = keyValue(item);
    if (kv === undefined) return undefined;
    kvs.push(kv);
    size += messageFieldSize(kv.size);
  }
  const buf = Buffer.allocUnsafe(size);
  let pos = writeHeader(buf, 0, h);
  for (const kv of kvs) pos = writeKv(buf, pos, 2, kv);
  if (more) {
    buf[pos++] = 3 << 3;
    buf[pos++] = 1;
  }
  pos = writeIntField(buf, pos, 4, count);
  return pos === size ? buf : undefined;
}
