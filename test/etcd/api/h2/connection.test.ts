// H2Connection on its own, over real loopback sockets: the test plays the
// client with frames it builds byte by byte and parses what the server sends
// back. Frame layouts, flags and error codes are written out here from RFC
// 9113 rather than imported, so that a wrong constant in the server shows.

import fc from 'fast-check';
import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { H2Connection, type H2Stream } from '../../../../etcd/api/h2/connection.js';
import { encodeHeaders, HpackDecoder } from '../../../../etcd/api/h2/hpack.js';
import { hpackInt } from '../../../support/hpack-wire.js';

// RFC 9113 section 6 frame types, section 6 flags, section 7 error codes.
const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const E = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 };
const S = { HEADER_TABLE_SIZE: 1, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 };

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- frames out

function frame(type: number, flags: number, sid: number, payload: Uint8Array = EMPTY): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(sid, 5);
  return Buffer.concat([head, payload]);
}

function settings(pairs: Array<[number, number]>): Buffer {
  const p = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(v, 6 * i + 2);
  });
  return frame(T.SETTINGS, 0, 0, p);
}

function word(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}


const windowUpdate = (sid: number, inc: number) => frame(T.WINDOW_UPDATE, 0, sid, word(inc));
const rstStream = (sid: number, code: number) => frame(T.RST_STREAM, 0, sid, word(code));

/** A request header block for `path`, plus extra fields. */
function requestBlock(path: string, extra: Array<[string, string]> = []): Buffer {
  return encodeHeaders([
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', '127.0.0.1'],
    ['content-type', 'application/grpc'],
    ...extra,
  ]);
}

/** A one-frame request header block, optionally ending the stream. */
function request(sid: number, path: string, endStream = false, extra: Array<[string, string]> = []): Buffer {
  return frame(T.HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), sid, requestBlock(path, extra));
}

function data(sid: number, bytes: Uint8Array, endStream = false): Buffer {
  return frame(T.DATA, endStream ? END_STREAM : 0, sid, bytes);
}

// ----------------------------------------------------------------- frames in

interface Frame {
  type: number;
  flags: number;
  sid: number;
  payload: Buffer;
  /** The socket reads (0-based) holding the frame's first and last byte. */
  firstChunk: number;
  lastChunk: number;
}

/** The test's side of one connection: raw bytes out, parsed frames in. */
class Client {
  readonly frames: Frame[] = [];
  closed = false;
  private chunks = 0;
  private pending = EMPTY;
  private pendingFrom = 0;
  private readonly wake = new Set<() => void>();
  private pingSeq = 0;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (chunk: Buffer) => {
      if (this.pending.length === 0) this.pendingFrom = this.chunks;
      this.pending = Buffer.concat([this.pending, chunk]);
      const chunk0 = this.chunks++;
      while (this.pending.length >= 9) {
        const len = this.pending.readUIntBE(0, 3);
        if (this.pending.length < 9 + len) break;
        this.frames.push({
          type: this.pending[3]!,
          flags: this.pending[4]!,
          sid: this.pending.readUInt32BE(5) & 0x7fffffff,
          payload: Buffer.from(this.pending.subarray(9, 9 + len)),
          firstChunk: this.pendingFrom,
          lastChunk: chunk0,
        });
        this.pending = this.pending.subarray(9 + len);
        this.pendingFrom = chunk0;
      }
      this.poke();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.closed = true;
      this.poke();
    });
  }

  static async connect(port: number, opts: { preface?: boolean; settings?: Array<[number, number]> } = {}): Promise<Client> {
    const sock = net.connect(port, '127.0.0.1');
    clients.push(sock);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new Client(sock);
    if (opts.preface !== false) c.send(PREFACE, settings(opts.settings ?? []));
    return c;
  }

  send(...bufs: Buffer[]): void {
    if (!this.sock.destroyed) this.sock.write(Buffer.concat(bufs));
  }

  /** Resolves with the first truthy value of `probe`, re-checked as frames arrive and on close. */
  until<V>(probe: () => V | undefined | null | false, what: string, ms = 5000): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v !== undefined && v !== null && v !== false) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.wake.delete(check);
      };
      this.wake.add(check);
      check();
    });
  }

  waitFrame(pred: (f: Frame) => boolean, what: string, ms?: number): Promise<Frame> {
    return this.until(() => this.frames.find(pred), what, ms);
  }

  /**
   * Round trip: everything the server produced for bytes sent before the
   * PING has arrived once its ACK has, as a connection's output is ordered.
   */
  async ping(): Promise<void> {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(0xc0ffee, 0);
    payload.writeUInt32BE(++this.pingSeq, 4);
    this.send(frame(T.PING, 0, 0, payload));
    await this.waitFrame((f) => f.type === T.PING && (f.flags & ACK) !== 0 && f.payload.equals(payload), 'PING ACK');
  }

  /** The GOAWAY the server ends with, after which it closes the socket. */
  async goaway(): Promise<{ lastStreamId: number; code: number }> {
    const f = await this.waitFrame((x) => x.type === T.GOAWAY, 'GOAWAY');
    await this.until(() => this.closed, 'socket close');
    return { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
  }

  of(sid: number): Frame[] {
    return this.frames.filter((f) => f.sid === sid);
  }

  private poke(): void {
    for (const w of [...this.wake]) w();
  }
}

/** Header blocks the server sent on `sid`, decoded in order (HEADERS + CONTINUATION joined). */
function headerBlocks(frames: Frame[], sid: number, decoder = new HpackDecoder()): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  let parts: Buffer[] = [];
  for (const f of frames) {
    if (f.sid !== sid || (f.type !== T.HEADERS && f.type !== T.CONTINUATION)) continue;
    parts.push(f.payload);
    if ((f.flags & END_HEADERS) === 0) continue;
    const fields: Record<string, string> = {};
    decoder.decode(Buffer.concat(parts), (n, v) => {
      fields[n] = v;
    });
    out.push(fields);
    parts = [];
  }
  return out;
}

const dataOf = (frames: Frame[], sid: number) => Buffer.concat(frames.filter((f) => f.sid === sid && f.type === T.DATA).map((f) => f.payload));

// ---------------------------------------------------------------- the server

const RESPONSE = encodeHeaders([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);
const TRAILERS = encodeHeaders([
  ['grpc-status', '0'],
  ['grpc-message', ''],
]);
const TRAILERS_ONLY = encodeHeaders([
  [':status', '200'],
  ['content-type', 'application/grpc'],
  ['grpc-status', '12'],
]);

/** What the server saw of one stream, and the stream itself for the test to drive. */
interface StreamLog {
  stream: H2Stream;
  headers: Record<string, string>;
  body: Buffer[];
  events: string[];
}

interface Harness {
  port: number;
  streams: StreamLog[];
  /** Server-side sockets, in accept order. */
  sockets: net.Socket[];
  conns: H2Connection[];
  /** How often H2ConnectionOptions.onClose fired, per connection (same order as conns). */
  connCloses: number[];
}

const servers: net.Server[] = [];
const clients: net.Socket[] = [];
const serverSockets: net.Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of serverSockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/**
 * Routes by :path. /echo answers on END_STREAM with the body echoed in one
 * respondWhole; /big sends x-size bytes through respond/write/end, ending
 * only after onDrain when write pushed back; /early answers trailers-only at
 * once; /hold sends response headers and leaves the rest to the test.
 */
function route(log: StreamLog): void {
  const s = log.stream;
  const path = log.headers[':path'];
  if (path === '/early') {
    s.respond(TRAILERS_ONLY, true);
    return;
  }
  if (path === '/hold') {
    s.respond(RESPONSE, false);
    return;
  }
  s.onEnd = () => {
    log.events.push('end');
    if (path === '/echo') {
      s.respondWhole(RESPONSE, Buffer.from('>'), Buffer.concat(log.body), TRAILERS);
    } else if (path === '/big') {
      const size = Number(log.headers['x-size'] ?? 0);
      s.respond(RESPONSE, false);
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i++) payload[i] = i % 251;
      const ok = s.write(null, payload);
      log.events.push(`write:${ok}`);
      if (ok) s.end(TRAILERS);
      else
        s.onDrain = () => {
          log.events.push('drain');
          s.end(TRAILERS);
        };
    }
  };
}

