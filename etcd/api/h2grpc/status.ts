// Status as gRPC carries it in HTTP/2 headers: grpc-status and a
// percent-encoded grpc-message, in trailers or in a trailers-only response.

import type { OutgoingHttpHeaders, ServerHttp2Stream, ServerStreamResponseOptions } from 'node:http2';
import type { Status } from './framing.js';

const HEX = '0123456789ABCDEF';

function plain(c: number): boolean {
  return c >= 0x20 && c <= 0x7e && c !== 0x25;
}

/**
 * grpc-message encoding from the gRPC HTTP/2 spec: the UTF-8 bytes outside
 * 0x20–0x7E, and '%' itself, become %XX. Messages are nearly always plain
 * ASCII, which is returned as is.
 */
export function encodeGrpcMessage(msg: string): string {
  let i = 0;
  while (i < msg.length && plain(msg.charCodeAt(i))) i++;
  if (i === msg.length) return msg;
  const bytes = Buffer.from(msg, 'utf8');
  let out = '';
  for (const b of bytes) {
    out += plain(b) ? String.fromCharCode(b) : '%' + HEX[b >> 4]! + HEX[b & 15]!;
  }
  return out;
}

/** The inverse, lenient as the spec asks: a malformed escape is kept literally. */
export function decodeGrpcMessage(msg: string): string {
  if (!msg.includes('%')) return msg;
  const bytes: number[] = [];
  for (let i = 0; i < msg.length; i++) {
    const c = msg.charCodeAt(i);
    if (c === 0x25 && i + 2 < msg.length && /^[0-9A-Fa-f]{2}$/.test(msg.slice(i + 1, i + 3))) {
      bytes.push(parseInt(msg.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      // Only ASCII is valid in the header; anything wider is passed through as UTF-8.
      if (c < 0x80) bytes.push(c);
      else bytes.push(...Buffer.from(msg[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export const CONTENT_TYPE = 'application/grpc';

/** Response headers of every call that sends messages; shared and frozen, node copies them. */
export const RESPONSE_HEADERS: OutgoingHttpHeaders = Object.freeze({ ':status': 200, 'content-type': CONTENT_TYPE });
export const OK_TRAILERS: OutgoingHttpHeaders = Object.freeze({ 'grpc-status': '0' });

// Node adds a Date header to every response unless told not to (an option its
// types do not list); gRPC servers send none, and formatting it costs.
/** Headers now, messages and then trailers later. */
export const RESPOND_STREAMING = Object.freeze({ waitForTrailers: true, sendDate: false }) as ServerStreamResponseOptions;
/** Headers that are the whole response. */
export const RESPOND_ONLY = Object.freeze({ endStream: true, sendDate: false }) as ServerStreamResponseOptions;

export function statusTrailers(s: Status): OutgoingHttpHeaders {
  return s.details === '' ? { 'grpc-status': String(s.code) } : { 'grpc-status': String(s.code), 'grpc-message': encodeGrpcMessage(s.details) };
}

/** A status before any response headers: one HEADERS frame with END_STREAM, as grpc servers send it. */
export function respondTrailersOnly(stream: ServerHttp2Stream, s: Status): void {
  if (stream.destroyed || stream.headersSent) return;
  const headers: OutgoingHttpHeaders = { ':status': 200, 'content-type': CONTENT_TYPE, 'grpc-status': String(s.code) };
  if (s.details !== '') headers['grpc-message'] = encodeGrpcMessage(s.details);
  try {
    stream.respond(headers, RESPOND_ONLY);
  } catch {
    // The stream closed under us (client reset): nobody is left to tell.
  }
}
