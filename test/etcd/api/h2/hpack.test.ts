import fc from 'fast-check';
import http2 from 'node:http2';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeHeaders, HpackDecoder, HpackError } from '../../../../etcd/api/h2/hpack.js';
import { huffmanDecode, huffmanEncode, huffmanEncodedLength, huffmanMaxDecodedLength } from '../../../../etcd/api/h2/huffman.js';
import { hpackInt } from '../../../support/hpack-wire.js';

type Field = [string, string];

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function decodeBlock(d: HpackDecoder, block: Uint8Array): Field[] {
  const out: Field[] = [];
  d.decode(block, (name, value) => out.push([name, value]));
  return out;
}

/**
 * The dynamic table, newest first, read back through indexed fields (62, 63,
 * ...) until an index is past the table. Indexed fields leave the table as
 * it is, so probing does not disturb the decoder.
 */
function dynamicTable(d: HpackDecoder): Field[] {
  const out: Field[] = [];
  for (let index = 62; ; index++) {
    try {
      out.push(...decodeBlock(d, hpackInt(0x80, 7, index)));
    } catch (e) {
      expect(e).toBeInstanceOf(HpackError);
      return out;
    }
  }
}


/** A string literal (RFC 7541 5.2), Huffman-coded or not. */
function hpackString(s: string, huffman: boolean): Buffer {
  if (!huffman) return Buffer.concat([hpackInt(0, 7, s.length), Buffer.from(s, 'latin1')]);
  const coded = Buffer.alloc(huffmanEncodedLength(s));
  expect(huffmanEncode(s, coded, 0)).toBe(coded.length);
  return Buffer.concat([hpackInt(0x80, 7, coded.length), coded]);
}

/** A literal field with incremental indexing and a literal name. */
function literalIndexed(name: string, value: string, huffman = false): Buffer {
  return Buffer.concat([Buffer.from([0x40]), hpackString(name, huffman), hpackString(value, huffman)]);
}

function expectHpackError(d: HpackDecoder, block: Uint8Array, message?: RegExp): void {
  let caught: unknown;
  try {
    d.decode(block, () => {});
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(HpackError);
  if (message) expect((caught as Error).message).toMatch(message);
}

const latin1Char = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c));
const latin1 = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: latin1Char, maxLength });