async function startServer(opts: { windowSize?: number; maxHeaderBlock?: number } = {}, handler: (log: StreamLog) => void = route): Promise<Harness> {
  const h: Harness = { port: 0, streams: [], sockets: [], conns: [], connCloses: [] };
  const server = net.createServer((socket) => {
    serverSockets.push(socket);
    h.sockets.push(socket);
    const index = h.conns.length;
    h.connCloses.push(0);
    const conn = new H2Connection(socket, {
      windowSize: opts.windowSize ?? 65_535,
      maxHeaderBlock: opts.maxHeaderBlock ?? 64 * 1024,
      onStream(stream) {
        const log: StreamLog = { stream, headers: { ...(stream.headers as Record<string, string>) }, body: [], events: [] };
        h.streams.push(log);
        stream.onData = (chunk) => {
          log.events.push(`data:${chunk.length}`);
          log.body.push(Buffer.from(chunk));
        };
        stream.onClose = () => log.events.push('close');
        handler(log);
      },
      onClose() {
        h.connCloses[index]!++;
      },
    });
    h.conns.push(conn);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  h.port = (server.address() as net.AddressInfo).port;
  return h;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Reads the SETTINGS pairs of a frame's payload. */
function settingsPairs(f: Frame): Map<number, number> {
  const m = new Map<number, number>();
  for (let p = 0; p < f.payload.length; p += 6) m.set(f.payload.readUInt16BE(p), f.payload.readUInt32BE(p + 2));
  return m;
}

// --------------------------------------------------------------------- tests

describe('H2Connection: preface, SETTINGS, PING', () => {
  it('opens with SETTINGS (its window) and a connection WINDOW_UPDATE, ACKs SETTINGS, answers PING once', async () => {
    const h = await startServer({ windowSize: 1 << 20, maxHeaderBlock: 8192 });
    const c = await Client.connect(h.port, { preface: false });
    await c.until(() => c.frames.length >= 2, 'server preface');
    const [first, second] = c.frames as [Frame, Frame];
    expect(first.type).toBe(T.SETTINGS);
    expect(first.flags & ACK).toBe(0);
    expect(first.sid).toBe(0);
    const pairs = settingsPairs(first);
    expect(pairs.get(S.INITIAL_WINDOW_SIZE)).toBe(1 << 20);
    expect(pairs.get(S.MAX_HEADER_LIST_SIZE)).toBe(8192);
    expect(second.type).toBe(T.WINDOW_UPDATE);
    expect(second.sid).toBe(0);
    expect(second.payload.readUInt32BE(0)).toBe((1 << 20) - 65_535);

    c.send(PREFACE, settings([[S.INITIAL_WINDOW_SIZE, 1000]]));
    const settingsAck = await c.waitFrame((f) => f.type === T.SETTINGS && (f.flags & ACK) !== 0, 'SETTINGS ACK');
    expect(settingsAck.payload.length).toBe(0);

    const opaque = Buffer.from('8 bytes!');
    c.send(frame(T.PING, 0, 0, opaque));
    const pong = await c.waitFrame((f) => f.type === T.PING, 'PING ACK');
    expect(pong.flags & ACK).toBe(ACK);
    expect(pong.payload).toEqual(opaque);

    // A PING ACK from the client is not answered: only the barrier's ACK comes back.
    c.send(frame(T.PING, ACK, 0, Buffer.from('ackackac')));
    await c.ping();
    expect(c.frames.filter((f) => f.type === T.PING)).toHaveLength(2);
    expect(c.closed).toBe(false);
  });

  it('sends no connection WINDOW_UPDATE when its window is the default', async () => {
    const h = await startServer({ windowSize: 65_535 });
    const c = await Client.connect(h.port);
    await c.ping();
    expect(c.frames.filter((f) => f.type === T.WINDOW_UPDATE)).toHaveLength(0);
  });
});

describe('H2Connection: requests and responses', () => {
  it('joins repeated header fields, and header names that Object.prototype has stay plain fields', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    const extra: Array<[string, string]> = [
      ['constructor', 'a'],
      ['tostring', 'b'],
      ['tostring', 'c'],
      ['hasownproperty', 'x'],
      ['__proto__', 'd'],
      ['x-dup', '1'],
      ['x-dup', '2'],
    ];
    c.send(frame(T.HEADERS, END_HEADERS | END_STREAM, 1, requestBlock('/echo', extra)));
    await c.waitFrame((f) => f.sid === 1 && f.type === T.HEADERS && (f.flags & END_STREAM) !== 0, 'trailers');
    const headers = h.streams[0]!.stream.headers;
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.hasOwn(headers, '__proto__')).toBe(false);
    expect({ ...headers }).toMatchObject({ ':path': '/echo', constructor: 'a', tostring: 'b, c', hasownproperty: 'x', 'x-dup': '1, 2' });
  });

  it('joins HEADERS (PADDED, PRIORITY) + CONTINUATION and padded DATA; answers in one socket read', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    await c.ping();
    const block = requestBlock('/echo', [['x-long', 'v'.repeat(300)]]);
    // HEADERS: pad length 7, priority (exclusive bit + dependency 0, weight 200), first 100 bytes, 7 bytes of padding.
    const headersPayload = Buffer.concat([Buffer.from([7]), Buffer.from([0x80, 0, 0, 0, 200]), block.subarray(0, 100), Buffer.alloc(7)]);
    const body = Buffer.from('hello, padded world');
    const dataPayload = Buffer.concat([Buffer.from([3]), body, Buffer.alloc(3)]);
    c.send(
      frame(T.HEADERS, PADDED | PRIORITY, 1, headersPayload),
      frame(T.CONTINUATION, 0, 1, block.subarray(100, 200)),
      frame(T.CONTINUATION, END_HEADERS, 1, block.subarray(200)),
      frame(T.DATA, PADDED | END_STREAM, 1, dataPayload),
    );
    const trailers = await c.waitFrame((f) => f.sid === 1 && f.type === T.HEADERS && (f.flags & END_STREAM) !== 0, 'trailers');
    const log = h.streams[0]!;
    expect(log.headers[':path']).toBe('/echo');
    expect(log.headers['x-long']).toBe('v'.repeat(300));
    expect(log.headers['content-type']).toBe('application/grpc');
    expect(Buffer.concat(log.body).toString()).toBe(body.toString());
    expect(log.events).toEqual([`data:${body.length}`, 'end', 'close']);

    const mine = c.of(1);
    expect(mine.map((f) => f.type)).toEqual([T.HEADERS, T.DATA, T.HEADERS]);
    expect(headerBlocks(mine, 1)).toEqual([
      { ':status': '200', 'content-type': 'application/grpc' },
      { 'grpc-status': '0', 'grpc-message': '' },
    ]);
    expect(dataOf(mine, 1).toString()).toBe(`>${body}`);
    // The whole response in one read: one buffer from one turn of the server's loop.
    for (const f of mine) {
      expect(f.firstChunk).toBe(trailers.firstChunk);
      expect(f.lastChunk).toBe(trailers.firstChunk);
    }
    await c.ping();
    expect(c.of(1).some((f) => f.type === T.RST_STREAM)).toBe(false);
  });

  it('sends respond + write + end of one turn as one socket read', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    c.send(request(1, '/big', true, [['x-size', '1000']]));
    await c.waitFrame((f) => f.sid === 1 && f.type === T.HEADERS && (f.flags & END_STREAM) !== 0, 'trailers');
    const mine = c.of(1);
    expect(mine.map((f) => f.type)).toEqual([T.HEADERS, T.DATA, T.HEADERS]);
    expect(new Set(mine.flatMap((f) => [f.firstChunk, f.lastChunk])).size).toBe(1);
    expect(dataOf(mine, 1)).toHaveLength(1000);
    expect(h.streams[0]!.events).toEqual(['end', 'write:true', 'close']);
  });

  it('serves many streams on one connection, interleaved', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    const ids = [1, 3, 5, 7, 9];
    c.send(...ids.map((id) => request(id, '/echo')));
    c.send(...ids.map((id) => data(id, Buffer.from(`body-${id}`), true)));
    await c.until(() => ids.every((id) => c.of(id).some((f) => (f.flags & END_STREAM) !== 0)), 'all answers');
    for (const id of ids) expect(dataOf(c.frames, id).toString()).toBe(`>body-${id}`);
  });

  it('gives an empty HEADERS+END_STREAM request (no DATA) its end', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    c.send(request(1, '/echo', true));
    await c.waitFrame((f) => f.sid === 1 && (f.flags & END_STREAM) !== 0, 'answer');
    expect(dataOf(c.frames, 1).toString()).toBe('>');
    expect(h.streams[0]!.events).toEqual(['end', 'close']);
  });

  it('announces a smaller HPACK table the client asked for at the start of its next header block', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port, { settings: [[S.HEADER_TABLE_SIZE, 0]] });
    c.send(request(1, '/echo', true), request(3, '/echo', true));
    await c.until(() => [1, 3].every((id) => c.of(id).some((f) => (f.flags & END_STREAM) !== 0)), 'answers');
    const first = c.frames.find((f) => f.type === T.HEADERS)!;
    // 001xxxxx: dynamic table size update, here to 0; only the first block after the change carries it.
    expect(first.payload[0]).toBe(0x20);
    const later = c.frames.filter((f) => f.type === T.HEADERS).slice(1);
    for (const f of later) expect(f.payload[0]! & 0xe0).not.toBe(0x20);
    const dec = new HpackDecoder();
    expect(headerBlocks(c.frames, 1, dec)[0]).toEqual({ ':status': '200', 'content-type': 'application/grpc' });
  });

  it('interoperates with node:http2 (nghttp2) as a client, also with a zero-sized HPACK table', async () => {
    const h = await startServer({ windowSize: 1 << 20 });
    for (const headerTableSize of [4096, 0]) {
      const session = http2.connect(`http://127.0.0.1:${h.port}`, { settings: { headerTableSize } });
      try {
        const get = async (path: string, body: Buffer, size?: number) => {
          const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', ...(size ? { 'x-size': String(size) } : {}) });
          req.end(body);
          const chunks: Buffer[] = [];
          let status: unknown;
          let trailers: unknown;
          req.on('response', (hd) => (status = hd[':status']));
          req.on('trailers', (t) => (trailers = t['grpc-status']));
          req.on('data', (d: Buffer) => chunks.push(d));
          await new Promise<void>((resolve, reject) => {
            req.on('end', resolve);
            req.on('error', reject);
            setTimeout(() => reject(new Error('http2 request timed out')), 5000);
          });
          return { status, trailers, body: Buffer.concat(chunks) };
        };
        const r1 = await get('/echo', Buffer.from('ping'));
        expect(r1).toEqual({ status: 200, trailers: '0', body: Buffer.from('>ping') });
        const r2 = await get('/big', EMPTY, 200_000);
        expect(r2.status).toBe(200);
        expect(r2.trailers).toBe('0');
        expect(r2.body).toHaveLength(200_000);
        expect(r2.body[250]).toBe(250);
        const r3 = await get('/echo', Buffer.alloc(300_000, 1));
        expect(r3.body).toHaveLength(300_001);
      } finally {
        session.destroy();
      }
    }
  });
});

