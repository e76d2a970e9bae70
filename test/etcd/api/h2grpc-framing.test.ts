import fc from 'fast-check';
import { gzipSync, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GrpcCode } from '../../../etcd/errors.js';
import { frameMessage, MessageDecoder, messageBytes, parseTimeout, type RawMessage } from '../../../etcd/api/h2grpc/framing.js';
import { decodeGrpcMessage, encodeGrpcMessage } from '../../../etcd/api/h2grpc/status.js';

function decodeAll(chunks: Buffer[], max = 1 << 20): { messages: RawMessage[]; error: unknown; idle: boolean } {
  const d = new MessageDecoder(max);
  const messages: RawMessage[] = [];
  for (const c of chunks) {
    const error = d.push(c, (m) => messages.push({ compressed: m.compressed, body: Buffer.from(m.body) }));
    if (error) return { messages, error, idle: d.idle };
  }
  return { messages, error: null, idle: d.idle };
}

/** Cuts a buffer at the given offsets. */
function cut(buf: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((p) => p % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out.filter((c) => c.length > 0);
}

describe('gRPC message framing', () => {
  it('frames a message with a zero flag and a big-endian length', () => {
    const f = frameMessage(Buffer.from('hello'));
    expect([...f.subarray(0, 5)]).toEqual([0, 0, 0, 0, 5]);
    expect(f.subarray(5).toString()).toBe('hello');
  });

  it('decodes several messages from one chunk, including an empty one', () => {
    const wire = Buffer.concat([frameMessage(Buffer.from('a')), frameMessage(Buffer.alloc(0)), frameMessage(Buffer.from('bcd'))]);
    const r = decodeAll([wire]);
    expect(r.error).toBeNull();
    expect(r.messages.map((m) => m.body.toString())).toEqual(['a', '', 'bcd']);
    expect(r.idle).toBe(true);
  });

  it('decodes a message split at every byte, header included', () => {
    const wire = Buffer.concat([frameMessage(Buffer.from('split me')), frameMessage(Buffer.from('and me'))]);
    const r = decodeAll([...wire].map((b) => Buffer.from([b])));
    expect(r.messages.map((m) => m.body.toString())).toEqual(['split me', 'and me']);
    expect(r.idle).toBe(true);
  });

  it('gathers a split body in memory that follows the bytes received, not the declared length', () => {
    const body = Buffer.alloc(1 << 20);
    for (let i = 0; i < body.length; i++) body[i] = i % 253;
    const wire = frameMessage(body);
    const dec = new MessageDecoder(2 << 20);
    const held = () => (dec as unknown as { acc: Buffer | null }).acc?.length ?? 0;
    const got: RawMessage[] = [];
    // Header and 100 body bytes one at a time (tiny DATA frames).
    for (let i = 0; i < 105; i++) expect(dec.push(wire.subarray(i, i + 1), (m) => got.push(m))).toBeNull();
    expect(held()).toBeLessThanOrEqual(4096);
    let at = 105;
    for (; at < wire.length / 2; at += 1000) dec.push(wire.subarray(at, at + 1000), (m) => got.push(m));
    expect(held()).toBeLessThanOrEqual(2 * (at - 5));
    dec.push(wire.subarray(at), (m) => got.push(m));
    expect(got).toHaveLength(1);
    expect(got[0]!.body.equals(body)).toBe(true);
    expect(dec.idle).toBe(true);
  });

  it('reports a partial message as not idle', () => {
    const wire = frameMessage(Buffer.from('truncated'));
    expect(decodeAll([wire.subarray(0, 3)]).idle).toBe(false);
    expect(decodeAll([wire.subarray(0, 8)]).idle).toBe(false);
  });

  it('decodes any sequence of messages cut at any points', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (bodies, at) => {
        const wire = Buffer.concat(bodies.map((b) => frameMessage(b)));
        const r = decodeAll(cut(wire, at));
        expect(r.error).toBeNull();
        expect(r.messages.map((m) => [...m.body])).toEqual(bodies.map((b) => [...b]));
        expect(r.idle).toBe(true);
      }),
    );
  });

  it('rejects a declared length over the limit before the body arrives, in grpc-go wording', () => {
    const header = Buffer.from([0, 0, 0, 0x13, 0x88]); // 5000 bytes declared, none sent
    const r = decodeAll([header.subarray(0, 2), header.subarray(2)], 1000);
    expect(r.error).toEqual({ code: GrpcCode.RESOURCE_EXHAUSTED, details: 'grpc: received message larger than max (5000 vs. 1000)' });
  });

  it('accepts a message of exactly the limit', () => {
    const r = decodeAll([frameMessage(Buffer.alloc(1000, 1))], 1000);
    expect(r.error).toBeNull();
    expect(r.messages).toHaveLength(1);
  });

  it('decompresses gzip and deflate messages and caps their expanded size', () => {
    const body = Buffer.from('x'.repeat(500));
    const gz: RawMessage = { compressed: true, body: gzipSync(body) };
    const df: RawMessage = { compressed: true, body: deflateSync(body) };
    expect(messageBytes(gz, 'gzip', 1000)).toEqual(body);
    expect(messageBytes(df, 'deflate', 1000)).toEqual(body);
    expect(messageBytes(gz, 'gzip', 100)).toMatchObject({ code: GrpcCode.RESOURCE_EXHAUSTED });
    expect(messageBytes({ compressed: true, body: Buffer.from('not gzip') }, 'gzip', 1000)).toMatchObject({ code: GrpcCode.INTERNAL });
    expect(messageBytes(gz, 'snappy', 1000)).toMatchObject({ code: GrpcCode.UNIMPLEMENTED });
    expect(messageBytes(gz, undefined, 1000)).toMatchObject({ code: GrpcCode.INTERNAL });
    expect(messageBytes({ compressed: false, body }, 'gzip', 1000)).toBe(body);
  });

  it('decodes a compressed flag from the wire', () => {
    const z = gzipSync(Buffer.from('zipped'));
    const wire = Buffer.concat([Buffer.from([1, 0, 0, 0, z.length]), z]);
    const [m] = decodeAll([wire]).messages;
    expect(m!.compressed).toBe(true);
    expect((messageBytes(m!, 'gzip', 100) as Buffer).toString()).toBe('zipped');
  });
});

