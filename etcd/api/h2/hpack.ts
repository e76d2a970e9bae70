/**
 * HPACK (RFC 7541) header compression for the server side of the HTTP/2
 * transport: a decoder with a dynamic table for request header blocks, and a
 * stateless encoder for response headers and trailers.
 *
 * Names and values are latin1 strings (one char per byte) both ways.
 */
import { huffmanDecode, huffmanMaxDecodedLength } from './huffman.js';

/** Malformed header block: the caller treats it as a connection error (COMPRESSION_ERROR). */
export class HpackError extends Error {
  override name = 'HpackError';
}

/** RFC 7541 Appendix A, index 1..61 (index 0 is unused). */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = 61;
// Split into two flat arrays so that an indexed lookup is a plain load.
const STATIC_NAMES: readonly string[] = STATIC_TABLE.map(([name]) => name);
const STATIC_VALUES: readonly string[] = STATIC_TABLE.map(([, value]) => value);

/** RFC 7541 4.1: each dynamic table entry costs its name, its value and 32 octets. */
const ENTRY_OVERHEAD = 32;
/** The dynamic table size every HPACK decoder starts with (SETTINGS_HEADER_TABLE_SIZE's default). */
export const DEFAULT_TABLE_SIZE = 4096;
/** Integers above this are rejected: no index, length or table size can be that large. */
const MAX_INTEGER = 0x7fffffff;
/** Continuation bytes of an integer beyond 5 (7 bits each, 35 bits) are rejected. */
const MAX_INTEGER_SHIFT = 28;

/**
 * Scratch space for Huffman-decoded strings, shared by all decoders (decoding
 * is synchronous and the bytes are turned into a string at once). It grows
 * with the largest string seen, up to a bound past which a one-off buffer is
 * used so that one huge header does not pin memory.
 */
const SCRATCH_KEEP_LIMIT = 64 * 1024;
let scratch = Buffer.allocUnsafe(1024);

function huffmanScratch(size: number): Buffer {
  if (size <= scratch.length) return scratch;
  if (size > SCRATCH_KEEP_LIMIT) return Buffer.allocUnsafe(size);
  scratch = Buffer.allocUnsafe(Math.max(size, scratch.length * 2));
  return scratch;
}

const EMPTY = Buffer.alloc(0);

/** Decodes the header blocks of one HTTP/2 connection, in order. */
export class HpackDecoder {
  /** The SETTINGS_HEADER_TABLE_SIZE we advertise: the largest size an update may set. */
  private readonly maxTableSize: number;
  /** Current table size limit, as last set by the peer's encoder. */
  private capacity: number;
  /** Sum of the entry sizes currently in the table. */
  private size = 0;

  // The dynamic table as a ring of parallel arrays whose length is a power of
  // two. `head` is the slot the next insert goes to; the newest entry
  // (index 62) is at head-1, older ones before it.
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private mask = 15;
  private head = 0;
  private count = 0;

  // The block being decoded: its bytes, a Buffer view of them for latin1
  // slices, the read position and the end.
  private block: Uint8Array = EMPTY;
  private view: Buffer = EMPTY;
  private pos = 0;
  private end = 0;