describe('H2Connection: flow control', () => {
  it('sends no more than the windows allow, resumes on stream and connection WINDOW_UPDATE and on SETTINGS', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port, { settings: [[S.INITIAL_WINDOW_SIZE, 10]] });
    const total = 100_000;
    c.send(request(1, '/big', true, [['x-size', String(total)]]));
    const sent = () => dataOf(c.frames, 1).length;
    await c.until(() => sent() === 10, 'first 10 bytes');
    await c.ping();
    expect(sent()).toBe(10);
    const log = h.streams[0]!;
    expect(log.events).toEqual(['end', 'write:false']);

    // The stream window opens wide; the connection's 65,535 is the limit now.
    c.send(windowUpdate(1, 70_000));
    await c.until(() => sent() === 65_535, 'connection window used up');
    await c.ping();
    expect(sent()).toBe(65_535);
    expect(log.events).toEqual(['end', 'write:false']);

    // The connection opens; the stream has 70,010 - 65,535 = 4,475 left.
    c.send(windowUpdate(0, 1_000_000));
    await c.until(() => sent() === 70_010, 'stream window used up');
    await c.ping();
    expect(sent()).toBe(70_010);
    expect(c.of(1).some((f) => f.type === T.HEADERS && (f.flags & END_STREAM) !== 0)).toBe(false);

    // A larger initial window applies to open streams too.
    c.send(settings([[S.INITIAL_WINDOW_SIZE, 10 + 40_000]]));
    await c.waitFrame((f) => f.sid === 1 && f.type === T.HEADERS && (f.flags & END_STREAM) !== 0, 'trailers');
    expect(sent()).toBe(total);
    const types = c.of(1).map((f) => f.type);
    expect(types[0]).toBe(T.HEADERS);
    expect(types.at(-1)).toBe(T.HEADERS);
    expect(types.slice(1, -1).every((t) => t === T.DATA)).toBe(true);
    const payload = dataOf(c.frames, 1);
    for (let i = 0; i < total; i += 997) expect(payload[i]).toBe(i % 251);
    expect(log.events).toEqual(['end', 'write:false', 'drain', 'close']);
  });

  it('holds back DATA when a SETTINGS lowers the window below what was sent, until it is positive again', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port, { settings: [[S.INITIAL_WINDOW_SIZE, 100]] });
    c.send(request(1, '/big', true, [['x-size', '500']]));
    await c.until(() => dataOf(c.frames, 1).length === 100, '100 bytes');
    // Window is now 100 - 100 = 0; lowering the initial size by 50 makes it -50.
    c.send(settings([[S.INITIAL_WINDOW_SIZE, 50]]));
    c.send(windowUpdate(1, 40));
    await c.ping();
    expect(dataOf(c.frames, 1)).toHaveLength(100);
    c.send(windowUpdate(1, 20));
    await c.until(() => dataOf(c.frames, 1).length === 110, '10 more bytes');
    c.send(windowUpdate(1, 1000));
    await c.waitFrame((f) => f.sid === 1 && (f.flags & END_STREAM) !== 0, 'trailers');
    expect(dataOf(c.frames, 1)).toHaveLength(500);
  });

  it('keeps DATA frames within the peer max frame size, default and raised; rejects a smaller one', async () => {
    const h = await startServer();
    const big = 100 * 1024;
    for (const maxFrame of [undefined, 40_000]) {
      const pairs: Array<[number, number]> = [[S.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]];
      if (maxFrame !== undefined) pairs.push([S.MAX_FRAME_SIZE, maxFrame]);
      const c = await Client.connect(h.port, { settings: pairs });
      c.send(windowUpdate(0, 1 << 30), request(1, '/big', true, [['x-size', String(big)]]));
      await c.waitFrame((f) => f.sid === 1 && (f.flags & END_STREAM) !== 0, 'trailers');
      const sizes = c.of(1).filter((f) => f.type === T.DATA).map((f) => f.payload.length);
      const limit = maxFrame ?? 16_384;
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(big);
      expect(Math.max(...sizes)).toBe(limit);
      expect(c.frames.every((f) => f.payload.length <= limit)).toBe(true);
    }
    const bad = await Client.connect(h.port, { settings: [[S.MAX_FRAME_SIZE, 16_383]] });
    expect((await bad.goaway()).code).toBe(E.PROTOCOL_ERROR);
  });

  it('grants the window back once more than half of it has arrived, for connection and stream', async () => {
    const h = await startServer({ windowSize: 65_535 });
    const c = await Client.connect(h.port);
    c.send(request(1, '/hold'));
    const chunk = Buffer.alloc(16_384, 3);
    c.send(data(1, chunk), data(1, chunk), data(1, Buffer.alloc(100)));
    await c.until(() => c.frames.filter((f) => f.type === T.WINDOW_UPDATE).length >= 2, 'WINDOW_UPDATEs');
    await c.ping();
    const updates = c.frames.filter((f) => f.type === T.WINDOW_UPDATE).map((f) => [f.sid, f.payload.readUInt32BE(0)]);
    expect(updates).toEqual([
      [0, 32_768],
      [1, 32_768],
    ]);
    await until(() => h.streams[0]!.body.length === 3, 'data at the server');
    // The client may go on sending past its first 65,535 bytes.
    for (let i = 0; i < 8; i++) c.send(data(1, chunk));
    await until(() => Buffer.concat(h.streams[0]!.body).length === 2 * 16_384 + 100 + 8 * 16_384, 'all data');
  });
});

