// The server side of one HTTP/2 connection (RFC 9113), as much of it as gRPC
// needs: streams opened by the client, header blocks through HPACK, DATA in
// both directions under flow control, SETTINGS, PING, RST_STREAM and GOAWAY.
// No push, no priorities, no server-initiated streams.
//
// Why not node:http2: it answers a gRPC call in two socket writes (its
// sendTrailers defers the trailers with setImmediate), and every stream is a
// Duplex with its events. Here the frames a connection produces while one
// callback and its microtasks run leave in one write (process.nextTick), and
// a unary response that fits the client's windows and frame size is one
// buffer.

import type { IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  headerFramesLength,
  MAX_FRAME_LIMIT,
  MAX_WINDOW,
  Setting,
  settingsFrame,
  wordsFrame,
  writeFrameHeader,
  writeHeaderFrames,
} from './frames.js';
import { DEFAULT_TABLE_SIZE, encodeTableSizeUpdate, HpackDecoder, HpackError } from './hpack.js';

export interface H2ConnectionOptions {
  /** Receive window granted to each stream and to the connection. */
  windowSize: number;
  /**
   * Largest header block accepted, all fragments together; also the
   * SETTINGS_MAX_HEADER_LIST_SIZE we announce and the bound on a decoded
   * header list (name + value + 32 bytes per field).
   */
  maxHeaderBlock: number;
  /** A request's headers are complete; the stream's callbacks must be set before returning. */
  onStream(stream: H2Stream): void;
  /** The connection is gone (closed by either side or failed). */
  onClose(conn: H2Connection): void;
}

/** Bytes queued for the socket beyond which writers are told to wait. */
const HIGH_WATER = 1 << 20;
/** Below this many bytes a flush joins its frames into one buffer instead of a corked writev. */
const JOIN_LIMIT = 64 * 1024;
/**
 * Response bytes all streams of a connection may hold back for the client's
 * windows. A client that grants no window but keeps asking would otherwise
 * make us hold every answer; past this, new streams are refused until it
 * reads. Reading goes on, as only the client's WINDOW_UPDATEs free the queue.
 */
const MAX_HELD_BYTES = 64 * 1024 * 1024;
/** How long a failed connection may take to get its GOAWAY out before the socket is dropped. */
const FAIL_LINGER_MS = 1000;
/** RFC 9113 6.5.2: each header field counts its name, its value and 32 octets against the list size. */
const FIELD_OVERHEAD = 32;
const EMPTY = Buffer.alloc(0);

/**
 * One request stream. The server sets the callbacks when the stream opens;
 * the connection calls them as DATA arrives (views of the received bytes),
 * when the client half-closes, when queued output has drained after write()
 * returned false, and once when the stream is over for any reason.
 */
export class H2Stream {
  onData: ((chunk: Buffer) => void) | null = null;
  onEnd: (() => void) | null = null;
  onDrain: (() => void) | null = null;
  onClose: (() => void) | null = null;
  headersSent = false;
  /** Over: finished both ways, reset by either side, or its connection is gone. Nothing more is sent. */
  closed = false;
  /** END_STREAM has been sent or queued behind data. */
  localEnded = false;
  remoteEnded = false;
  /** How many bytes of DATA the client lets us send on this stream. */
  sendWindow: number;
  /** Received DATA bytes not yet granted back with a WINDOW_UPDATE. */
  recvUnacked = 0;
  private queue: Uint8Array[] = [];
  private queued = 0;
  /** The final header block, sent once the queue is empty. */
  private trailers: Uint8Array | null = null;

  constructor(
    private readonly conn: H2Connection,
    readonly id: number,
    readonly headers: IncomingHttpHeaders,
    sendWindow: number,
  ) {
    this.sendWindow = sendWindow;
  }

  /** Sends response headers; with endStream they are the whole response. */
  respond(block: Uint8Array, endStream: boolean): void {
    if (this.closed || this.headersSent) return;
    this.headersSent = true;
    this.conn.sendHeaderBlock(this.id, block, endStream);
    if (endStream) this.endLocal();
  }