describe('grpc-timeout', () => {
  it('parses every unit', () => {
    expect(parseTimeout('2H')).toBe(7_200_000);
    expect(parseTimeout('3M')).toBe(180_000);
    expect(parseTimeout('4S')).toBe(4000);
    expect(parseTimeout('99m')).toBe(99);
    expect(parseTimeout('5000u')).toBe(5);
    expect(parseTimeout('7000000n')).toBe(7);
    expect(parseTimeout('99999999S')).toBe(99_999_999_000);
  });

  it('refuses malformed values', () => {
    for (const v of ['', 'S', '10', '10x', '-1S', '1.5S', '123456789S', ' 1S']) expect(parseTimeout(v)).toBeUndefined();
  });
});

describe('grpc-message percent-encoding', () => {
  it('leaves printable ASCII alone', () => {
    expect(encodeGrpcMessage('etcdserver: key not found')).toBe('etcdserver: key not found');
  });

  it('encodes %, control characters and UTF-8 bytes as %XX', () => {
    expect(encodeGrpcMessage('100%')).toBe('100%25');
    expect(encodeGrpcMessage('a\nb\tc')).toBe('a%0Ab%09c');
    expect(encodeGrpcMessage('é')).toBe('%C3%A9');
    expect(encodeGrpcMessage('\x7f~')).toBe('%7F~');
  });

  it('round-trips any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const enc = encodeGrpcMessage(s);
        expect(enc).toMatch(/^[\x20-\x7e]*$/);
        expect(decodeGrpcMessage(enc)).toBe(s);
        expect(decodeURIComponent(enc)).toBe(s);
      }),
    );
  });

  it('keeps a malformed escape literally when decoding', () => {
    expect(decodeGrpcMessage('50%zz')).toBe('50%zz');
    expect(decodeGrpcMessage('%4')).toBe('%4');
  });
});