describe('H2Connection: stream ends', () => {
  it('closes a stream on the client RST_STREAM and sends nothing more on it', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    c.send(request(1, '/hold'));
    await c.waitFrame((f) => f.sid === 1 && f.type === T.HEADERS, 'response headers');
    const log = h.streams[0]!;
    c.send(rstStream(1, E.CANCEL));
    await until(() => log.events.includes('close'), 'stream close');
    expect(log.stream.closed).toBe(true);
    expect(log.stream.write(null, Buffer.from('late'))).toBe(true);
    log.stream.end(TRAILERS);
    log.stream.reset(E.INTERNAL_ERROR);
    await c.ping();
    expect(c.of(1).map((f) => f.type)).toEqual([T.HEADERS]);
    expect(log.events.filter((e) => e === 'close')).toHaveLength(1);
    // DATA after the reset is dropped; the connection goes on.
    c.send(data(1, Buffer.from('after reset'), true), request(3, '/echo', true));
    await c.waitFrame((f) => f.sid === 3 && (f.flags & END_STREAM) !== 0, 'next answer');
    expect(log.body).toHaveLength(0);
  });

  it('answers a stream before the client is done with RST_STREAM(NO_ERROR), then drops its DATA', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    c.send(request(1, '/early'));
    await c.waitFrame((f) => f.sid === 1 && f.type === T.RST_STREAM, 'RST_STREAM');
    const mine = c.of(1);
    expect(mine.map((f) => [f.type, f.flags & END_STREAM])).toEqual([
      [T.HEADERS, END_STREAM],
      [T.RST_STREAM, 0],
    ]);
    expect(mine[1]!.payload.readUInt32BE(0)).toBe(E.NO_ERROR);
    expect(headerBlocks(mine, 1)[0]!['grpc-status']).toBe('12');
    // The client had not seen the answer yet and goes on sending.
    c.send(data(1, Buffer.alloc(16_384, 1)), data(1, Buffer.alloc(16_384, 1)), data(1, Buffer.from('x'), true));
    c.send(request(3, '/echo'), data(3, Buffer.from('still here'), true));
    await c.waitFrame((f) => f.sid === 3 && (f.flags & END_STREAM) !== 0, 'next answer');
    expect(dataOf(c.frames, 3).toString()).toBe('>still here');
    expect(c.of(1)).toHaveLength(2);
    // The dropped DATA still counted against (and was granted back to) the connection window.
    expect(c.frames.some((f) => f.type === T.WINDOW_UPDATE && f.sid === 0)).toBe(true);
    expect(h.streams[0]!.events).toEqual(['close']);
  });

  it('sends no RST_STREAM after answering a request the client had already ended', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    c.send(request(1, '/early', true));
    await c.waitFrame((f) => f.sid === 1 && (f.flags & END_STREAM) !== 0, 'trailers-only answer');
    await c.ping();
    expect(c.of(1).map((f) => f.type)).toEqual([T.HEADERS]);
    expect(h.streams[0]!.events).toEqual(['close']);
  });

  it('tells a client that reuses a stream id for a new request with RST_STREAM(STREAM_CLOSED)', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    c.send(request(1, '/echo'), data(1, Buffer.from('one'), true));
    await c.waitFrame((f) => f.sid === 1 && (f.flags & END_STREAM) !== 0, 'first answer');
    c.send(request(1, '/echo'));
    const rst = await c.waitFrame((f) => f.sid === 1 && f.type === T.RST_STREAM, 'RST_STREAM');
    expect(rst.payload.readUInt32BE(0)).toBe(E.STREAM_CLOSED);
    expect(h.streams).toHaveLength(1);
    // The connection goes on.
    c.send(request(3, '/echo'), data(3, Buffer.from('two'), true));
    await c.waitFrame((f) => f.sid === 3 && (f.flags & END_STREAM) !== 0, 'next answer');
    expect(dataOf(c.frames, 3).toString()).toBe('>two');
  });

  it('ends a stream once when the client sends trailers after END_STREAM (STREAM_CLOSED)', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    c.send(request(1, '/hold'), data(1, Buffer.from('a'), true));
    // A second END_STREAM, in a trailers block, on a stream already half-closed by the client.
    c.send(frame(T.HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders([['x-trailer', '1']])));
    await c.waitFrame((f) => f.sid === 1 && f.type === T.RST_STREAM, 'RST_STREAM');
    expect(c.of(1).find((f) => f.type === T.RST_STREAM)!.payload.readUInt32BE(0)).toBe(E.STREAM_CLOSED);
    const log = h.streams[0]!;
    expect(log.stream.remoteEnded).toBe(true);
    expect(log.events.filter((e) => e === 'close')).toHaveLength(1);
    await c.ping();
  });

  it('calls onEnd once however many END_STREAM flags arrive', async () => {
    let ends = 0;
    const h = await startServer({}, (log) => {
      log.stream.onEnd = () => ends++;
    });
    const c = await Client.connect(h.port);
    c.send(request(1, '/x'), data(1, Buffer.from('a'), true));
    c.send(frame(T.HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders([['x-trailer', '1']])));
    c.send(data(1, Buffer.from('b'), true));
    c.send(request(3, '/x', true), frame(T.HEADERS, END_HEADERS | END_STREAM, 3, encodeHeaders([['x-trailer', '1']])));
    await c.ping();
    expect(ends).toBe(2);
    expect(h.streams.map((s) => s.events)).toEqual([['data:1', 'close'], ['close']]);
  });

  it('accepts client trailers as the end of a request', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    c.send(request(1, '/echo'), data(1, Buffer.from('abc')), frame(T.HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders([['x-t', '1']])));
    await c.waitFrame((f) => f.sid === 1 && (f.flags & END_STREAM) !== 0, 'answer');
    expect(dataOf(c.frames, 1).toString()).toBe('>abc');
  });

  it('fires every open stream onClose once and the connection onClose once when the client goes away', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    c.send(request(1, '/hold'), request(3, '/hold'), request(5, '/big', false, [['x-size', '10']]), request(7, '/hold'));
    await c.waitFrame((f) => f.sid === 7 && f.type === T.HEADERS, 'headers of 7');
    c.send(rstStream(3, E.CANCEL));
    await until(() => h.streams[1]!.events.includes('close'), 'reset of 3');
    c.sock.destroy();
    await until(() => h.connCloses[0] === 1, 'connection close');
    await sleep(20);
    expect(h.connCloses).toEqual([1]);
    for (const log of h.streams) {
      expect(log.events.filter((e) => e === 'close')).toHaveLength(1);
      expect(log.stream.closed).toBe(true);
    }
    // Calls on a stream of a gone connection are no-ops.
    expect(h.streams[0]!.stream.write(null, Buffer.from('x'))).toBe(true);
  });

  it('survives stream callbacks that throw: the stream is reset, the connection and the process go on', async () => {
    const h = await startServer({}, (log) => {
      const s = log.stream;
      s.respond(RESPONSE, false);
      if (log.headers[':path'] === '/drain-throws') {
        expect(s.write(null, Buffer.alloc(100))).toBe(false);
        s.onDrain = () => {
          throw new Error('drain handler bug');
        };
      }
      s.onClose = () => {
        log.events.push('close');
        throw new Error('close handler bug');
      };
    });
    const c = await Client.connect(h.port, { settings: [[S.INITIAL_WINDOW_SIZE, 10]] });
    c.send(request(1, '/drain-throws'), request(3, '/hold'), request(5, '/hold'));
    await c.until(() => dataOf(c.frames, 1).length === 10, 'first bytes');
    c.send(windowUpdate(1, 1000));
    await c.waitFrame((f) => f.sid === 1 && f.type === T.RST_STREAM, 'reset of the failed stream');
    expect(c.of(1).find((f) => f.type === T.RST_STREAM)!.payload.readUInt32BE(0)).toBe(E.INTERNAL_ERROR);
    c.sock.destroy();
    await until(() => h.connCloses[0] === 1, 'connection close');
    expect(h.streams.map((s) => s.events.filter((e) => e === 'close').length)).toEqual([1, 1, 1]);
  });
});