describe('RFC 7541 Appendix C examples', () => {
  it('C.2: literal fields with and without indexing, never indexed, and indexed', () => {
    let d = new HpackDecoder();
    expect(decodeBlock(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toEqual([
      ['custom-key', 'custom-header'],
    ]);
    expect(dynamicTable(d)).toEqual([['custom-key', 'custom-header']]);

    d = new HpackDecoder();
    expect(decodeBlock(d, hex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([[':path', '/sample/path']]);
    expect(dynamicTable(d)).toEqual([]);

    d = new HpackDecoder();
    expect(decodeBlock(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual([['password', 'secret']]);
    expect(dynamicTable(d)).toEqual([]);

    d = new HpackDecoder();
    expect(decodeBlock(d, hex('82'))).toEqual([[':method', 'GET']]);
    expect(dynamicTable(d)).toEqual([]);
  });

  const request1: Field[] = [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ];
  const request2: Field[] = [...request1, ['cache-control', 'no-cache']];
  const request3: Field[] = [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ];
  const tables: Field[][] = [
    [[':authority', 'www.example.com']],
    [
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
    [
      ['custom-key', 'custom-value'],
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
  ];

  it.each([
    ['C.3 (without Huffman)', ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65']],
    ['C.4 (with Huffman)', ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']],
  ])('%s: three requests on one decoder', (_name, blocks) => {
    const d = new HpackDecoder();
    const requests = [request1, request2, request3];
    blocks.forEach((block, i) => {
      expect(decodeBlock(d, hex(block))).toEqual(requests[i]);
      expect(dynamicTable(d)).toEqual(tables[i]);
    });
  });

  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const location = 'https://www.example.com';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  const responses: Field[][] = [
    [
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', date1],
      ['location', location],
    ],
    [
      [':status', '307'],
      ['cache-control', 'private'],
      ['date', date1],
      ['location', location],
    ],
    [
      [':status', '200'],
      ['cache-control', 'private'],
      ['date', date2],
      ['location', location],
      ['content-encoding', 'gzip'],
      ['set-cookie', cookie],
    ],
  ];
  const responseTables: Field[][] = [
    [
      ['location', location],
      ['date', date1],
      ['cache-control', 'private'],
      [':status', '302'],
    ],
    [
      [':status', '307'],
      ['location', location],
      ['date', date1],
      ['cache-control', 'private'],
    ],
    [
      ['set-cookie', cookie],
      ['content-encoding', 'gzip'],
      ['date', date2],
    ],
  ];

  it.each([
    [
      'C.5 (without Huffman)',
      [
        '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '4803 3330 37c1 c0bf',
        '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
      ],
    ],
    [
      'C.6 (with Huffman)',
      [
        '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
        '4883 640e ffc1 c0bf',
        '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      ],
    ],
  ])('%s: three responses with a 256-octet table and evictions', (_name, blocks) => {
    const d = new HpackDecoder(256);
    blocks.forEach((block, i) => {
      expect(decodeBlock(d, hex(block))).toEqual(responses[i]);
      expect(dynamicTable(d)).toEqual(responseTables[i]);
    });
  });
});

describe('dynamic table', () => {
  it('evicts by the 32-octet-per-entry size rule, oldest first', () => {
    const d = new HpackDecoder(100);
    // 'a' + 34 chars + 32 = 67 and 'b' + '' + 32 = 33 fill the 100 octets exactly.
    decodeBlock(d, literalIndexed('a', 'x'.repeat(34)));
    decodeBlock(d, literalIndexed('b', ''));
    expect(dynamicTable(d)).toEqual([['b', ''], ['a', 'x'.repeat(34)]]);
    // Another 67-octet entry evicts the oldest only.
    decodeBlock(d, literalIndexed('c', 'z'.repeat(34)));
    expect(dynamicTable(d)).toEqual([['c', 'z'.repeat(34)], ['b', '']]);
    // A 34-octet entry needs one octet more than evicting 'b' frees: 'c' goes too.
    decodeBlock(d, literalIndexed('d', 'q'));
    expect(dynamicTable(d)).toEqual([['d', 'q']]);
    // An entry of exactly the table size fits once everything else is gone.
    decodeBlock(d, literalIndexed('c', 'y'.repeat(67)));
    expect(dynamicTable(d)).toEqual([['c', 'y'.repeat(67)]]);
    // Two 50-octet entries fill it; a third evicts the oldest.
    decodeBlock(d, Buffer.concat([literalIndexed('d', 'z'.repeat(17)), literalIndexed('e', 'z'.repeat(17))]));
    expect(dynamicTable(d)).toEqual([['e', 'z'.repeat(17)], ['d', 'z'.repeat(17)]]);
    decodeBlock(d, literalIndexed('f', 'z'.repeat(17)));
    expect(dynamicTable(d)).toEqual([['f', 'z'.repeat(17)], ['e', 'z'.repeat(17)]]);
  });

  it('empties the table for an entry bigger than it, and still emits the field', () => {
    const d = new HpackDecoder(100);
    decodeBlock(d, literalIndexed('a', 'b'));
    expect(decodeBlock(d, literalIndexed('c', 'y'.repeat(68)))).toEqual([['c', 'y'.repeat(68)]]);
    expect(dynamicTable(d)).toEqual([]);
  });

  it('adds an entry whose name refers to an entry it evicts', () => {
    const d = new HpackDecoder(70);
    decodeBlock(d, literalIndexed('name', 'v'));
    // 0x7e: literal with indexing, name index 62 (the entry about to be evicted).
    expect(decodeBlock(d, Buffer.concat([Buffer.from([0x7e]), hpackString('w'.repeat(30), false)]))).toEqual([
      ['name', 'w'.repeat(30)],
    ]);
    expect(dynamicTable(d)).toEqual([['name', 'w'.repeat(30)]]);
  });

  it('keeps many entries in order across ring growth and wrap-around', () => {
    const d = new HpackDecoder(65536);
    const model: Field[] = [];
    for (let i = 0; i < 300; i++) {
      decodeBlock(d, literalIndexed(`n${i}`, `v${i}`));
      model.unshift([`n${i}`, `v${i}`]);
      if (i % 37 === 0) {
        // Shrink to a few entries and back, wrapping the ring's start around.
        const size = model.slice(0, 3).reduce((s, [n, v]) => s + n.length + v.length + 32, 0);
        decodeBlock(d, Buffer.concat([hpackInt(0x20, 5, size), hpackInt(0x20, 5, 65536)]));
        model.length = 3;
      }
    }
    expect(dynamicTable(d)).toEqual(model);
  });

  it('applies table size updates at the start of a block: shrink evicts, zero empties', () => {
    const d = new HpackDecoder(4096);
    decodeBlock(d, Buffer.concat([literalIndexed('a', '1'), literalIndexed('b', '2'), literalIndexed('c', '3')]));
    // 66 octets leave room for one 34-octet entry: the newest stays.
    expect(decodeBlock(d, Buffer.concat([hpackInt(0x20, 5, 66), hex('be')]))).toEqual([['c', '3']]);
    expect(dynamicTable(d)).toEqual([['c', '3']]);
    // Two updates in a row (the minimum, then the final size) are allowed.
    expect(decodeBlock(d, Buffer.concat([hpackInt(0x20, 5, 0), hpackInt(0x20, 5, 4096), literalIndexed('d', '4')]))).toEqual([
      ['d', '4'],
    ]);
    expect(dynamicTable(d)).toEqual([['d', '4']]);
    // A table resized to 0 stores nothing.
    decodeBlock(d, Buffer.concat([hpackInt(0x20, 5, 0), literalIndexed('e', '5')]));
    expect(dynamicTable(d)).toEqual([]);
    // The maximum itself is allowed.
    decodeBlock(d, Buffer.concat([hpackInt(0x20, 5, 4096), literalIndexed('f', '6')]));
    expect(dynamicTable(d)).toEqual([['f', '6']]);
  });
});

describe('errors', () => {
  it('rejects index 0', () => {
    expectHpackError(new HpackDecoder(), hex('80'), /index 0/);
  });

  it('rejects indices past the static and dynamic tables', () => {
    const d = new HpackDecoder();
    expect(decodeBlock(d, hex('bd'))).toEqual([['www-authenticate', '']]);
    expectHpackError(d, hex('be'), /past the table/);
    expectHpackError(d, hex('7e 0161'), /past the table/); // literal name index 62
    expectHpackError(d, hex('0f2f 0161'), /past the table/); // 15 + 47 = 62
    decodeBlock(d, literalIndexed('a', 'b'));
    expect(decodeBlock(d, hex('be'))).toEqual([['a', 'b']]);
    expectHpackError(d, hex('bf'), /past the table/);
    expectHpackError(d, hpackInt(0x80, 7, 0x7fffffff), /past the table/);
  });

  it('rejects an EOS symbol inside a Huffman-coded string', () => {
    // 'a' (00011) then EOS (30 ones) then 5 bits of padding.
    expectHpackError(new HpackDecoder(), hex('00 0161 85 1fffffffff'), /Huffman/);
    // EOS alone, padded with ones.
    expectHpackError(new HpackDecoder(), hex('00 0161 84 ffffffff'), /Huffman/);
  });

  it('rejects Huffman padding longer than 7 bits or not all ones', () => {
    const d = new HpackDecoder();
    expect(decodeBlock(d, hex('00 0161 81 1f'))).toEqual([['a', 'a']]); // 'a' + 111
    expectHpackError(d, hex('00 0161 82 1fff'), /Huffman/); // 'a' + 11 ones
    expectHpackError(d, hex('00 0161 81 ff'), /Huffman/); // 8 ones, no symbol
    expectHpackError(d, hex('00 0161 81 18'), /Huffman/); // 'a' + 000
    expectHpackError(d, hex('00 0161 81 1e'), /Huffman/); // 'a' + 110
  });

  it('rejects a table size update above the advertised maximum', () => {
    expectHpackError(new HpackDecoder(4096), hpackInt(0x20, 5, 4097), /above 4096/);
    expectHpackError(new HpackDecoder(0), hpackInt(0x20, 5, 1), /above 0/);
    expect(decodeBlock(new HpackDecoder(4096), hpackInt(0x20, 5, 4096))).toEqual([]);
  });

  it('rejects a table size update after a field', () => {
    expectHpackError(new HpackDecoder(), hex('82 20'), /after a header field/);
    expectHpackError(new HpackDecoder(), Buffer.concat([hex('20'), literalIndexed('a', 'b'), hex('3f e1 1f')]), /after a header field/);
  });

  it('rejects truncated integers and strings', () => {
    const d = new HpackDecoder();
    expectHpackError(d, hex('ff'), /truncated integer/);
    expectHpackError(d, hex('ff 80'), /truncated integer/);
    expectHpackError(d, hex('3f'), /truncated integer/);
    expectHpackError(d, hex('00'), /truncated string length/);
    expectHpackError(d, hex('00 7f'), /truncated integer/);
    expectHpackError(d, hex('00 05 6162'), /truncated string/);
    expectHpackError(d, hex('40 0161'), /truncated string length/);
    expectHpackError(d, hex('40 0161 03 6162'), /truncated string/);
    expectHpackError(d, hex('04 85 ffff'), /truncated string/);
    // A claimed length far beyond the block fails without reading or allocating it.
    expectHpackError(d, Buffer.concat([hex('00 01 61'), hpackInt(0, 7, 0x7ffffff0)]), /truncated string/);
  });

  it('rejects integers beyond 2^31-1 or with more than 5 continuation bytes', () => {
    const d = new HpackDecoder(1 << 30);
    // 5 continuation bytes are fine: a size update to 31 + 1.
    expect(decodeBlock(d, hex('3f 81 80 80 80 00'))).toEqual([]);
    expectHpackError(d, hex('3f 81 80 80 80 80 00'), /too many continuation bytes/);
    expectHpackError(d, hex('ff 80 80 80 80 80 80 80 80 80 80 01'), /too many continuation bytes/);
    expectHpackError(d, hex('ff ff ff ff ff 0f'), /overflow/);
    expectHpackError(d, Buffer.concat([hpackInt(0x80, 7, 0x80000000)]), /overflow/);
  });
});

describe('encodeHeaders', () => {
  it('uses the static table for exact entries and names, literals otherwise, never Huffman or indexing', () => {
    expect(encodeHeaders([[':method', 'GET']]).toString('hex')).toBe('82');
    expect(encodeHeaders([[':status', '200']]).toString('hex')).toBe('88');
    expect(encodeHeaders([['accept', '']]).toString('hex')).toBe('93');
    expect(encodeHeaders([[':path', '/x']]).toString('hex')).toBe('04022f78');
    expect(encodeHeaders([['content-type', 'application/grpc']]).toString('hex')).toBe(
      '0f10' + '10' + Buffer.from('application/grpc').toString('hex'),
    );
    expect(encodeHeaders([['www-authenticate', 'x']]).toString('hex')).toBe('0f2e0178');
    expect(encodeHeaders([['grpc-status', '0']]).toString('hex')).toBe('000b' + Buffer.from('grpc-status').toString('hex') + '0130');
    expect(encodeHeaders([]).length).toBe(0);
    const long = 'v'.repeat(300);
    expect(encodeHeaders([['x', long]]).toString('hex')).toBe('000178' + '7fad01' + Buffer.from(long).toString('hex'));
  });

  it('round-trips through the decoder for any latin1 names and values', () => {
    const staticEntries: Field[] = [
      [':method', 'GET'],
      [':path', '/index.html'],
      [':status', '500'],
      ['accept-encoding', 'gzip, deflate'],
      ['user-agent', ''],
      [':authority', ''],
    ];
    const staticNames = ['content-type', ':path', ':status', 'www-authenticate', 'accept-encoding', 'te', ':authority'];
    const field: fc.Arbitrary<Field> = fc.oneof(
      fc.tuple(latin1(40), latin1(300)),
      fc.tuple(fc.constantFrom(...staticNames), latin1(40)),
      fc.constantFrom(...staticEntries),
    );
    // One decoder for all runs: the encoder never touches the dynamic table.
    const d = new HpackDecoder();
    fc.assert(
      fc.property(fc.array(field, { maxLength: 20 }), (fields) => {
        const block = encodeHeaders(fields);
        expect(decodeBlock(d, block)).toEqual(fields);
        expect(dynamicTable(d)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});

describe('Huffman code', () => {
  it('round-trips any byte string and decodes it inside a header block', () => {
    const d = new HpackDecoder(512);
    fc.assert(
      fc.property(latin1(400), latin1(20), (value, name) => {
        const coded = Buffer.alloc(huffmanEncodedLength(value));
        huffmanEncode(value, coded, 0);
        const out = Buffer.alloc(huffmanMaxDecodedLength(coded.length));
        const n = huffmanDecode(coded, 0, coded.length, out);
        expect(out.toString('latin1', 0, n)).toBe(value);
        expect(decodeBlock(d, literalIndexed(name, value, true))).toEqual([[name, value]]);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes the RFC 7541 examples', () => {
    const cases: Array<[string, string]> = [
      ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
      ['a8eb 1064 9cbf', 'no-cache'],
      ['6402', '302'],
      ['aec3 771a 4b', 'private'],
      ['9bd9 ab', 'gzip'],
    ];
    for (const [coded, plain] of cases) {
      const bytes = hex(coded);
      const out = Buffer.alloc(huffmanMaxDecodedLength(bytes.length));
      expect(out.toString('latin1', 0, huffmanDecode(bytes, 0, bytes.length, out))).toBe(plain);
      const again = Buffer.alloc(huffmanEncodedLength(plain));
      huffmanEncode(plain, again, 0);
      expect(again.toString('hex')).toBe(bytes.toString('hex'));
    }
  });
});

describe('malformed input', () => {
  /** Decodes and reports what happened; anything thrown but HpackError fails the property. */
  function decodeOrHpackError(d: HpackDecoder, block: Uint8Array): 'ok' | 'error' {
    try {
      d.decode(block, (name, value) => {
        expect(typeof name).toBe('string');
        expect(typeof value).toBe('string');
      });
      return 'ok';
    } catch (e) {
      if (e instanceof HpackError) return 'error';
      throw e;
    }
  }

  it('arbitrary bytes either decode or throw HpackError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 300 }), (blocks, max) => {
        // Several blocks on one small table, so that inserts, evictions and
        // dynamic indices interact across blocks.
        const d = new HpackDecoder(max);
        for (const b of blocks) decodeOrHpackError(d, b);
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated and truncated valid blocks either decode or throw HpackError', () => {
    const valid = [
      hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'),
      hex('8286 84be 5886 a8eb 1064 9cbf'),
      hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'),
      hex('4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3'),
      Buffer.concat([hpackInt(0x20, 5, 200), literalIndexed('grpc-timeout', '99m', true), hex('be be')]),
      encodeHeaders([[':path', '/etcdserverpb.KV/Range'], ['te', 'trailers'], [':method', 'POST']]),
    ];
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), byte: fc.constant(0) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...valid.keys()), fc.array(mutation, { maxLength: 4 })), { minLength: 1, maxLength: 5 }), (steps) => {
        const d = new HpackDecoder(256);
        for (const [which, mutations] of steps) {
          let b = Buffer.from(valid[which] as Buffer);
          for (const m of mutations) {
            const at = m.at % (b.length + 1);
            if (m.kind === 'cut') b = b.subarray(0, at);
            else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
            else if (at < b.length) b[at] = m.byte;
          }
          decodeOrHpackError(d, b);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes a Uint8Array that is a view into a larger buffer', () => {
    const backing = new Uint8Array(64).fill(0xff);
    const block = hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d');
    backing.set(block, 10);
    const view = new Uint8Array(backing.buffer, 10, block.length);
    expect(decodeBlock(new HpackDecoder(), view)).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
  });
});

// ---------------------------------------------------------------------------
// nghttp2 (node:http2) as an independent encoder.

interface Captured {
  bytes: Buffer[];
}

/** Complete header blocks of the client's HEADERS (+ CONTINUATION) frames, in order, and the number of CONTINUATION frames. */
function headerBlocks(wire: Buffer): { blocks: Buffer[]; continuations: number } {
  const blocks: Buffer[] = [];
  let continuations = 0;
  let pos = 24; // client connection preface
  let pending: Buffer[] | null = null;
  while (pos + 9 <= wire.length) {
    const length = wire.readUIntBE(pos, 3);
    const type = wire[pos + 3] as number;
    const flags = wire[pos + 4] as number;
    if (pos + 9 + length > wire.length) break;
    let payload = wire.subarray(pos + 9, pos + 9 + length);
    pos += 9 + length;
    if (type === 0x1) {
      if ((flags & 0x8) !== 0) {
        const pad = payload[0] as number;
        payload = payload.subarray(1, payload.length - pad);
      }
      if ((flags & 0x20) !== 0) payload = payload.subarray(5);
      pending = [payload];
    } else if (type === 0x9) {
      continuations++;
      expect(pending).not.toBeNull();
      pending?.push(payload);
    } else {
      continue;
    }
    if ((flags & 0x4) !== 0 && pending !== null) {
      blocks.push(Buffer.concat(pending));
      pending = null;
    }
  }
  return { blocks, continuations };
}

/** Deterministic pseudo-random numbers, so that a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Request = { headers: http2.OutgoingHttpHeaders; expected: Field[] };

/** Requests with repeated and new headers, every byte 0x01-0xff in values, long values and a sensitive header. */
function requests(): Request[] {
  const rand = rng(7541);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const randomValue = (max: number): string => {
    let s = '';
    const n = Math.floor(rand() * max);
    for (let i = 0; i < n; i++) s += String.fromCharCode(1 + Math.floor(rand() * 255));
    return s;
  };
  let everyByte = '';
  for (let c = 1; c <= 0xff; c++) everyByte += String.fromCharCode(c);
  const names = ['x-a', 'x-b', 'x-c', 'x-long', 'user-agent', 'accept-encoding', 'cache-control', 'referer', 'content-type', 'grpc-timeout'];
  const values = ['application/grpc', 'trailers', 'gzip, deflate', 'grpc-go/1.59.0', '', 'no-cache', '1000m', everyByte];
  const out: Request[] = [];
  const add = (method: string, path: string, fields: Field[], sensitive: string[] = []): void => {
    const headers: http2.OutgoingHttpHeaders = { ':method': method, ':path': path };
    for (const [n, v] of fields) headers[n] = v;
    if (sensitive.length > 0) Object.assign(headers, { [http2.sensitiveHeaders]: sensitive });
    out.push({ headers, expected: fields });
  };
  add('POST', '/etcdserverpb.KV/Range', [
    ['content-type', 'application/grpc'],
    ['user-agent', 'grpc-go/1.59.0'],
    ['te', 'trailers'],
    ['grpc-timeout', '4999958u'],
  ]);
  add('POST', '/etcdserverpb.KV/Range', [
    ['content-type', 'application/grpc'],
    ['user-agent', 'grpc-go/1.59.0'],
    ['te', 'trailers'],
  ]);
  add('GET', '/every-byte', [['x-every-byte', everyByte]]);
  add('POST', '/secret', [['authorization', 'Bearer s3cr3t'], ['x-token', 'abc']], ['authorization', 'x-token']);
  for (let i = 0; i < 40; i++) {
    const fields: Field[] = [];
    const n = 1 + Math.floor(rand() * 10);
    const used = new Set<string>();
    for (let j = 0; j < n; j++) {
      const name = rand() < 0.7 ? pick(names) : `x-new-${i}-${j}`;
      if (used.has(name)) continue;
      used.add(name);
      const r = rand();
      const value = r < 0.5 ? pick(values) : r < 0.8 ? randomValue(40) : randomValue(700);
      fields.push([name, value]);
    }
    add(pick(['GET', 'POST', 'PUT']), pick(['/', '/index.html', '/etcdserverpb.KV/Put', `/p/${i}`]), fields);
  }
  // A block over 16 KiB: the frame size limit splits it into CONTINUATION frames.
  const big: Field[] = [];
  for (let i = 0; i < 60; i++) big.push([`x-big-${i}`, randomValue(600) + 'z'.repeat(300)]);
  add('POST', '/big', big);
  return out;
}

async function captureNghttp2(serverSettings: Buffer | null, reqs: Request[]): Promise<{ blocks: Buffer[]; continuations: number; authority: string }> {
  const captured: Captured = { bytes: [] };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (d: Buffer) => captured.bytes.push(d));
    socket.on('error', () => {});
    if (serverSettings) socket.write(serverSettings);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const authority = `127.0.0.1:${port}`;
  const session = http2.connect(`http://${authority}`);
  session.on('error', () => {});
  try {
    if (serverSettings) await new Promise((resolve) => session.once('remoteSettings', resolve));
    else await new Promise((resolve) => session.once('connect', resolve));
    for (const r of reqs) {
      const stream = session.request(r.headers, { endStream: true });
      stream.on('error', () => {});
    }
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { blocks, continuations } = headerBlocks(Buffer.concat(captured.bytes));
      if (blocks.length >= reqs.length) return { blocks, continuations, authority };
      if (Date.now() > deadline) throw new Error(`only ${blocks.length} of ${reqs.length} header blocks arrived`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    session.destroy();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('decoding what nghttp2 encodes', () => {
  function checkBlocks(blocks: Buffer[], reqs: Request[], authority: string, d: HpackDecoder, tableSize: number): void {
    expect(blocks.length).toBe(reqs.length);
    blocks.forEach((block, i) => {
      const r = reqs[i] as Request;
      const got = decodeBlock(d, block);
      const pseudo = got.filter(([n]) => n.startsWith(':'));
      const regular = got.filter(([n]) => !n.startsWith(':'));
      expect(got.slice(0, pseudo.length)).toEqual(pseudo); // pseudo-headers come first
      expect(Object.fromEntries(pseudo)).toEqual({
        ':method': r.headers[':method'],
        ':path': r.headers[':path'],
        ':scheme': 'http',
        ':authority': authority,
      });
      expect(regular).toEqual(r.expected);
    });
    // The encoder did use the dynamic table, and it stayed within its size.
    const table = dynamicTable(d);
    expect(table.length).toBeGreaterThan(0);
    expect(table.reduce((sum, [n, v]) => sum + n.length + v.length + 32, 0)).toBeLessThanOrEqual(tableSize);
  }

  it('decodes a session of varied requests with the default 4096-octet table', async () => {
    const reqs = requests();
    const { blocks, continuations, authority } = await captureNghttp2(null, reqs);
    expect(continuations).toBeGreaterThan(0);
    checkBlocks(blocks, reqs, authority, new HpackDecoder(), 4096);
  });

  it('decodes a session after we lower the table to 256 octets (size update, frequent evictions)', async () => {
    const reqs = requests();
    // SETTINGS frame: SETTINGS_HEADER_TABLE_SIZE (0x1) = 256.
    const settings = hex('000006 04 00 00000000 0001 00000100');
    const { blocks, authority } = await captureNghttp2(settings, reqs);
    // The encoder announces the smaller table with an update at the start of its next block.
    expect((blocks[0] as Buffer)[0]! & 0xe0).toBe(0x20);
    checkBlocks(blocks, reqs, authority, new HpackDecoder(4096), 256);
  });
});