  /** maxTableSize: the SETTINGS_HEADER_TABLE_SIZE we advertise. */
  constructor(maxTableSize = DEFAULT_TABLE_SIZE) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INTEGER) {
      throw new RangeError(`invalid HPACK table size ${maxTableSize}`);
    }
    this.maxTableSize = maxTableSize;
    this.capacity = maxTableSize;
  }

  /**
   * Decodes one complete header block (all fragments joined). Calls onHeader
   * for each field in order. Throws HpackError on malformed input; the
   * dynamic table stays consistent for every block that decodes.
   */
  decode(block: Uint8Array, onHeader: (name: string, value: string) => void): void {
    this.block = block;
    this.view = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    this.pos = 0;
    this.end = block.length;
    try {
      this.decodeFields(onHeader);
    } finally {
      // Do not keep the caller's buffer alive between blocks.
      this.block = EMPTY;
      this.view = EMPTY;
    }
  }

  private decodeFields(onHeader: (name: string, value: string) => void): void {
    const block = this.block;
    let fieldSeen = false;
    while (this.pos < this.end) {
      const first = block[this.pos] as number;
      if (first >= 0x80) {
        // 6.1 Indexed Header Field.
        const index = this.readInteger(0x7f);
        if (index <= STATIC_COUNT) {
          if (index === 0) throw new HpackError('HPACK: index 0');
          onHeader(STATIC_NAMES[index] as string, STATIC_VALUES[index] as string);
        } else {
          const slot = this.slotOf(index);
          onHeader(this.names[slot] as string, this.values[slot] as string);
        }
        fieldSeen = true;
      } else if (first >= 0x40) {
        // 6.2.1 Literal Header Field with Incremental Indexing.
        const name = this.readName(0x3f);
        const value = this.readString();
        this.insert(name, value);
        onHeader(name, value);
        fieldSeen = true;
      } else if (first >= 0x20) {
        // 6.3 Dynamic Table Size Update: only before the first field (4.2).
        if (fieldSeen) throw new HpackError('HPACK: dynamic table size update after a header field');
        const size = this.readInteger(0x1f);
        if (size > this.maxTableSize) {
          throw new HpackError(`HPACK: dynamic table size update to ${size} above ${this.maxTableSize}`);
        }
        this.capacity = size;
        this.evictUntil(size);
      } else {
        // 6.2.2 without indexing (0000) and 6.2.3 never indexed (0001) decode
        // alike; the never-indexed mark only matters to intermediaries.
        const name = this.readName(0x0f);
        const value = this.readString();
        onHeader(name, value);
        fieldSeen = true;
      }
    }
  }

  /** Ring slot of dynamic table index `index` (> 61); HpackError when past the table. */
  private slotOf(index: number): number {
    const age = index - STATIC_COUNT - 1;
    if (age >= this.count) throw new HpackError(`HPACK: index ${index} past the table`);
    return (this.head - 1 - age) & this.mask;
  }

  /** Reads a literal field's name: an index (static or dynamic) or, for index 0, a string. */
  private readName(prefixMask: number): string {
    const index = this.readInteger(prefixMask);
    if (index === 0) return this.readString();
    if (index <= STATIC_COUNT) return STATIC_NAMES[index] as string;
    return this.names[this.slotOf(index)] as string;
  }

  /**
   * 5.1 Integer Representation, with an N-bit prefix given as its mask. The
   * caller has checked that the first byte is there.
   */
  private readInteger(prefixMask: number): number {
    const block = this.block;
    let pos = this.pos;
    let value = (block[pos++] as number) & prefixMask;
    if (value === prefixMask) {
      for (let shift = 0; ; shift += 7) {
        if (shift > MAX_INTEGER_SHIFT) throw new HpackError('HPACK: integer has too many continuation bytes');
        if (pos >= this.end) throw new HpackError('HPACK: truncated integer');
        const b = block[pos++] as number;
        value += (b & 0x7f) * 2 ** shift;
        if (value > MAX_INTEGER) throw new HpackError('HPACK: integer overflow');
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    return value;
  }

  /** 5.2 String Literal Representation, plain or Huffman-coded. */
  private readString(): string {
    if (this.pos >= this.end) throw new HpackError('HPACK: truncated string length');
    const huffman = (this.block[this.pos] as number) >= 0x80;
    const length = this.readInteger(0x7f);
    const start = this.pos;
    // Checked before anything is allocated: a claimed length is bounded by
    // the bytes actually present.
    if (length > this.end - start) throw new HpackError('HPACK: truncated string');
    const stop = start + length;
    this.pos = stop;
    if (!huffman) return this.view.toString('latin1', start, stop);
    const out = huffmanScratch(huffmanMaxDecodedLength(length));
    const n = huffmanDecode(this.block, start, stop, out);
    if (n < 0) throw new HpackError('HPACK: invalid Huffman-coded string');
    return out.toString('latin1', 0, n);
  }

  /** 4.4: adds a field as the newest entry, evicting the oldest ones to make room. */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.capacity) {
      // An entry larger than the table empties it and is not added.
      this.evictUntil(0);
      return;
    }
    this.evictUntil(this.capacity - entrySize);
    if (this.count === this.names.length) this.grow();
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.size += entrySize;
  }

  /** Evicts the oldest entries until the table's size is at most `limit`. */
  private evictUntil(limit: number): void {
    while (this.size > limit) {
      const slot = (this.head - this.count) & this.mask;
      const name = this.names[slot] as string;
      const value = this.values[slot] as string;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
      // Release the strings: the slot is free now.
      this.names[slot] = '';
      this.values[slot] = '';
      this.count--;
    }
  }

  /** Doubles the ring, laying the entries out oldest first from slot 0. */
  private grow(): void {
    const length = this.names.length * 2;
    const names = new Array<string>(length).fill('');
    const values = new Array<string>(length).fill('');
    for (let age = this.count - 1, i = 0; age >= 0; age--, i++) {
      const slot = (this.head - 1 - age) & this.mask;
      names[i] = this.names[slot] as string;
      values[i] = this.values[slot] as string;
    }
    this.names = names;
    this.values = values;
    this.mask = length - 1;
    this.head = this.count;
  }
}