describe('H2Connection: connection errors', () => {
  const badInputs: Array<[string, () => Buffer[], number]> = [
    ['a bad preface', () => [Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n')], E.PROTOCOL_ERROR],
    ['a frame over 16384 bytes', () => [PREFACE, settings([]), frame(T.DATA, 0, 1, Buffer.alloc(16_385))], E.FRAME_SIZE_ERROR],
    ['a frame header announcing 16 MB', () => [PREFACE, settings([]), Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1])], E.FRAME_SIZE_ERROR],
    ['DATA on stream 0', () => [PREFACE, settings([]), data(0, Buffer.from('x'))], E.PROTOCOL_ERROR],
    ['DATA on an idle stream', () => [PREFACE, settings([]), data(9, Buffer.from('x'))], E.PROTOCOL_ERROR],
    ['HEADERS on an even stream', () => [PREFACE, settings([]), request(2, '/echo', true)], E.PROTOCOL_ERROR],
    ['HEADERS on stream 0', () => [PREFACE, settings([]), request(0, '/echo', true)], E.PROTOCOL_ERROR],
    ['CONTINUATION without HEADERS', () => [PREFACE, settings([]), frame(T.CONTINUATION, END_HEADERS, 1, requestBlock('/echo'))], E.PROTOCOL_ERROR],
    [
      'a frame between HEADERS and CONTINUATION',
      () => {
        const block = requestBlock('/echo');
        return [PREFACE, settings([]), frame(T.HEADERS, 0, 1, block.subarray(0, 10)), frame(T.PING, 0, 0, Buffer.alloc(8)), frame(T.CONTINUATION, END_HEADERS, 1, block.subarray(10))];
      },
      E.PROTOCOL_ERROR,
    ],
    [
      'CONTINUATION on another stream',
      () => {
        const block = requestBlock('/echo');
        return [PREFACE, settings([]), frame(T.HEADERS, 0, 1, block.subarray(0, 10)), frame(T.CONTINUATION, END_HEADERS, 3, block.subarray(10))];
      },
      E.PROTOCOL_ERROR,
    ],
    ['malformed HPACK (index 0)', () => [PREFACE, settings([]), frame(T.HEADERS, END_HEADERS, 1, Buffer.from([0x80]))], E.COMPRESSION_ERROR],
    ['HPACK index past the table', () => [PREFACE, settings([]), frame(T.HEADERS, END_HEADERS, 1, Buffer.from([0xff, 0x10]))], E.COMPRESSION_ERROR],
    ['padding longer than the frame', () => [PREFACE, settings([]), frame(T.HEADERS, END_HEADERS | PADDED, 1, Buffer.from([200, 0x82]))], E.PROTOCOL_ERROR],
    ['SETTINGS with a bad length', () => [PREFACE, frame(T.SETTINGS, 0, 0, Buffer.alloc(5))], E.FRAME_SIZE_ERROR],
    ['SETTINGS ACK with a payload', () => [PREFACE, settings([]), frame(T.SETTINGS, ACK, 0, Buffer.alloc(6))], E.FRAME_SIZE_ERROR],
    ['SETTINGS on a stream', () => [PREFACE, frame(T.SETTINGS, 0, 1)], E.PROTOCOL_ERROR],
    ['SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1', () => [PREFACE, settings([[S.INITIAL_WINDOW_SIZE, 2 ** 31]])], E.FLOW_CONTROL_ERROR],
    ['PING with 7 bytes', () => [PREFACE, settings([]), frame(T.PING, 0, 0, Buffer.alloc(7))], E.FRAME_SIZE_ERROR],
    ['PING on a stream', () => [PREFACE, settings([]), frame(T.PING, 0, 1, Buffer.alloc(8))], E.PROTOCOL_ERROR],
    ['WINDOW_UPDATE overflowing the connection window', () => [PREFACE, settings([]), windowUpdate(0, 2 ** 31 - 1)], E.FLOW_CONTROL_ERROR],
    ['WINDOW_UPDATE of 0 on the connection', () => [PREFACE, settings([]), windowUpdate(0, 0)], E.PROTOCOL_ERROR],
    ['WINDOW_UPDATE with 3 bytes', () => [PREFACE, settings([]), frame(T.WINDOW_UPDATE, 0, 0, Buffer.alloc(3))], E.FRAME_SIZE_ERROR],
    ['RST_STREAM on stream 0', () => [PREFACE, settings([]), rstStream(0, 0)], E.PROTOCOL_ERROR],
    ['PUSH_PROMISE', () => [PREFACE, settings([]), frame(T.PUSH_PROMISE, END_HEADERS, 1, Buffer.from([0, 0, 0, 2, 0x82]))], E.PROTOCOL_ERROR],
    [
      'a header block over maxHeaderBlock in CONTINUATIONs',
      () => {
        const block = requestBlock('/echo', [['x-big', 'b'.repeat(1500)]]);
        return [PREFACE, settings([]), frame(T.HEADERS, 0, 1, block.subarray(0, 800)), frame(T.CONTINUATION, END_HEADERS, 1, block.subarray(800))];
      },
      E.ENHANCE_YOUR_CALM,
    ],
    ['a single HEADERS frame over maxHeaderBlock', () => [PREFACE, settings([]), request(1, '/echo', true, [['x-big', 'b'.repeat(1500)]])], E.ENHANCE_YOUR_CALM],
  ];

  it.each(badInputs)('GOAWAY and close on %s; other connections carry on', async (_name, bytes, code) => {
    const h = await startServer({ maxHeaderBlock: 1024 });
    const bystander = await Client.connect(h.port);
    bystander.send(request(1, '/hold'));
    await bystander.waitFrame((f) => f.sid === 1 && f.type === T.HEADERS, 'bystander headers');
    const c = await Client.connect(h.port, { preface: false });
    c.send(...bytes());
    const g = await c.goaway();
    expect(g.code).toBe(code);
    expect(g.lastStreamId).toBe(0);
    await until(() => h.connCloses[1] === 1, 'connection onClose');
    await bystander.ping();
    bystander.send(request(3, '/echo', true));
    await bystander.waitFrame((f) => f.sid === 3 && (f.flags & END_STREAM) !== 0, 'bystander answer');
    expect(h.connCloses).toEqual([0, 1]);
    expect(h.streams[0]!.events).toEqual([]);
  });

  it('names the last stream it opened in GOAWAY and closes open streams once', async () => {
    const h = await startServer();
    const c = await Client.connect(h.port);
    c.send(request(1, '/hold'), request(5, '/hold'));
    await c.waitFrame((f) => f.sid === 5 && f.type === T.HEADERS, 'headers of 5');
    c.send(frame(T.HEADERS, END_HEADERS, 7, Buffer.from([0x80])));
    expect(await c.goaway()).toEqual({ lastStreamId: 5, code: E.COMPRESSION_ERROR });
    await until(() => h.connCloses[0] === 1, 'connection onClose');
    expect(h.streams.map((s) => s.events)).toEqual([['close'], ['close']]);
  });

  it('refuses a stream whose decoded header list is over maxHeaderBlock and keeps the connection', async () => {
    const h = await startServer({ maxHeaderBlock: 16_384 });
    const c = await Client.connect(h.port);
    // One 4000-byte value put in the HPACK table, then referenced by one byte each: 3 KB of
    // block decodes to 12 MB of headers.
    const literal = Buffer.concat([Buffer.from([0x40, 6]), Buffer.from('x-bomb'), hpackInt(0, 7, 4000), Buffer.alloc(4000, 0x61)]);
    const block = Buffer.concat([requestBlock('/echo'), literal, Buffer.alloc(3000, 0xbe)]);
    c.send(frame(T.HEADERS, END_HEADERS, 1, block), data(1, Buffer.from('x'), true));
    const rst = await c.waitFrame((f) => f.sid === 1 && f.type === T.RST_STREAM, 'RST_STREAM');
    expect(rst.payload.readUInt32BE(0)).toBe(E.FRAME_SIZE_ERROR);
    expect(h.streams).toHaveLength(0);
    // The table entry stays in step: a later block may reference it.
    c.send(frame(T.HEADERS, END_HEADERS | END_STREAM, 3, Buffer.concat([requestBlock('/echo'), Buffer.from([0xbe])])));
    await c.waitFrame((f) => f.sid === 3 && (f.flags & END_STREAM) !== 0, 'next answer');
    expect(h.streams[0]!.headers['x-bomb']).toBe('a'.repeat(4000));
  });
});