  /**
   * Queues `head` then `body` as DATA. False when the client's window or the
   * socket is full; onDrain follows once both have room again.
   */
  write(head: Uint8Array | null, body: Uint8Array): boolean {
    if (this.closed || this.localEnded) return true;
    if (head !== null && head.length > 0) this.enqueue(head);
    if (body.length > 0) this.enqueue(body);
    this.pump();
    if (this.queued === 0 && !this.conn.congested) return true;
    this.conn.waitDrain(this);
    return false;
  }

  /** Ends the response with a trailing header block, after the queued data. */
  end(block: Uint8Array): void {
    if (this.closed || this.localEnded) return;
    this.localEnded = true;
    this.trailers = block;
    this.pump();
  }

  /**
   * A whole response, headers + DATA (`head` then `body`) + trailers, in one
   * buffer when the windows allow, which for small unary answers they do.
   */
  respondWhole(headers: Uint8Array, head: Uint8Array, body: Uint8Array, trailers: Uint8Array): void {
    if (this.closed || this.headersSent) return;
    const c = this.conn;
    const dataLen = head.length + body.length;
    if (dataLen > Math.min(this.sendWindow, c.sendWindow, c.peerMaxFrame)) {
      this.respond(headers, false);
      this.write(head, body);
      this.end(trailers);
      return;
    }
    this.headersSent = true;
    const max = c.peerMaxFrame;
    const first = c.headerBlock(headers);
    const hLen = headerFramesLength(first.length, max);
    const out = Buffer.allocUnsafe(hLen + FRAME_HEADER_BYTES + dataLen + headerFramesLength(trailers.length, max));
    let off = writeHeaderFrames(out, 0, this.id, first, false, max);
    writeFrameHeader(out, off, dataLen, FrameType.DATA, 0, this.id);
    off += FRAME_HEADER_BYTES;
    out.set(head, off);
    out.set(body, off + head.length);
    off += dataLen;
    writeHeaderFrames(out, off, this.id, trailers, true, max);
    this.sendWindow -= dataLen;
    c.sendWindow -= dataLen;
    c.send(out);
    this.endLocal();
  }

  /** Abandons the stream with RST_STREAM. */
  reset(code: number): void {
    this.conn.closeStream(this, code);
  }

  /** Bytes waiting for the client's windows. */
  get queuedBytes(): number {
    return this.queued;
  }

  private enqueue(bytes: Uint8Array): void {
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.conn.heldBytes += bytes.length;
  }

  /** Sends as much queued DATA as the windows allow, then the trailers if they are due. */
  pump(): void {
    const c = this.conn;
    while (this.queued > 0 && !this.closed) {
      const n = Math.min(this.queued, this.sendWindow, c.sendWindow, c.peerMaxFrame);
      if (n <= 0) {
        c.block(this);
        return;
      }
      const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + n);
      writeFrameHeader(frame, 0, n, FrameType.DATA, 0, this.id);
      let off = FRAME_HEADER_BYTES;
      while (off < frame.length) {
        const first = this.queue[0]!;
        const take = Math.min(first.length, frame.length - off);
        frame.set(take === first.length ? first : first.subarray(0, take), off);
        off += take;
        if (take === first.length) this.queue.shift();
        else this.queue[0] = first.subarray(take);
      }
      this.queued -= n;
      c.heldBytes -= n;
      this.sendWindow -= n;
      c.sendWindow -= n;
      c.send(frame);
    }
    if (this.closed) return;
    const trailers = this.trailers;
    if (trailers !== null) {
      this.trailers = null;
      c.sendHeaderBlock(this.id, trailers, true);
      this.endLocal();
      return;
    }
    // Last: a drain callback may write again, which pumps afresh.
    c.unblock(this);
  }

  /** Our side is finished: the stream closes, with RST_STREAM(NO_ERROR) if the client is still sending (as grpc-go does). */
  private endLocal(): void {
    this.localEnded = true;
    this.conn.closeStream(this, this.remoteEnded ? null : ErrorCode.NO_ERROR);
  }
}

