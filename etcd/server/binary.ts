// A minimal deterministic binary writer/reader: zigzag varints for numbers,
// fixed 8-byte big-endian for 64-bit IDs, length-prefixed byte strings. Used
// for log entries and state-machine images, where the same value must always
// produce the same bytes (replicas compare hashes of what they applied).

/**
 * Writes into one growing buffer: no allocation per field, one copy of each
 * byte string. Every write of a put proposal goes through here, so the old
 * list of per-field Buffers (then concatenated) was garbage on the hot path.
 */
export class BinaryWriter {
  private buf: Buffer;
  private len = 0;

  /** sizeHint: the expected encoded size; a good guess means the buffer never grows. */
  constructor(sizeHint = 64) {
    this.buf = Buffer.allocUnsafe(Math.max(16, sizeHint));
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Non-negative integer ≤ 2^53. */
  uvarint(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`uvarint out of range: ${n}`);
    this.room(8);
    const buf = this.buf;
    let v = n;
    while (v >= 0x80) {
      buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[this.len++] = v;
    return this;
  }

  /** Any safe integer (zigzag). */
  varint(n: number): this {
    if (!Number.isSafeInteger(n)) throw new RangeError(`varint out of range: ${n}`);
    return this.uvarint(n >= 0 ? n * 2 : -n * 2 - 1);
  }

  u8(n: number): this {
    this.room(1);
    this.buf[this.len++] = n & 0xff;
    return this;
  }

  bool(b: boolean): this {
    return this.u8(b ? 1 : 0);
  }

  /** 64-bit two's complement, big-endian (lease IDs are int64, member IDs uint64: both fit). */
  int64(v: bigint): this {
    this.room(8);
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, v), this.len);
    this.len += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.uvarint(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  string(s: string): this {
    return this.bytes(Buffer.from(s, 'utf8'));
  }

  strings(list: readonly string[]): this {
    this.uvarint(list.length);
    for (const s of list) this.string(s);
    return this;
  }

  /**
   * The bytes written so far. Later writes never change them. They share the
   * writer's buffer unless most of it would be wasted (a bad size hint), in
   * which case they are copied out so the slack is not kept alive with them.
   */
  finish(): Buffer {
    const slack = this.buf.length - this.len;
    if (slack > 4096 && slack > this.len) return Buffer.from(this.buf.subarray(0, this.len));
    return this.buf.subarray(0, this.len);
  }
}

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export class BinaryReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DecodeError(`truncated input at byte ${this.pos} (need ${n})`);
  }

  uvarint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw new DecodeError('varint out of range');
        return result;
      }
      mul *= 0x80;
    }
    throw new DecodeError('varint too long');
  }

  varint(): number {
    const z = this.uvarint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new DecodeError(`bad boolean ${v}`);
    return v === 1;
  }

  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uint64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(): Buffer {
    const n = this.uvarint();
    this.need(n);
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return b;
  }

  /**
   * Like bytes(), without the copy: a view into the input. Only for values
   * that are copied or dropped before the input is: a retained view keeps
   * the whole input buffer alive.
   */
  view(): Buffer {
    const n = this.uvarint();
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  string(): string {
    return this.bytes().toString('utf8');
  }

  strings(): string[] {
    const n = this.uvarint();
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.string());
    return out;
  }

  /** Picks one of a fixed list by index, rejecting unknown values. */
  choice<T>(options: readonly T[], what: string): T {
    const i = this.u8();
    const v = options[i];
    if (v === undefined) throw new DecodeError(`unknown ${what} ${i}`);
    return v;
  }
}

export function choiceIndex<T>(options: readonly T[], value: T): number {
  const i = options.indexOf(value);
  if (i < 0) throw new RangeError(`value not encodable: ${String(value)}`);
  return i;
}
