// A small gRPC server on node:http2. It routes each stream by :path to a
// registered method and speaks the gRPC wire protocol itself: framing,
// compression, grpc-timeout deadlines and status trailers. Unary calls, the
// bulk of the traffic, take a short path: no per-call objects beyond a
// decoder and a few closures, one write for the whole response.
//
// It never binds a port: the one-port listener hands it sockets that begin
// with the HTTP/2 preface (handleConnection).

import {
  constants,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import { GrpcCode } from '../../errors.js';
import type { WireObject } from '../wire.js';
import { COPY_LIMIT, frameHeader, frameMessage, MessageDecoder, messageBytes, parseTimeout, supportedEncoding, type RawMessage, type Status } from './framing.js';
import { OK_TRAILERS, RESPOND_ONLY, RESPOND_STREAMING, RESPONSE_HEADERS, respondTrailersOnly, statusTrailers } from './status.js';

export type { Status } from './framing.js';

/** The parts of a proto-loader method definition the server uses. */
export interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize(bytes: Buffer): WireObject;
  responseSerialize(msg: WireObject): Buffer | Uint8Array;
}

export type UnaryImpl = (req: WireObject, headers: IncomingHttpHeaders) => Promise<WireObject>;

/**
 * A streaming method. Client-streaming (and bidi) methods start at once with
 * `request` null and read messages through `call.onMessage`; server-streaming
 * methods start when their single request has arrived.
 */
export type StreamingImpl = (call: StreamingCall, request: WireObject | null) => void;

export interface GrpcServerOptions {
  /** Largest request message accepted, before and after decompression. */
  maxReceiveMessageLength: number;
  /** The status a client sees for an error thrown or rejected by a method. */
  toStatus(err: unknown, path: string): Status;
  /** HTTP/2 flow-control window for each stream and for the connection (default 1 MiB). */
  windowSize?: number;
}

interface Route {
  def: MethodDefinition;
  unary: UnaryImpl | null;
  streaming: StreamingImpl | null;
}

const DEFAULT_WINDOW = 1 << 20;
/**
 * nghttp2 refuses new streams on a session past this many MB of buffered
 * state. Node's default (10) is reached by a few large puts in flight on one
 * connection; flow control already bounds what a client can make us hold.
 */
const MAX_SESSION_MEMORY_MB = 1024;

const ignore = (): void => {};

/** A header's value; node joins repeated custom headers, but its type allows arrays. */
function one(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' || v === undefined ? v : v[0];
}

function sendOkTrailers(this: ServerHttp2Stream): void {
  try {
    this.sendTrailers(OK_TRAILERS);
  } catch {
    // Reset between end() and here: the client has gone.
  }
}

/** Writes one message; large ones skip the copy into a framed buffer at the cost of a second write. */
function writeMessage(stream: ServerHttp2Stream, body: Uint8Array, end: boolean): boolean {
  if (body.length <= COPY_LIMIT) {
    if (end) {
      stream.end(frameMessage(body));
      return true;
    }
    return stream.write(frameMessage(body));
  }
  stream.write(frameHeader(body.length));
  if (end) {
    stream.end(body);
    return true;
  }
  return stream.write(body);
}

const deadlineStatus = (): Status => ({ code: GrpcCode.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });

function unmarshalStatus(err: unknown): Status {
  return { code: GrpcCode.INTERNAL, details: `grpc: error unmarshalling request: ${err instanceof Error ? err.message : String(err)}` };
}

function marshalStatus(err: unknown): Status {
  return { code: GrpcCode.INTERNAL, details: `grpc: error while marshaling: ${err instanceof Error ? err.message : String(err)}` };
}

/** grpc-go's wording for a path it has no handler for. */
function unimplemented(path: string, services: ReadonlySet<string>): Status {
  const slash = path.lastIndexOf('/');
  if (path[0] !== '/' || slash <= 0) return { code: GrpcCode.UNIMPLEMENTED, details: `malformed method name: "${path}"` };
  const service = path.slice(1, slash);
  const details = services.has(service) ? `unknown method ${path.slice(slash + 1)} for service ${service}` : `unknown service ${service}`;
  return { code: GrpcCode.UNIMPLEMENTED, details };
}