export class H2Connection {
  /** Our send window for the whole connection. */
  sendWindow = DEFAULT_WINDOW;
  /** Response bytes queued in streams for the client's windows (see MAX_HELD_BYTES). */
  heldBytes = 0;
  peerMaxFrame = DEFAULT_MAX_FRAME;
  private peerInitialWindow = DEFAULT_WINDOW;
  private readonly streams = new Map<number, H2Stream>();
  private readonly blocked = new Set<H2Stream>();
  private readonly drainWaiters = new Set<H2Stream>();
  private readonly decoder = new HpackDecoder();
  private lastStreamId = 0;
  private recvUnacked = 0;
  private prefaceSeen = false;
  private dead = false;
  // Input not yet parsed: parts of an incomplete frame and the bytes it needs.
  private inParts: Buffer[] = [];
  private inLen = 0;
  private need = CLIENT_PREFACE.length;
  // A header block arriving in HEADERS + CONTINUATION frames. The fragments
  // are copied: views would pin every input chunk one came in, and a flood
  // of empty CONTINUATION frames would grow a list of them without bound.
  private blockStream = 0;
  private blockEndStream = false;
  private blockBuf: Buffer = EMPTY;
  private blockLen = 0;
  // The headers of the block being decoded, filled by a callback bound once,
  // and the size of their list so far. HPACK lets a few bytes stand for a
  // table entry of 4 KB, so the block's own size does not bound it.
  private current: IncomingHttpHeaders | null = null;
  private listSize = 0;
  private listTooLarge = false;
  private readonly addHeader = (name: string, value: string): void => {
    const h = this.current;
    if (h === null) return;
    this.listSize += name.length + value.length + FIELD_OVERHEAD;
    if (this.listSize > this.opts.maxHeaderBlock) {
      // Decoding goes on to keep HPACK's table in step; the fields are dropped.
      this.current = null;
      this.listTooLarge = true;
      return;
    }
    // An own-property check: `h` is an ordinary object (see onHeaderBlock).
    h[name] = Object.hasOwn(h, name) ? `${String(h[name])}, ${value}` : value;
  };
  // Output of this turn of the event loop, written together.
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushQueued = false;
  /** Reading stopped until the socket drains: a client that does not read its answers gets no more of them. */
  private readPaused = false;
  /**
   * The smallest HPACK table size the client's SETTINGS lowered its decoder
   * to, which our next header block must announce (RFC 7541 4.2); -1 when
   * none is due. Our encoder never uses the table, so announcing is all.
   */
  private tableSizeDue = -1;
  /** The HPACK table size the client's decoder last had announced to it (or started with). */
  private announcedTableSize = DEFAULT_TABLE_SIZE;

