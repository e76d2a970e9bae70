// A small gRPC server on our own HTTP/2 connection code (../h2). It routes
// each stream by :path to a registered method and speaks the gRPC wire
// protocol itself: framing, compression, grpc-timeout deadlines and status
// trailers. Unary calls, the bulk of the traffic, take a short path: no
// per-call objects beyond a decoder and a few closures, and the whole
// response (headers, message, trailers) leaves as one buffer.
//
// It never binds a port: the one-port listener hands it sockets that begin
// with the HTTP/2 preface (handleConnection).

import type { IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { GrpcCode } from '../../errors.js';
import { H2Connection, type H2Stream } from '../h2/connection.js';
import type { WireObject } from '../wire.js';
import { frameHeader, MessageDecoder, messageBytes, parseTimeout, supportedEncoding, type RawMessage, type Status } from './framing.js';
import { OK_TRAILERS, RESPONSE_HEADERS, respondTrailersOnly, statusTrailers, UNSUPPORTED_MEDIA_TYPE } from './status.js';

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

/** Receive window per stream and per connection unless the options say otherwise. */
const GRPC_WINDOW = 1 << 20;
/**
 * Node fires a timer longer than this at once (with a warning). A deadline
 * further out, such as grpc-go's 720H for a 30-day context, is no deadline
 * that matters: the call gets no timer.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Largest request header block; tokens and grpc metadata are far smaller. */
const MAX_HEADER_BLOCK = 1 << 20;

/** A header's value; repeated headers arrive joined, but the type allows arrays. */
function one(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' || v === undefined ? v : v[0];
}

const deadlineStatus = (): Status => ({ code: GrpcCode.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });

/** A timer for a call's deadline, or none when the call has none or it is out of a timer's range. */
function armDeadline(ms: number | undefined, onDeadline: () => void): NodeJS.Timeout | undefined {
  return ms === undefined || ms > MAX_TIMER_MS ? undefined : setTimeout(onDeadline, ms);
}

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
  private readonly connections = new Set<H2Connection>();
  private readonly maxLen: number;
  private readonly window: number;
  private closed = false;

  constructor(private readonly opts: GrpcServerOptions) {
    this.maxLen = opts.maxReceiveMessageLength;
    this.window = opts.windowSize ?? GRPC_WINDOW;
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
    const conn = new H2Connection(socket, {
      windowSize: this.window,
      maxHeaderBlock: MAX_HEADER_BLOCK,
      onStream: (stream) => this.onStream(stream),
      onClose: (c) => this.connections.delete(c),
    });
    this.connections.add(conn);
  }

  /** Drops every connection at once: in-flight calls see their streams close. */
  close(): void {
    this.closed = true;
    for (const c of this.connections) c.destroy();
    this.connections.clear();
  }

  private onStream(stream: H2Stream): void {
    const headers = stream.headers;
    const ct = headers['content-type'];
    if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) {
      this.reject(stream, null);
      return;
    }
    const path = one(headers[':path']) ?? '';
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
    if (route.unary !== null) this.unary(stream, route.def, route.unary, enc, timeoutMs);
    else new StreamingCall(this, stream, route.def, route.streaming!, enc, timeoutMs);
  }

  /** Answers before reading the request; the connection discards what the client still sends. */
  private reject(stream: H2Stream, s: Status | null): void {
    if (s === null) stream.respond(UNSUPPORTED_MEDIA_TYPE, true);
    else respondTrailersOnly(stream, s);
  }

  private unary(
    stream: H2Stream,
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
    timer = armDeadline(timeoutMs, () => fail(deadlineStatus()));
    const onMessage = (m: RawMessage) => {
      if (count++ === 0) msg = m;
    };
    stream.onData = (chunk: Buffer) => {
      if (done) return;
      const err = decoder.push(chunk, onMessage);
      if (err !== null) fail(err);
    };
    // The client reset the stream or went away: nothing will be sent.
    stream.onClose = () => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
    };
    stream.onEnd = () => {
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
        pending = impl(req, stream.headers);
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
    };
  }

  private sendUnary(stream: H2Stream, def: MethodDefinition, res: WireObject): void {
    if (stream.closed || stream.headersSent) return;
    let body: Uint8Array;
    try {
      body = def.responseSerialize(res);
    } catch (err) {
      respondTrailersOnly(stream, marshalStatus(err));
      return;
    }
    stream.respondWhole(RESPONSE_HEADERS, frameHeader(body.length), body, OK_TRAILERS);
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
    private readonly stream: H2Stream,
    private readonly def: MethodDefinition,
    private readonly impl: StreamingImpl,
    private readonly encoding: string | undefined,
    timeoutMs: number | undefined,
  ) {
    this.decoder = new MessageDecoder(server.maxReceiveMessageLength);
    this.timer = armDeadline(timeoutMs, () => this.abort(deadlineStatus()));
    stream.onData = (chunk: Buffer) => this.onData(chunk);
    stream.onEnd = () => this.onEnd();
    stream.onDrain = () => this.onDrain?.();
    stream.onClose = () => {
      this.done = true;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.notifyCancel();
    };
    if (def.requestStream) this.start(null);
  }

  /** The request's headers (metadata). */
  get headers(): IncomingHttpHeaders {
    return this.stream.headers;
  }

  /** False when the transport buffer is full; onDrain follows. Dropped after the call ended. */
  write(msg: WireObject): boolean {
    if (this.done || this.stream.closed) return true;
    let body: Uint8Array;
    try {
      body = this.def.responseSerialize(msg);
    } catch (err) {
      this.abort(marshalStatus(err));
      return true;
    }
    if (!this.stream.headersSent) this.stream.respond(RESPONSE_HEADERS, false);
    return this.stream.write(frameHeader(body.length), body);
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
    if (stream.closed) return;
    // What the client still sends is discarded by the connection.
    if (!stream.headersSent) respondTrailersOnly(stream, s);
    else stream.end(statusTrailers(s));
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