export class H2GrpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly services = new Set<string>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly h2: Http2Server;
  private readonly maxLen: number;
  private closed = false;

  constructor(private readonly opts: GrpcServerOptions) {
    this.maxLen = opts.maxReceiveMessageLength;
    const window = opts.windowSize ?? DEFAULT_WINDOW;
    this.h2 = createServer({
      settings: { maxConcurrentStreams: 2 ** 32 - 1, initialWindowSize: window },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    });
    this.h2.on('session', (session: ServerHttp2Session) => this.onSession(session, window));
    this.h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.onStream(stream, headers));
  }

  addUnary(def: MethodDefinition, impl: UnaryImpl): void {
    this.add(def, { def, unary: impl, streaming: null });
  }

  addStreaming(def: MethodDefinition, impl: StreamingImpl): void {
    this.add(def, { def, unary: null, streaming: impl });
  }

  private add(def: MethodDefinition, route: Route): void {
    if (this.routes.has(def.path)) throw new Error(`gRPC method ${def.path} registered twice`);
    this.routes.set(def.path, route);
    this.services.add(def.path.slice(1, def.path.lastIndexOf('/')));
  }

  /** Serves HTTP/2 on a connected socket. Bytes already read must have been unshifted back onto it. */
  handleConnection(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.h2.emit('connection', socket);
  }

  /** Drops every session at once: in-flight calls see their streams close. */
  close(): void {
    this.closed = true;
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    this.h2.close();
  }

  private onSession(session: ServerHttp2Session, window: number): void {
    if (this.closed) {
      session.destroy();
      return;
    }
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
    session.on('error', ignore);
    try {
      // The stream window comes with SETTINGS; the connection window only
      // grows by WINDOW_UPDATE, which this sends.
      session.setLocalWindowSize(window);
    } catch {
      // The session died while starting; its 'close' cleans up.
    }
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    // An 'error' without a listener would throw; a reset stream also closes,
    // which is where calls notice it.
    stream.on('error', ignore);
    const ct = headers['content-type'];
    if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) {
      // What grpc-go answers a request that is not gRPC.
      this.reject(stream, null);
      return;
    }
    const path = headers[':path'] ?? '';
    const route = this.routes.get(path);
    if (route === undefined) {
      this.reject(stream, unimplemented(path, this.services));
      return;
    }
    const enc = one(headers['grpc-encoding']);
    if (!supportedEncoding(enc)) {
      this.reject(stream, { code: GrpcCode.UNIMPLEMENTED, details: `grpc: Decompressor is not installed for grpc-encoding "${enc}"` });
      return;
    }
    let timeoutMs: number | undefined;
    const rawTimeout = one(headers['grpc-timeout']);
    if (rawTimeout !== undefined) {
      timeoutMs = parseTimeout(rawTimeout);
      if (timeoutMs === undefined) {
        this.reject(stream, { code: GrpcCode.INTERNAL, details: `malformed grpc-timeout: ${rawTimeout}` });
        return;
      }
    }
    if (route.unary !== null) this.unary(stream, headers, route.def, route.unary, enc, timeoutMs);
    else new StreamingCall(this, stream, headers, route.def, route.streaming!, enc, timeoutMs);
  }

  /** Answers before reading the request; what the client still sends is discarded. */
  private reject(stream: ServerHttp2Stream, s: Status | null): void {
    if (s === null) {
      try {
        stream.respond({ ':status': constants.HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE }, RESPOND_ONLY);
      } catch {
        // Already reset.
      }
    } else {
      respondTrailersOnly(stream, s);
    }
    stream.resume();
  }

  private unary(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    def: MethodDefinition,
    impl: UnaryImpl,
    enc: string | undefined,
    timeoutMs: number | undefined,
  ): void {
    const max = this.maxLen;
    const decoder = new MessageDecoder(max);
    let msg: RawMessage | null = null;
    let count = 0;
    // Set once a status has gone out (error, deadline) so nothing else is sent.
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const fail = (s: Status) => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      respondTrailersOnly(stream, s);
    };
    if (timeoutMs !== undefined) timer = setTimeout(() => fail(deadlineStatus()), timeoutMs);
    const onMessage = (m: RawMessage) => {
      if (count++ === 0) msg = m;
    };
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      const err = decoder.push(chunk, onMessage);
      if (err !== null) fail(err);
    });
    stream.on('end', () => {
      if (done) return;
      if (msg === null || count !== 1 || !decoder.idle) {
        const what = msg === null ? 'no request message' : count !== 1 ? 'more than one request message' : 'a truncated request message';
        fail({ code: GrpcCode.INTERNAL, details: `grpc: received ${what} for unary method ${def.path}` });
        return;
      }
      const bytes = messageBytes(msg, enc, max);
      if (!Buffer.isBuffer(bytes)) return fail(bytes);
      let req: WireObject;
      try {
        req = def.requestDeserialize(bytes);
      } catch (err) {
        return fail(unmarshalStatus(err));
      }
      let pending: Promise<WireObject>;
      try {
        pending = impl(req, headers);
      } catch (err) {
        return fail(this.opts.toStatus(err, def.path));
      }
      pending.then(
        (res) => {
          if (done) return;
          done = true;
          if (timer !== undefined) clearTimeout(timer);
          this.sendUnary(stream, def, res);
        },
        (err: unknown) => fail(this.opts.toStatus(err, def.path)),
      );
    });
  }

  private sendUnary(stream: ServerHttp2Stream, def: MethodDefinition, res: WireObject): void {
    if (stream.destroyed || stream.headersSent) return;
    let body: Uint8Array;
    try {
      body = def.responseSerialize(res);
    } catch (err) {
      respondTrailersOnly(stream, marshalStatus(err));
      return;
    }
    try {
      stream.respond(RESPONSE_HEADERS, RESPOND_STREAMING);
      stream.on('wantTrailers', sendOkTrailers);
      writeMessage(stream, body, true);
    } catch {
      // Reset while answering: the client has gone.
    }
  }

  /** The status for an error a streaming method raised. */
  statusOf(err: unknown, path: string): Status {
    return this.opts.toStatus(err, path);
  }

  /** Largest request message accepted, for streaming calls' decoders. */
  get maxReceiveMessageLength(): number {
    return this.maxLen;
  }
}