/**
 * Static table lookup for the encoder: name -> lowest index with that name,
 * and the index of each (name, value) pair.
 */
interface StaticName {
  index: number;
  values: Map<string, number>;
}

const STATIC_BY_NAME: ReadonlyMap<string, StaticName> = (() => {
  const byName = new Map<string, StaticName>();
  for (let index = 1; index <= STATIC_COUNT; index++) {
    const name = STATIC_NAMES[index] as string;
    const value = STATIC_VALUES[index] as string;
    let entry = byName.get(name);
    if (entry === undefined) {
      entry = { index, values: new Map() };
      byName.set(name, entry);
    }
    if (!entry.values.has(value)) entry.values.set(value, index);
  }
  return byName;
})();

/** Bytes needed at most for an integer with a prefix of at least 4 bits (5 continuation bytes). */
const MAX_INTEGER_BYTES = 6;

/**
 * Encodes fields without the dynamic table and without Huffman: indexed when
 * (name,value) is in the static table, literal-without-indexing with an
 * indexed name when the name is, else literal-without-indexing with a
 * literal name.
 */
export function encodeHeaders(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  // One pass into a buffer sized for the worst case; the result is a view of
  // the bytes written. Strings write one byte per char (latin1).
  let bound = 0;
  for (const [name, value] of fields) bound += 3 * MAX_INTEGER_BYTES + name.length + value.length;
  const out = Buffer.allocUnsafe(bound);
  let pos = 0;
  for (const [name, value] of fields) {
    const known = STATIC_BY_NAME.get(name);
    if (known !== undefined) {
      const exact = known.values.get(value);
      if (exact !== undefined) {
        pos = writeInteger(out, pos, 0x80, 7, exact);
        continue;
      }
      pos = writeInteger(out, pos, 0x00, 4, known.index);
    } else {
      out[pos++] = 0x00;
      pos = writeString(out, pos, name);
    }
    pos = writeString(out, pos, value);
  }
  return out.subarray(0, pos);
}

/** 6.3: a dynamic table size update, which an encoder must send after the decoder's table shrank. */
export function encodeTableSizeUpdate(size: number): Buffer {
  const out = Buffer.allocUnsafe(6);
  return out.subarray(0, writeInteger(out, 0, 0x20, 5, size));
}

/** 5.1: writes `value` with an N-bit prefix, the byte's other bits being `flags`. */
function writeInteger(out: Buffer, pos: number, flags: number, prefixBits: number, value: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | max;
  let rest = value - max;
  while (rest >= 0x80) {
    out[pos++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[pos++] = rest;
  return pos;
}

/** 5.2: a plain (not Huffman-coded) string literal. */
function writeString(out: Buffer, pos: number, s: string): number {
  pos = writeInteger(out, pos, 0x00, 7, s.length);
  return pos + out.write(s, pos, 'latin1');
}
