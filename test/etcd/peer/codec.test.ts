import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  PeerCodecError,
  decodeFramePayload,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  type Frame,
} from '../../../etcd/peer/codec.js';
import type { Message } from '../../../etcd/raft/types.js';
import { messageArb, nodeIdArb } from './arbitraries.js';

/** Runs fn and fails the property if it throws anything but the codec's own error. */
function onlyCodecErrors<T>(fn: () => T): T | PeerCodecError {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PeerCodecError) return err;
    throw err;
  }
}

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    kind: fc.constant('hello' as const),
    hello: fc.record({
      protocolVersion: fc.nat({ max: 255 }),
      clusterId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      from: nodeIdArb,
      to: nodeIdArb,
    }),
  }),
  fc.constant({ kind: 'helloOk' as const }),
  fc.record({ kind: fc.constant('helloReject' as const), reason: fc.string() }),
  fc.record({ kind: fc.constant('message' as const), message: messageArb }),
  fc.record({ kind: fc.constant('snapshotAck' as const), index: fc.maxSafeNat() }),
  fc.record({ kind: fc.constant('request' as const), id: fc.maxSafeNat(), type: fc.string(), payload: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant('responseOk' as const), id: fc.maxSafeNat(), payload: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({
    kind: fc.constant('responseError' as const),
    id: fc.maxSafeNat(),
    code: fc.option(fc.nat({ max: 16 }), { nil: undefined }),
    message: fc.string(),
  }),
);

/** Splits bytes at the given cut points. */
function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

describe('message codec', () => {
  it('round-trips every message variant', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
      { numRuns: 1500 },
    );
  });

  it('is deterministic and canonical: whatever decodes re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const a = encodeMessage(m);
        expect(Buffer.from(encodeMessage(structuredClone(m))).equals(Buffer.from(a))).toBe(true);
        expect(Buffer.from(encodeMessage(decodeMessage(a))).equals(Buffer.from(a))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('decoded byte fields are independent copies', () => {
    const m: Message = {
      type: 'app', from: '0000000000000001', to: '0000000000000002', term: 3, index: 4, logTerm: 3, commit: 2,
      entries: [{ term: 3, index: 5, type: 'normal', data: new Uint8Array([1, 2, 3]) }],
    };
    const bytes = encodeMessage(m);
    const decoded = decodeMessage(bytes);
    bytes.fill(0);
    expect(decoded).toEqual(m);
    expect(Buffer.isBuffer((decoded as typeof m).entries[0]!.data)).toBe(false);
  });

  it('rejects garbage with PeerCodecError only; anything accepted is canonical', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 15 }), fc.uint8Array({ maxLength: 80 }), fc.boolean(), (type, tail, raw) => {
        // Mostly well-headed garbage so decoding gets past the version and type bytes.
        const bytes = raw ? tail : Uint8Array.from([1, type, ...tail]);
        const r = onlyCodecErrors(() => decodeMessage(bytes));
        if (!(r instanceof PeerCodecError)) expect(Buffer.from(encodeMessage(r)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('rejects mutated and truncated encodings with PeerCodecError only', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (m, pos, value, cut) => {
        const bytes = Uint8Array.from(encodeMessage(m));
        bytes[pos % bytes.length] = value;
        onlyCodecErrors(() => decodeMessage(bytes));
        const truncated = encodeMessage(m).subarray(0, cut % encodeMessage(m).length);
        expect(onlyCodecErrors(() => decodeMessage(truncated))).toBeInstanceOf(PeerCodecError);
      }),
      { numRuns: 1500 },
    );
  });

  it('refuses to encode what the wire cannot carry', () => {
    const hb = { type: 'heartbeat', from: '0000000000000001', to: '0000000000000002', term: 1, commit: 0, readRound: 0 } as const;
    expect(() => encodeMessage({ ...hb, term: -1 })).toThrow(PeerCodecError);
    expect(() => encodeMessage({ ...hb, commit: 1.5 })).toThrow(PeerCodecError);
    expect(() => encodeMessage({ ...hb, to: 'XYZ' })).toThrow(PeerCodecError);
    expect(() => encodeMessage({ ...hb, to: '0000000000000000' })).toThrow(PeerCodecError);
  });

  it('rejects an unknown codec version and trailing bytes', () => {
    const bytes = Uint8Array.from(encodeMessage({ type: 'timeoutNow', from: '0000000000000001', to: '0000000000000002', term: 9 }));
    expect(() => decodeMessage(Uint8Array.from([...bytes, 0]))).toThrow(/trailing/);
    bytes[0] = 2;
    expect(() => decodeMessage(bytes)).toThrow(/version/);
  });
});

describe('frames', () => {
  it('round-trip through the stream decoder however the stream is chunked', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (frames, cuts) => {
        const stream = Buffer.concat(frames.map(encodeFrame));
        const decoder = new FrameDecoder();
        const got: Frame[] = [];
        for (const c of chunk(stream, cuts)) for (const p of decoder.push(c)) got.push(decodeFramePayload(p));
        expect(got).toEqual(frames);
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('detects corruption by checksum and never throws anything else on garbage', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (f, pos, xor) => {
        const bytes = Buffer.from(encodeFrame(f));
        const i = FRAME_HEADER_BYTES + (pos % (bytes.length - FRAME_HEADER_BYTES));
        bytes[i] = bytes[i]! ^ xor;
        expect(onlyCodecErrors(() => new FrameDecoder().push(bytes))).toBeInstanceOf(PeerCodecError);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), (chunks) => {
        const decoder = new FrameDecoder(1024);
        onlyCodecErrors(() => {
          for (const c of chunks) for (const p of decoder.push(c)) onlyCodecErrors(() => decodeFramePayload(p));
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects an oversized frame from its header alone', () => {
    const header = Buffer.alloc(8);
    header.writeUInt32BE(1025, 0);
    expect(() => new FrameDecoder(1024).push(header)).toThrow(/exceeds the limit/);
  });

  it('rejects unknown frame kinds and empty frames', () => {
    expect(() => decodeFramePayload(Uint8Array.of(99))).toThrow(PeerCodecError);
    expect(() => new FrameDecoder().push(Buffer.alloc(8))).toThrow(/empty frame/);
  });
});