/**
 * One streaming call. Methods set the callbacks they need; the server calls
 * them as messages arrive, when the client half-closes, when the transport
 * drains after write() returned false, and once when the call is cancelled
 * (client reset, connection lost, deadline, or a bad incoming message).
 */
export class StreamingCall {
  onMessage: ((req: WireObject) => void) | null = null;
  onHalfClose: (() => void) | null = null;
  onDrain: (() => void) | null = null;
  onCancel: (() => void) | null = null;
  /** A status has been sent (or the stream is gone): writes are dropped. */
  done = false;
  private cancelNotified = false;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private readonly decoder: MessageDecoder;

  constructor(
    private readonly server: H2GrpcServer,
    private readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    private readonly def: MethodDefinition,
    private readonly impl: StreamingImpl,
    private readonly encoding: string | undefined,
    timeoutMs: number | undefined,
  ) {
    this.decoder = new MessageDecoder(server.maxReceiveMessageLength);
    if (timeoutMs !== undefined) this.timer = setTimeout(() => this.abort(deadlineStatus()), timeoutMs);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.onEnd());
    stream.on('drain', () => this.onDrain?.());
    stream.on('close', () => {
      this.done = true;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.notifyCancel();
    });
    if (def.requestStream) this.start(null);
  }

  /** False when the transport buffer is full; onDrain follows. Dropped after the call ended. */
  write(msg: WireObject): boolean {
    if (this.done || this.stream.destroyed) return true;
    let body: Uint8Array;
    try {
      body = this.def.responseSerialize(msg);
    } catch (err) {
      this.abort(marshalStatus(err));
      return true;
    }
    try {
      if (!this.stream.headersSent) this.stream.respond(RESPONSE_HEADERS, RESPOND_STREAMING);
      return writeMessage(this.stream, body, false);
    } catch {
      return true;
    }
  }

  /** Ends the call with OK. */
  end(): void {
    this.sendStatus({ code: GrpcCode.OK, details: '' });
  }

  /** Ends the call with the status of `err`. */
  fail(err: unknown): void {
    this.sendStatus(this.server.statusOf(err, this.def.path));
  }

  sendStatus(s: Status): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const stream = this.stream;
    if (stream.destroyed) return;
    // Whatever the client still sends is read and dropped, so its flow-control
    // window keeps moving.
    stream.resume();
    if (!stream.headersSent) {
      respondTrailersOnly(stream, s);
      return;
    }
    const trailers = s.code === GrpcCode.OK ? OK_TRAILERS : statusTrailers(s);
    stream.on('wantTrailers', () => {
      try {
        stream.sendTrailers(trailers);
      } catch {
        // Reset meanwhile.
      }
    });
    try {
      stream.end();
    } catch {
      // Reset meanwhile.
    }
  }

  /** A status, then the method's cancel path so it releases what it holds. */
  private abort(s: Status): void {
    this.sendStatus(s);
    this.notifyCancel();
  }

  private notifyCancel(): void {
    if (this.cancelNotified) return;
    this.cancelNotified = true;
    const cb = this.onCancel;
    if (cb !== null) this.guard(cb);
  }

  private start(request: WireObject | null): void {
    this.started = true;
    this.guard(() => this.impl(this, request));
  }

  /** Runs method code; a throw ends the call instead of escaping into node's event loop. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.abort(this.server.statusOf(err, this.def.path));
    }
  }

  private onData(chunk: Buffer): void {
    if (this.done) return;
    const err = this.decoder.push(chunk, (m) => this.onRaw(m));
    if (err !== null) this.abort(err);
  }

  private onRaw(m: RawMessage): void {
    if (this.done) return;
    const bytes = messageBytes(m, this.encoding, this.server.maxReceiveMessageLength);
    if (!Buffer.isBuffer(bytes)) return this.abort(bytes);
    let req: WireObject;
    try {
      req = this.def.requestDeserialize(bytes);
    } catch (err) {
      return this.abort(unmarshalStatus(err));
    }
    if (!this.started) {
      this.start(req);
      return;
    }
    if (!this.def.requestStream) {
      this.abort({ code: GrpcCode.INTERNAL, details: `grpc: received more than one request message for ${this.def.path}` });
      return;
    }
    const cb = this.onMessage;
    if (cb !== null) this.guard(() => cb(req));
  }

  private onEnd(): void {
    if (this.done) return;
    if (!this.decoder.idle) {
      this.abort({ code: GrpcCode.INTERNAL, details: 'grpc: received a truncated request message' });
      return;
    }
    if (!this.started) {
      this.abort({ code: GrpcCode.INTERNAL, details: `grpc: received no request message for ${this.def.path}` });
      return;
    }
    const cb = this.onHalfClose;
    if (cb !== null) this.guard(cb);
  }
}
