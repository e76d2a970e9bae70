// HTTP/2 frame layout (RFC 9113 section 4): a 9-byte header of 24-bit
// length, type, flags and a 31-bit stream id, then the payload. Constants for
// the frame types, flags, settings and error codes the server uses.

export const FRAME_HEADER_BYTES = 9;

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 1,
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
  MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

export const ErrorCode = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

/** The protocol's defaults, in force until a SETTINGS frame says otherwise. */
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME = 16_384;
export const MAX_WINDOW = 2 ** 31 - 1;
export const MAX_FRAME_LIMIT = 2 ** 24 - 1;

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function writeFrameHeader(buf: Buffer, off: number, length: number, type: number, flags: number, streamId: number): void {
  buf[off] = length >>> 16;
  buf[off + 1] = (length >>> 8) & 0xff;
  buf[off + 2] = length & 0xff;
  buf[off + 3] = type;
  buf[off + 4] = flags;
  buf.writeUInt32BE(streamId, off + 5);
}

/** A whole frame whose payload is a list of 32-bit words (WINDOW_UPDATE, RST_STREAM, GOAWAY without debug data). */
export function wordsFrame(type: number, flags: number, streamId: number, words: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4 * words.length);
  writeFrameHeader(buf, 0, 4 * words.length, type, flags, streamId);
  for (let i = 0; i < words.length; i++) buf.writeUInt32BE(words[i]!, FRAME_HEADER_BYTES + 4 * i);
  return buf;
}

/** A SETTINGS frame with the given (id, value) pairs; none makes the empty one, or an ACK with `ack`. */
export function settingsFrame(pairs: ReadonlyArray<readonly [number, number]>, ack = false): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 6 * pairs.length);
  writeFrameHeader(buf, 0, 6 * pairs.length, FrameType.SETTINGS, ack ? Flag.ACK : 0, 0);
  pairs.forEach(([id, value], i) => {
    buf.writeUInt16BE(id, FRAME_HEADER_BYTES + 6 * i);
    buf.writeUInt32BE(value, FRAME_HEADER_BYTES + 6 * i + 2);
  });
  return buf;
}

/**
 * Bytes a header block takes as frames: a HEADERS frame and as many
 * CONTINUATION frames as the peer's frame size limit needs.
 */
export function headerFramesLength(blockLength: number, maxFrame: number): number {
  const frames = Math.max(1, Math.ceil(blockLength / maxFrame));
  return frames * FRAME_HEADER_BYTES + blockLength;
}

/** Writes a header block as HEADERS (+ CONTINUATION) frames at `off`; returns the offset after them. */
export function writeHeaderFrames(buf: Buffer, off: number, streamId: number, block: Uint8Array, endStream: boolean, maxFrame: number): number {
  let pos = 0;
  let first = true;
  do {
    const len = Math.min(maxFrame, block.length - pos);
    const last = pos + len === block.length;
    const type = first ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flag.END_HEADERS : 0) | (first && endStream ? Flag.END_STREAM : 0);
    writeFrameHeader(buf, off, len, type, flags, streamId);
    buf.set(block.subarray(pos, pos + len), off + FRAME_HEADER_BYTES);
    off += FRAME_HEADER_BYTES + len;
    pos += len;
    first = false;
  } while (pos < block.length);
  return off;
}