  constructor(
    private readonly socket: Socket,
    private readonly opts: H2ConnectionOptions,
  ) {
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('drain', () => this.onSocketDrain());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onSocketClose());
    const pairs: Array<[number, number]> = [
      [Setting.INITIAL_WINDOW_SIZE, opts.windowSize],
      [Setting.MAX_HEADER_LIST_SIZE, opts.maxHeaderBlock],
    ];
    this.send(settingsFrame(pairs));
    // The connection window starts at the default and only grows by WINDOW_UPDATE.
    if (opts.windowSize > DEFAULT_WINDOW) this.send(wordsFrame(FrameType.WINDOW_UPDATE, 0, 0, [opts.windowSize - DEFAULT_WINDOW]));
    socket.resume();
  }

  /** Drops the connection at once; open streams see onClose. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Output queued but not yet handed to the socket, plus what the socket holds, is past the high-water mark. */
  get congested(): boolean {
    return this.outBytes + this.socket.writableLength > HIGH_WATER;
  }

  send(frame: Buffer): void {
    if (this.dead) return;
    this.out.push(frame);
    this.outBytes += frame.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(flushConnection, this);
    }
  }

  /** A header block to send now, led by a table size update when one is due. */
  headerBlock(block: Uint8Array): Uint8Array {
    const size = this.tableSizeDue;
    if (size < 0) return block;
    this.tableSizeDue = -1;
    return Buffer.concat([encodeTableSizeUpdate(size), block]);
  }

  sendHeaderBlock(streamId: number, block: Uint8Array, endStream: boolean): void {
    const b = this.headerBlock(block);
    const frame = Buffer.allocUnsafe(headerFramesLength(b.length, this.peerMaxFrame));
    writeHeaderFrames(frame, 0, streamId, b, endStream, this.peerMaxFrame);
    this.send(frame);
  }

  flush(): void {
    this.flushQueued = false;
    const out = this.out;
    const n = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (this.dead || out.length === 0) return;
    const s = this.socket;
    if (out.length === 1) s.write(out[0]!);
    else if (n <= JOIN_LIMIT) s.write(Buffer.concat(out, n));
    else {
      s.cork();
      for (const b of out) s.write(b);
      s.uncork();
    }
    // Control frames answer input (PING, SETTINGS, WINDOW_UPDATE), so with
    // a peer that sends without reading, only reading less bounds the output
    // held. The socket's 'drain' follows, as its write has returned false.
    if (s.writableLength > HIGH_WATER && !this.readPaused) {
      this.readPaused = true;
      s.pause();
    }
    if (!this.congested) this.notifyDrain();
  }

  private onSocketDrain(): void {
    if (this.readPaused && !this.dead) {
      this.readPaused = false;
      this.socket.resume();
    }
    this.notifyDrain();
  }

  block(s: H2Stream): void {
    this.blocked.add(s);
  }

  unblock(s: H2Stream): void {
    if (this.blocked.delete(s) || this.drainWaiters.has(s)) this.notifyDrain();
  }

  waitDrain(s: H2Stream): void {
    this.drainWaiters.add(s);
  }

  /** Ends a stream; with a code, tells the client by RST_STREAM. */
  closeStream(s: H2Stream, rstCode: number | null): void {
    if (s.closed) return;
    s.closed = true;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.drainWaiters.delete(s);
    this.heldBytes -= s.queuedBytes;
    if (rstCode !== null) this.send(wordsFrame(FrameType.RST_STREAM, 0, s.id, [rstCode]));
    notifyClose(s);
  }

  private notifyDrain(): void {
    if (this.drainWaiters.size === 0) return;
    for (const s of [...this.drainWaiters]) {
      // A callback's writes can fill the socket again.
      if (this.congested) return;
      if (s.queuedBytes > 0 || s.closed) continue;
      this.drainWaiters.delete(s);
      try {
        s.onDrain?.();
      } catch {
        // Runs from socket events and nextTick too, where a throw would end the process.
        this.closeStream(s, ErrorCode.INTERNAL_ERROR);
      }
    }
  }

  private onSocketClose(): void {
    this.dead = true;
    this.out = [];
    this.outBytes = 0;
    const open = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    this.drainWaiters.clear();
    for (const s of open) {
      s.closed = true;
      notifyClose(s);
    }
    try {
      this.opts.onClose(this);
    } catch {
      // The connection is gone either way; a throw here would end the process.
    }
  }

  /** A connection error: GOAWAY with the code, then the socket goes once that is written. */
  private fail(code: number): void {
    if (this.dead) return;
    const goaway = wordsFrame(FrameType.GOAWAY, 0, 0, [this.lastStreamId, code]);
    this.flush();
    this.dead = true;
    this.socket.write(goaway, () => this.socket.destroy());
    // The write callback may never come on a socket that is already failing,
    // nor while a client that reads nothing leaves earlier output unsent.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), FAIL_LINGER_MS).unref();
  }

  private onBytes(chunk: Buffer): void {
    if (this.dead) return;
    let buf = chunk;
    if (this.inLen > 0) {
      this.inParts.push(chunk);
      this.inLen += chunk.length;
      if (this.inLen < this.need) return;
      buf = Buffer.concat(this.inParts, this.inLen);
      this.inParts = [];
      this.inLen = 0;
    } else if (chunk.length < this.need) {
      this.inParts.push(chunk);
      this.inLen = chunk.length;
      return;
    }
    try {
      const off = this.parse(buf);
      if (!this.dead && off < buf.length) {
        this.inParts.push(buf.subarray(off));
        this.inLen = buf.length - off;
      }
    } catch (err) {
      this.fail(err instanceof HpackError ? ErrorCode.COMPRESSION_ERROR : ErrorCode.INTERNAL_ERROR);
    }
  }

  /** Handles every complete frame in `buf`; returns where the unparsed rest begins. */
  private parse(buf: Buffer): number {
    let off = 0;
    if (!this.prefaceSeen) {
      if (!buf.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) {
        this.fail(ErrorCode.PROTOCOL_ERROR);
        return buf.length;
      }
      this.prefaceSeen = true;
      off = CLIENT_PREFACE.length;
    }
    while (!this.dead) {
      const avail = buf.length - off;
      if (avail < FRAME_HEADER_BYTES) {
        this.need = FRAME_HEADER_BYTES;
        break;
      }
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (len > DEFAULT_MAX_FRAME) {
        this.fail(ErrorCode.FRAME_SIZE_ERROR);
        break;
      }
      if (avail < FRAME_HEADER_BYTES + len) {
        this.need = FRAME_HEADER_BYTES + len;
        break;
      }
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const sid = buf.readUInt32BE(off + 5) & 0x7fffffff;
      const start = off + FRAME_HEADER_BYTES;
      off = start + len;
      this.frame(type, flags, sid, buf, start, off);
    }
    return off;
  }

  private frame(type: number, flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (this.blockStream !== 0 && type !== FrameType.CONTINUATION) return this.fail(ErrorCode.PROTOCOL_ERROR);
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, sid, buf, start, end);
      case FrameType.HEADERS:
        return this.onHeadersFrame(flags, sid, buf, start, end);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, sid, buf.subarray(start, end));
      case FrameType.RST_STREAM: {
        if (sid === 0) return this.fail(ErrorCode.PROTOCOL_ERROR);
        if (end - start !== 4) return this.fail(ErrorCode.FRAME_SIZE_ERROR);
        const s = this.streams.get(sid);
        if (s !== undefined) this.closeStream(s, null);
        return;
      }
      case FrameType.SETTINGS:
        return this.onSettings(flags, sid, buf, start, end);
      case FrameType.PING:
        return this.onPing(flags, sid, buf, start, end);
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(sid, buf, start, end);
      case FrameType.PUSH_PROMISE:
        return this.fail(ErrorCode.PROTOCOL_ERROR);
      default:
        // PRIORITY, GOAWAY (the client closes the socket after it) and
        // unknown types need nothing from a server.
        return;
    }
  }

  /** Strips padding; null when the pad length runs past the frame. */
  private unpad(flags: number, buf: Buffer, start: number, end: number): [number, number] | null {
    if ((flags & Flag.PADDED) === 0) return [start, end];
    if (start >= end) return null;
    const pad = buf[start]!;
    if (pad > end - start - 1) return null;
    return [start + 1, end - pad];
  }

  private onDataFrame(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (sid === 0) return this.fail(ErrorCode.PROTOCOL_ERROR);
    const frameLen = end - start;
    // Every DATA byte counts against the connection window, also on streams already over.
    this.recvUnacked += frameLen;
    if (this.recvUnacked >= this.opts.windowSize / 2) {
      this.send(wordsFrame(FrameType.WINDOW_UPDATE, 0, 0, [this.recvUnacked]));
      this.recvUnacked = 0;
    }
    const range = this.unpad(flags, buf, start, end);
    if (range === null) return this.fail(ErrorCode.PROTOCOL_ERROR);
    const s = this.streams.get(sid);
    if (s === undefined) {
      if (sid > this.lastStreamId) this.fail(ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (s.remoteEnded) return this.closeStream(s, ErrorCode.STREAM_CLOSED);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (!endStream) {
      s.recvUnacked += frameLen;
      if (s.recvUnacked >= this.opts.windowSize / 2) {
        this.send(wordsFrame(FrameType.WINDOW_UPDATE, 0, sid, [s.recvUnacked]));
        s.recvUnacked = 0;
      }
    }
    if (range[1] > range[0]) s.onData?.(buf.subarray(range[0], range[1]));
    if (endStream && !s.closed) this.remoteEnd(s);
  }

  private onHeadersFrame(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (sid === 0) return this.fail(ErrorCode.PROTOCOL_ERROR);
    const range = this.unpad(flags, buf, start, end);
    if (range === null) return this.fail(ErrorCode.PROTOCOL_ERROR);
    let [from, to] = range;
    if ((flags & Flag.PRIORITY) !== 0) {
      from += 5;
      if (from > to) return this.fail(ErrorCode.PROTOCOL_ERROR);
    }
    const fragment = buf.subarray(from, to);
    if (fragment.length > this.opts.maxHeaderBlock) return this.fail(ErrorCode.ENHANCE_YOUR_CALM);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) !== 0) return this.onHeaderBlock(sid, endStream, fragment);
    this.blockStream = sid;
    this.blockEndStream = endStream;
    this.blockLen = 0;
    this.appendFragment(fragment);
  }

  private onContinuation(flags: number, sid: number, fragment: Buffer): void {
    if (this.blockStream === 0 || sid !== this.blockStream) return this.fail(ErrorCode.PROTOCOL_ERROR);
    // The block must be decoded whole to keep HPACK's table in step, so one
    // too large to hold ends the connection rather than the stream.
    if (this.blockLen + fragment.length > this.opts.maxHeaderBlock) return this.fail(ErrorCode.ENHANCE_YOUR_CALM);
    this.appendFragment(fragment);
    if ((flags & Flag.END_HEADERS) === 0) return;
    const block = this.blockBuf.subarray(0, this.blockLen);
    this.blockStream = 0;
    this.blockBuf = EMPTY;
    this.blockLen = 0;
    this.onHeaderBlock(sid, this.blockEndStream, block);
  }

  /** Copies a fragment into the block buffer, which grows by doubling up to maxHeaderBlock. */
  private appendFragment(fragment: Buffer): void {
    const need = this.blockLen + fragment.length;
    if (need > this.blockBuf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.opts.maxHeaderBlock, Math.max(need, 2 * this.blockBuf.length, 4096)));
      this.blockBuf.copy(grown, 0, 0, this.blockLen);
      this.blockBuf = grown;
    }
    fragment.copy(this.blockBuf, this.blockLen);
    this.blockLen = need;
  }

  private onHeaderBlock(sid: number, endStream: boolean, block: Buffer): void {
    const existing = this.streams.get(sid);
    const isNew = existing === undefined && sid > this.lastStreamId;
    if (isNew && (sid & 1) === 0) return this.fail(ErrorCode.PROTOCOL_ERROR);
    // An ordinary object, not a prototype-less one: clients send the same
    // names in the same order, so V8 gives every request's headers one
    // shared shape instead of a hash table each (half the time and memory).
    // A field named __proto__ is dropped by the assignment; inherited names
    // are never read, and addHeader checks own properties only.
    const headers: IncomingHttpHeaders = {};
    this.current = isNew ? headers : null;
    this.listSize = 0;
    this.listTooLarge = false;
    try {
      this.decoder.decode(block, this.addHeader);
    } finally {
      this.current = null;
    }
    if (!isNew) {
      // Trailers from the client end its side; any other block on an open
      // stream is malformed, and so is one after the client's side ended
      // (half-closed (remote), RFC 9113 5.1). Blocks for streams already
      // over are dropped.
      if (existing !== undefined) {
        if (!endStream) this.closeStream(existing, ErrorCode.PROTOCOL_ERROR);
        else if (existing.remoteEnded) this.closeStream(existing, ErrorCode.STREAM_CLOSED);
        else this.remoteEnd(existing);
      } else if (!endStream) {
        // An id reused for a new request: the client hears so rather than
        // waiting for an answer that will not come. Trailers (END_STREAM)
        // for a stream already over are dropped, as after our RST_STREAM
        // they must be.
        this.send(wordsFrame(FrameType.RST_STREAM, 0, sid, [ErrorCode.STREAM_CLOSED]));
      }
      return;
    }
    this.lastStreamId = sid;
    if (this.listTooLarge) {
      // More than our SETTINGS_MAX_HEADER_LIST_SIZE: the stream is refused
      // (as grpc-go refuses it), the connection goes on.
      this.send(wordsFrame(FrameType.RST_STREAM, 0, sid, [ErrorCode.FRAME_SIZE_ERROR]));
      return;
    }
    if (this.heldBytes > MAX_HELD_BYTES) {
      this.send(wordsFrame(FrameType.RST_STREAM, 0, sid, [ErrorCode.REFUSED_STREAM]));
      return;
    }
    const s = new H2Stream(this, sid, headers, this.peerInitialWindow);
    // Known before the server looks at it: a request answered at once (a
    // reject) then closes without a needless RST_STREAM.
    s.remoteEnded = endStream;
    this.streams.set(sid, s);
    this.opts.onStream(s);
    if (endStream && !s.closed) s.onEnd?.();
  }

  private remoteEnd(s: H2Stream): void {
    s.remoteEnded = true;
    s.onEnd?.();
  }

  private onSettings(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (sid !== 0) return this.fail(ErrorCode.PROTOCOL_ERROR);
    const len = end - start;
    if ((flags & Flag.ACK) !== 0) {
      if (len !== 0) this.fail(ErrorCode.FRAME_SIZE_ERROR);
      return;
    }
    if (len % 6 !== 0) return this.fail(ErrorCode.FRAME_SIZE_ERROR);
    let grew = false;
    for (let p = start; p < end; p += 6) {
      const id = buf.readUInt16BE(p);
      const value = buf.readUInt32BE(p + 2);
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) return this.fail(ErrorCode.FLOW_CONTROL_ERROR);
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) return this.fail(ErrorCode.FLOW_CONTROL_ERROR);
        }
        if (delta > 0) grew = true;
      } else if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > MAX_FRAME_LIMIT) return this.fail(ErrorCode.PROTOCOL_ERROR);
        this.peerMaxFrame = value;
      } else if (id === Setting.ENABLE_PUSH) {
        if (value > 1) return this.fail(ErrorCode.PROTOCOL_ERROR);
      } else if (id === Setting.HEADER_TABLE_SIZE && value < this.announcedTableSize) {
        // The client's decoder table shrank: our encoder never adds to it,
        // but the next block must say so, or decoders such as nghttp2's
        // reject it with COMPRESSION_ERROR.
        this.announcedTableSize = value;
        this.tableSizeDue = value;
      }
    }
    this.send(settingsFrame([], true));
    if (grew) this.pumpBlocked();
  }

  private onPing(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (sid !== 0) return this.fail(ErrorCode.PROTOCOL_ERROR);
    if (end - start !== 8) return this.fail(ErrorCode.FRAME_SIZE_ERROR);
    if ((flags & Flag.ACK) !== 0) return;
    const pong = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8);
    writeFrameHeader(pong, 0, 8, FrameType.PING, Flag.ACK, 0);
    buf.copy(pong, FRAME_HEADER_BYTES, start, end);
    this.send(pong);
  }

  private onWindowUpdate(sid: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) return this.fail(ErrorCode.FRAME_SIZE_ERROR);
    const inc = buf.readUInt32BE(start) & 0x7fffffff;
    if (sid === 0) {
      if (inc === 0) return this.fail(ErrorCode.PROTOCOL_ERROR);
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) return this.fail(ErrorCode.FLOW_CONTROL_ERROR);
      this.pumpBlocked();
      return;
    }
    const s = this.streams.get(sid);
    if (s === undefined) return;
    if (inc === 0) return this.closeStream(s, ErrorCode.PROTOCOL_ERROR);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) return this.closeStream(s, ErrorCode.FLOW_CONTROL_ERROR);
    s.pump();
  }

  private pumpBlocked(): void {
    for (const s of [...this.blocked]) {
      if (this.sendWindow <= 0) return;
      s.pump();
    }
  }
}

function flushConnection(c: H2Connection): void {
  c.flush();
}

/** Tells a stream's owner it is over; the stream is closed either way, so a throw is dropped rather than let out of a socket event. */
function notifyClose(s: H2Stream): void {
  try {
    s.onClose?.();
  } catch {
    // Nothing more can happen on the stream.
  }
}
