// Status as gRPC carries it in HTTP/2 headers: grpc-status and a
// percent-encoded grpc-message, in trailers or in a trailers-only response.

import type { H2Stream } from '../h2/connection.js';
import { encodeHeaders } from '../h2/hpack.js';
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

/** Response headers of every call that sends messages, encoded once. */
export const RESPONSE_HEADERS = encodeHeaders([
  [':status', '200'],
  ['content-type', CONTENT_TYPE],
]);
export const OK_TRAILERS = encodeHeaders([['grpc-status', '0']]);
/** What grpc-go answers a request that is not gRPC. */
export const UNSUPPORTED_MEDIA_TYPE = encodeHeaders([[':status', '415']]);

function statusFields(s: Status): Array<[string, string]> {
  const fields: Array<[string, string]> = [['grpc-status', String(s.code)]];
  if (s.details !== '') fields.push(['grpc-message', encodeGrpcMessage(s.details)]);
  return fields;
}

export function statusTrailers(s: Status): Buffer {
  return s.code === 0 && s.details === '' ? OK_TRAILERS : encodeHeaders(statusFields(s));
}

/** A status before any response headers: one HEADERS frame with END_STREAM, as grpc servers send it. */
export function respondTrailersOnly(stream: H2Stream, s: Status): void {
  if (stream.closed || stream.headersSent) return;
  stream.respond(encodeHeaders([[':status', '200'], ['content-type', CONTENT_TYPE], ...statusFields(s)]), true);
}
