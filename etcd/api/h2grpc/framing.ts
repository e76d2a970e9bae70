// gRPC's length-prefixed message framing over HTTP/2 DATA frames: each
// message is a 1-byte compressed flag, a 4-byte big-endian length and the
// bytes. DATA frames split and join messages arbitrarily, so the decoder keeps
// state across chunks.

import { gunzipSync, inflateSync } from 'node:zlib';
import { GrpcCode } from '../../errors.js';

export interface Status {
  code: number;
  details: string;
}

/** A message as it came off the wire, before decompression. */
export interface RawMessage {
  compressed: boolean;
  body: Buffer;
}

export const HEADER_BYTES = 5;

/** A serialized message behind an uncompressed frame header, in one buffer (how a client frames a request). */
export function frameMessage(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out[0] = 0;
  out.writeUInt32BE(body.length, 1);
  out.set(body, HEADER_BYTES);
  return out;
}

/** Header of an uncompressed message of `len` bytes. */
export function frameHeader(len: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES);
  out[0] = 0;
  out.writeUInt32BE(len, 1);
  return out;
}

/** grpc-go's wording, which etcd clients see from real etcd. */
export function tooLargeStatus(len: number, max: number): Status {
  return { code: GrpcCode.RESOURCE_EXHAUSTED, details: `grpc: received message larger than max (${len} vs. ${max})` };
}

/**
 * Incremental decoder. A message that lies inside one chunk is handed out as a
 * view of that chunk (no copy); one split across chunks is gathered in a list
 * and joined once. The declared length is checked against the limit as soon
 * as the header is complete, so an oversized body is never buffered.
 */
export class MessageDecoder {
  /** Header bytes of a header split across chunks (rare). */
  private head: Buffer | null = null;
  private headLen = 0;
  /** -1 while reading a header, else bytes of the current body still missing. */
  private need = -1;
  private compressed = false;
  private bodyLen = 0;
  /**
   * The body of a message split across chunks, copied as it arrives into a
   * buffer that doubles up to the declared length: memory follows the bytes
   * received, not the length a header claims, and a body sent in tiny DATA
   * frames costs its bytes rather than a view object per frame.
   */
  private acc: Buffer | null = null;
  private accLen = 0;

  constructor(private readonly maxLength: number) {}

  /** True when the bytes seen so far end exactly on a message boundary. */
  get idle(): boolean {
    return this.need === -1 && this.headLen === 0;
  }

  /**
   * Feeds one chunk; calls `onMessage` for every complete message in order.
   * Returns an error status (the stream is then unusable) or null.
   */
  push(chunk: Buffer, onMessage: (m: RawMessage) => void): Status | null {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.need === -1) {
        if (this.headLen === 0 && n - pos >= HEADER_BYTES) {
          this.compressed = chunk[pos] !== 0;
          this.bodyLen = chunk.readUInt32BE(pos + 1);
          pos += HEADER_BYTES;
        } else {
          const head = (this.head ??= Buffer.allocUnsafe(HEADER_BYTES));
          const take = Math.min(HEADER_BYTES - this.headLen, n - pos);
          chunk.copy(head, this.headLen, pos, pos + take);
          this.headLen += take;
          pos += take;
          if (this.headLen < HEADER_BYTES) return null;
          this.headLen = 0;
          this.compressed = head[0] !== 0;
          this.bodyLen = head.readUInt32BE(1);
        }
        if (this.bodyLen > this.maxLength) return tooLargeStatus(this.bodyLen, this.maxLength);
        this.need = this.bodyLen;
        if (this.need === 0) {
          this.need = -1;
          onMessage({ compressed: this.compressed, body: Buffer.alloc(0) });
          continue;
        }
      }
      const avail = n - pos;
      if (this.acc === null && avail >= this.need) {
        const end = pos + this.need;
        this.need = -1;
        onMessage({ compressed: this.compressed, body: chunk.subarray(pos, end) });
        pos = end;
        continue;
      }
      const take = Math.min(avail, this.need);
      this.append(chunk, pos, take);
      this.need -= take;
      pos += take;
      if (this.need === 0) {
        const body = this.acc!.subarray(0, this.accLen);
        this.acc = null;
        this.accLen = 0;
        this.need = -1;
        onMessage({ compressed: this.compressed, body });
      }
    }
    return null;
  }

  /** Copies `take` bytes of `chunk` from `pos` into the body being gathered. */
  private append(chunk: Buffer, pos: number, take: number): void {
    const need = this.accLen + take;
    let acc = this.acc;
    if (acc === null || need > acc.length) {
      const size = Math.min(this.bodyLen, Math.max(need, 2 * (acc?.length ?? 0), 4096));
      const grown = Buffer.allocUnsafe(size);
      if (acc !== null) acc.copy(grown, 0, 0, this.accLen);
      this.acc = acc = grown;
    }
    chunk.copy(acc, this.accLen, pos, pos + take);
    this.accLen = need;
  }
}

/** The request encodings grpc clients may use; anything else is refused up front. */
export function supportedEncoding(enc: string | undefined): boolean {
  return enc === undefined || enc === 'identity' || enc === 'gzip' || enc === 'deflate';
}

/**
 * The uncompressed bytes of a message, or an error status. Decompression is
 * capped at the receive limit so a small compressed body cannot expand
 * without bound.
 */
export function messageBytes(m: RawMessage, encoding: string | undefined, maxLength: number): Buffer | Status {
  if (!m.compressed) return m.body;
  if (encoding === undefined || encoding === 'identity') {
    return { code: GrpcCode.INTERNAL, details: 'grpc: compressed flag set with identity or empty encoding' };
  }
  try {
    const opts = { maxOutputLength: Math.max(1, maxLength) };
    if (encoding === 'gzip') return gunzipSync(m.body, opts);
    if (encoding === 'deflate') return inflateSync(m.body, opts);
  } catch (err) {
    if (err instanceof RangeError || (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      return { code: GrpcCode.RESOURCE_EXHAUSTED, details: `grpc: received message after decompression larger than max (${maxLength})` };
    }
    return { code: GrpcCode.INTERNAL, details: `grpc: failed to decompress the received message: ${(err as Error).message}` };
  }
  return { code: GrpcCode.UNIMPLEMENTED, details: `grpc: Decompressor is not installed for grpc-encoding "${encoding}"` };
}

const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * Milliseconds of a grpc-timeout header ("1 to 8 digits and a unit"), or
 * undefined when it is malformed.
 */
export function parseTimeout(value: string): number | undefined {
  const len = value.length;
  if (len < 2 || len > 9) return undefined;
  const unit = TIMEOUT_UNIT_MS[value[len - 1]!];
  if (unit === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < len - 1; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return n * unit;
}