/** A connected socket the test never reads from (no 'data' listener), cleaned up after the test. */
async function unreadSocket(port: number): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1');
  clients.push(sock);
  sock.on('error', () => undefined);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  return sock;
}

describe('H2Connection: hostile peers', () => {
  it('stops reading from a client that does not read its answers (PING flood)', async () => {
    const h = await startServer();
    const sock = await unreadSocket(h.port);
    const pings = Buffer.concat(Array.from({ length: 1000 }, () => frame(T.PING, 0, 0, Buffer.alloc(8, 1))));
    sock.write(Buffer.concat([PREFACE, settings([])]));
    const rounds = 1500; // 25 MB of PINGs, as much answer.
    for (let i = 0; i < rounds; i++) sock.write(pings);
    await until(() => h.sockets.length === 1, 'accept');
    const server = h.sockets[0]!;
    let last = -1;
    // Wait until the server has stopped taking input.
    for (let i = 0; i < 200 && server.bytesRead !== last; i++) {
      last = server.bytesRead;
      await sleep(50);
    }
    expect(server.bytesRead).toBeLessThan(rounds * pings.length);
    expect(server.writableLength).toBeLessThan(2 << 20);
  });

  it('refuses new streams while answers held for a client that grants no window pass 64 MiB', async () => {
    const h = await startServer();
    // No window for any stream: every answer waits in its stream.
    const c = await Client.connect(h.port, { settings: [[S.INITIAL_WINDOW_SIZE, 0]] });
    const size = 8 * 1024 * 1024;
    for (let sid = 1; sid <= 21; sid += 2) c.send(request(sid, '/big', true, [['x-size', String(size)]]));
    await c.ping();
    // Eight answers hold 64 MiB; the ninth goes past it; the tenth and
    // eleventh are refused.
    const refused = c.frames.filter((f) => f.type === T.RST_STREAM && f.payload.readUInt32BE(0) === 7).map((f) => f.sid);
    expect(refused).toEqual([19, 21]);
    expect(h.streams).toHaveLength(9);
    expect(h.conns[0]!.heldBytes).toBe(9 * size);
    // Once the client resets a stream, what it held is released.
    c.send(rstStream(1, E.CANCEL));
    await c.ping();
    expect(h.conns[0]!.heldBytes).toBe(8 * size);
    c.send(request(23, '/echo'), data(23, Buffer.from('x'), true));
    await c.ping();
    expect(h.streams.map((s) => s.headers[':path'])).toContain('/echo');
  });

  it('does not keep a failed connection open behind output the client never reads', async () => {
    const h = await startServer();
    const sock = await unreadSocket(h.port);
    sock.write(
      Buffer.concat([
        PREFACE,
        settings([[S.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]]),
        windowUpdate(0, 2 ** 31 - 1 - 65_535),
        request(1, '/big', true, [['x-size', String(16 << 20)]]),
        frame(T.PUSH_PROMISE, 0, 1),
      ]),
    );
    await until(() => h.sockets.length === 1, 'accept');
    const server = h.sockets[0]!;
    // Without a limit the GOAWAY's write callback never comes and the socket stays open.
    await until(() => h.connCloses[0] === 1, 'connection closed', 8000);
    expect(server.destroyed).toBe(true);
  });

  it('joins a header block across 200,000 empty CONTINUATION frames', async () => {
    const h = await startServer({ maxHeaderBlock: 4096 });
    const c = await Client.connect(h.port);
    const block = requestBlock('/echo');
    const empties = Buffer.concat(Array.from({ length: 20_000 }, () => frame(T.CONTINUATION, 0, 1)));
    c.send(frame(T.HEADERS, END_STREAM, 1, block.subarray(0, 5)));
    for (let i = 0; i < 10; i++) c.send(empties);
    c.send(frame(T.CONTINUATION, END_HEADERS, 1, block.subarray(5)));
    await c.waitFrame((f) => f.sid === 1 && (f.flags & END_STREAM) !== 0, 'answer');
    expect(h.streams[0]!.headers[':path']).toBe('/echo');
  });
});

describe('H2Connection: fuzz', () => {
  // Frames the server may meet: well-formed requests, any type with any flags
  // on a few stream ids, and raw garbage.
  const sid = fc.oneof(fc.constantFrom(0, 1, 2, 3, 5, 7), fc.integer({ min: 0, max: 2 ** 31 - 1 }));
  const anyFrame = fc
    .record({
      type: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 255 })),
      flags: fc.oneof(fc.constantFrom(0, END_STREAM, END_HEADERS, END_HEADERS | END_STREAM, PADDED, PRIORITY), fc.integer({ min: 0, max: 255 })),
      sid,
      payload: fc.uint8Array({ maxLength: 40 }),
    })
    .map(({ type, flags, sid: id, payload }) => frame(type, flags, id, payload));
  const goodHeaders = fc
    .record({ id: fc.constantFrom(1, 3, 5, 7, 9), path: fc.constantFrom('/echo', '/big', '/early', '/hold'), end: fc.boolean(), size: fc.integer({ min: 0, max: 70_000 }) })
    .map(({ id, path, end, size }) => request(id, path, end, [['x-size', String(size)]]));
  const goodData = fc.record({ id: fc.constantFrom(1, 3, 5), n: fc.integer({ min: 0, max: 20_000 }), end: fc.boolean() }).map(({ id, n, end }) => data(id, Buffer.alloc(n, 7), end));
  const control = fc.oneof(
    fc.record({ id: fc.constantFrom(0, 1, 3), inc: fc.integer({ min: 0, max: 2 ** 31 - 1 }) }).map(({ id, inc }) => windowUpdate(id, inc)),
    fc.array(fc.tuple(fc.integer({ min: 0, max: 8 }), fc.nat()), { maxLength: 3 }).map((pairs) => settings(pairs)),
    fc.record({ id: fc.constantFrom(1, 3, 5), code: fc.nat(15) }).map(({ id, code }) => rstStream(id, code)),
  );
  const garbage = fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) => Buffer.from(b));
  const piece = fc.oneof(
    { weight: 4, arbitrary: anyFrame },
    { weight: 3, arbitrary: goodHeaders },
    { weight: 2, arbitrary: goodData },
    { weight: 3, arbitrary: control },
    { weight: 1, arbitrary: garbage },
  );
  const session = fc.record({
    pieces: fc.array(piece, { maxLength: 25 }),
    cuts: fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 12 }),
    hangUp: fc.boolean(),
  });

  it('never throws out of the connection, whatever the client sends', async () => {
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    process.on('uncaughtException', onError);
    process.on('unhandledRejection', onError);
    try {
      const h = await startServer({ windowSize: 65_535, maxHeaderBlock: 2048 });
      let runs = 0;
      const started = Date.now();
      await fc.assert(
        fc.asyncProperty(session, async ({ pieces, cuts, hangUp }) => {
          runs++;
          const c = await Client.connect(h.port, { preface: false });
          const bytes = Buffer.concat([PREFACE, ...pieces]);
          // Send in arbitrary pieces, each its own write.
          let pos = 0;
          for (const cut of cuts) {
            if (pos >= bytes.length) break;
            c.send(bytes.subarray(pos, pos + cut));
            pos += cut;
            if (cut % 3 === 0) await sleep(0);
          }
          c.send(bytes.subarray(pos));
          if (hangUp) c.sock.end();
          else {
            // A PING answered means the server is still reading this connection.
            c.send(frame(T.PING, 0, 0, Buffer.alloc(8, 9)));
          }
          await c
            .until(() => c.closed || c.frames.some((f) => f.type === T.PING && (f.flags & ACK) !== 0 && f.payload.equals(Buffer.alloc(8, 9))), 'ping or close', 150)
            .catch(() => undefined);
          // Nothing follows a GOAWAY: the connection is over for the server.
          const g = c.frames.findIndex((f) => f.type === T.GOAWAY);
          if (g >= 0) expect(g).toBe(c.frames.length - 1);
          c.sock.destroy();
          expect(errors).toEqual([]);
        }),
        { numRuns: 300, interruptAfterTimeLimit: 15_000 },
      );
      expect(runs).toBeGreaterThan(10);
      // Everything that was opened is closed again, once.
      await until(() => h.connCloses.every((n) => n === 1), 'all connections closed', 5000);
      for (const log of h.streams) expect(log.events.filter((e) => e === 'close')).toHaveLength(1);
      // The server still answers a fresh connection.
      const c = await Client.connect(h.port);
      c.send(request(1, '/echo'), data(1, Buffer.from('after the storm'), true));
      await c.waitFrame((f) => f.sid === 1 && (f.flags & END_STREAM) !== 0, 'answer');
      expect(dataOf(c.frames, 1).toString()).toBe('>after the storm');
      expect(errors).toEqual([]);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    }
  });

  // A client that keeps to the protocol (but for DATA after its own end,
  // a stream error), driving streams through their states in random orders.
  type Op =
    | { k: 'open'; path: string; end: boolean; split: boolean; size: number }
    | { k: 'data'; which: number; n: number; end: boolean; pad: number }
    | { k: 'trailers'; which: number }
    | { k: 'rst'; which: number; code: number }
    | { k: 'wu'; which: number; inc: number }
    | { k: 'settings'; iws: number | null; maxFrame: number | null; table: number | null }
    | { k: 'ping' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ k: fc.constant('open' as const), path: fc.constantFrom('/echo', '/big', '/early', '/hold'), end: fc.boolean(), split: fc.boolean(), size: fc.integer({ min: 0, max: 90_000 }) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('data' as const), which: fc.nat(7), n: fc.integer({ min: 0, max: 16_000 }), end: fc.boolean(), pad: fc.integer({ min: -1, max: 255 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('trailers' as const), which: fc.nat(7) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('rst' as const), which: fc.nat(7), code: fc.nat(13) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('wu' as const), which: fc.integer({ min: -1, max: 7 }), inc: fc.integer({ min: 1, max: 100_000 }) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('settings' as const),
        iws: fc.option(fc.integer({ min: 0, max: 100_000 })),
        maxFrame: fc.option(fc.integer({ min: 16_384, max: 70_000 })),
        table: fc.option(fc.integer({ min: 0, max: 4096 })),
      }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('ping' as const) }) },
  );

  /** The client's frames for `ops`, and the SETTINGS it sent, in order (the preface's empty one first). */
  function play(ops: Op[]): { bytes: Buffer; sent: Array<Map<number, number>>; windowUpdates: Map<number, number> } {
    const out: Buffer[] = [PREFACE, settings([])];
    const sent: Array<Map<number, number>> = [new Map()];
    const windowUpdates = new Map<number, number>();
    const open: number[] = [];
    let next = 1;
    for (const o of ops) {
      if (o.k === 'open') {
        const id = next;
        next += 2;
        open.push(id);
        const block = requestBlock(o.path, [['x-size', String(o.size)]]);
        const flags = o.end ? END_STREAM : 0;
        if (o.split) out.push(frame(T.HEADERS, flags, id, block.subarray(0, 7)), frame(T.CONTINUATION, END_HEADERS, id, block.subarray(7)));
        else out.push(frame(T.HEADERS, flags | END_HEADERS, id, block));
      } else if (o.k === 'settings') {
        const pairs: Array<[number, number]> = [];
        if (o.iws !== null) pairs.push([S.INITIAL_WINDOW_SIZE, o.iws]);
        if (o.maxFrame !== null) pairs.push([S.MAX_FRAME_SIZE, o.maxFrame]);
        if (o.table !== null) pairs.push([S.HEADER_TABLE_SIZE, o.table]);
        out.push(settings(pairs));
        sent.push(new Map(pairs));
      } else if (o.k === 'ping') {
        out.push(frame(T.PING, 0, 0, Buffer.alloc(8, 1)));
      } else if (o.k === 'wu' && o.which < 0) {
        out.push(windowUpdate(0, o.inc));
        windowUpdates.set(0, (windowUpdates.get(0) ?? 0) + o.inc);
      } else if (open.length > 0) {
        const id = open[o.which % open.length]!;
        if (o.k === 'data') {
          const body = Buffer.alloc(o.n, 5);
          const flags = o.end ? END_STREAM : 0;
          if (o.pad < 0) out.push(data(id, body, o.end));
          else out.push(frame(T.DATA, flags | PADDED, id, Buffer.concat([Buffer.from([o.pad]), body, Buffer.alloc(o.pad)])));
        } else if (o.k === 'trailers') out.push(frame(T.HEADERS, END_HEADERS | END_STREAM, id, encodeHeaders([['x-trailer', 't']])));
        else if (o.k === 'rst') out.push(rstStream(id, o.code));
        else {
          out.push(windowUpdate(id, o.inc));
          windowUpdates.set(id, (windowUpdates.get(id) ?? 0) + o.inc);
        }
      }
    }
    return { bytes: Buffer.concat(out), sent, windowUpdates };
  }

  /**
   * What a strict client would check of the server's frames: header blocks
   * decode, one that follows a smaller HEADER_TABLE_SIZE starts with a table
   * size update (as nghttp2 demands), DATA stays within frame size and
   * windows, and nothing but a RST_STREAM(NO_ERROR) follows a stream's end.
   */
  function checkServerFrames(frames: Frame[], sent: Array<Map<number, number>>, windowUpdates: Map<number, number>): void {
    const decoder = new HpackDecoder();
    let acks = 0;
    let tableMax = 4096;
    let mustAnnounce: number | null = null;
    let maxFrame = 16_384;
    let maxInitial = 65_535;
    let block: Buffer[] = [];
    const dataBytes = new Map<number, number>();
    const ended = new Map<number, 'end' | 'rst'>();
    for (const f of frames) {
      if (f.type === T.SETTINGS && (f.flags & ACK) !== 0) {
        const applied = sent[acks++];
        expect(applied).toBeDefined();
        const t = applied!.get(S.HEADER_TABLE_SIZE);
        if (t !== undefined && t < tableMax) mustAnnounce = Math.min(mustAnnounce ?? t, t);
        maxFrame = Math.max(maxFrame, applied!.get(S.MAX_FRAME_SIZE) ?? 0);
        maxInitial = Math.max(maxInitial, applied!.get(S.INITIAL_WINDOW_SIZE) ?? 0);
        continue;
      }
      if (f.sid === 0) continue;
      expect(f.sid % 2).toBe(1);
      expect(f.payload.length).toBeLessThanOrEqual(maxFrame);
      const was = ended.get(f.sid);
      if (was === 'rst') throw new Error(`frame type ${f.type} on stream ${f.sid} after RST_STREAM`);
      if (was === 'end') {
        expect(f.type).toBe(T.RST_STREAM);
        expect(f.payload.readUInt32BE(0)).toBe(E.NO_ERROR);
      }
      if (f.type === T.RST_STREAM) ended.set(f.sid, 'rst');
      if (f.type === T.DATA) dataBytes.set(f.sid, (dataBytes.get(f.sid) ?? 0) + f.payload.length);
      if (f.type === T.HEADERS || f.type === T.CONTINUATION) {
        if (f.type === T.HEADERS && mustAnnounce !== null) {
          const first = f.payload[0]!;
          expect(first & 0xe0).toBe(0x20);
          const size = first & 0x1f;
          expect(size).toBeLessThanOrEqual(mustAnnounce);
          tableMax = size;
          mustAnnounce = null;
        }
        block.push(f.payload);
        if ((f.flags & END_HEADERS) !== 0) {
          decoder.decode(Buffer.concat(block), () => undefined);
          block = [];
        }
        if (f.type === T.HEADERS && (f.flags & END_STREAM) !== 0) ended.set(f.sid, 'end');
      }
    }
    let total = 0;
    for (const [id, n] of dataBytes) {
      total += n;
      expect(n).toBeLessThanOrEqual(maxInitial + (windowUpdates.get(id) ?? 0));
    }
    expect(total).toBeLessThanOrEqual(65_535 + (windowUpdates.get(0) ?? 0));
  }

  it('keeps to the protocol with a client that does, whatever order its frames come in', async () => {
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    process.on('uncaughtException', onError);
    try {
      const h = await startServer({ windowSize: 65_535, maxHeaderBlock: 4096 });
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 8 }), async (ops, cuts) => {
          const c = await Client.connect(h.port, { preface: false });
          const { bytes, sent, windowUpdates } = play(ops);
          let pos = 0;
          for (const cut of cuts) {
            c.send(bytes.subarray(pos, pos + cut));
            pos += cut;
          }
          c.send(bytes.subarray(pos));
          await c.ping();
          await sleep(0);
          expect(c.frames.some((f) => f.type === T.GOAWAY)).toBe(false);
          checkServerFrames(c.frames, sent, windowUpdates);
          c.sock.destroy();
          expect(errors).toEqual([]);
        }),
        { numRuns: 200, interruptAfterTimeLimit: 15_000 },
      );
      await until(() => h.connCloses.every((n) => n === 1), 'all connections closed', 5000);
      for (const log of h.streams) expect(log.events.filter((e) => e === 'close')).toHaveLength(1);
      expect(errors).toEqual([]);
    } finally {
      process.off('uncaughtException', onError);
    }
  });
});
