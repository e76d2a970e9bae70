/**
 * HPACK Huffman code (RFC 7541 Appendix B): decoding for header blocks
 * received from clients, and encoding for tests and future encoders.
 *
 * Decoding walks the code tree four bits at a time through a transition
 * table built once at module load: for each of the 256 internal nodes of the
 * tree and each nibble, one 32-bit word gives the node reached, the symbol
 * completed on the way (at most one, since the shortest code has 5 bits) and
 * whether the EOS code was hit. No allocation happens per bit or per symbol.
 */

/** Code and bit length for symbols 0..255 and EOS (256), as pairs. */
const CODES: readonly number[] = [
  /*   0 */ 0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28,
  /*   6 */ 0xfffffe6, 28, 0xfffffe7, 28, 0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28,
  /*  12 */ 0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28, 0xfffffed, 28, 0xfffffee, 28,
  /*  18 */ 0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28,
  /*  24 */ 0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28,
  /*  30 */ 0xffffffa, 28, 0xffffffb, 28, 0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12,
  /*  36 */ 0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11, 0x3fa, 10, 0x3fb, 10,
  /*  42 */ 0xf9, 8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6,
  /*  48 */ 0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6,
  /*  54 */ 0x1c, 6, 0x1d, 6, 0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8,
  /*  60 */ 0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10, 0x1ffa, 13, 0x21, 6,
  /*  66 */ 0x5d, 7, 0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7,
  /*  72 */ 0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, 0x67, 7, 0x68, 7,
  /*  78 */ 0x69, 7, 0x6a, 7, 0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7,
  /*  84 */ 0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7, 0xfc, 8, 0x73, 7,
  /*  90 */ 0xfd, 8, 0x1ffb, 13, 0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6,
  /*  96 */ 0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5,
  /* 102 */ 0x25, 6, 0x26, 6, 0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7,
  /* 108 */ 0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5, 0x2b, 6, 0x76, 7,
  /* 114 */ 0x2c, 6, 0x8, 5, 0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7,
  /* 120 */ 0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14,
  /* 126 */ 0x1ffd, 13, 0xffffffc, 28, 0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20,
  /* 132 */ 0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23, 0x3fffd6, 22, 0x7fffda, 23,
  /* 138 */ 0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23,
  /* 144 */ 0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23,
  /* 150 */ 0x7fffe2, 23, 0x7fffe3, 23, 0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23,
  /* 156 */ 0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24, 0x3fffda, 22, 0x1fffdd, 21,
  /* 162 */ 0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21,
  /* 168 */ 0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22,
  /* 174 */ 0x7fffeb, 23, 0x7fffec, 23, 0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21,
  /* 180 */ 0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23, 0xfffea, 20, 0x3fffe2, 22,
  /* 186 */ 0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23,
  /* 192 */ 0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23,
  /* 198 */ 0x3fffe8, 22, 0x1ffffec, 25, 0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27,
  /* 204 */ 0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25, 0x7fff2, 19, 0x1fffe3, 21,
  /* 210 */ 0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24,
  /* 216 */ 0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27,
  /* 222 */ 0x7ffffe4, 27, 0x7ffffe5, 27, 0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21,
  /* 228 */ 0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23, 0x3fffea, 22, 0x3fffeb, 22,
  /* 234 */ 0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23,
  /* 240 */ 0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27,
  /* 246 */ 0x7ffffe9, 27, 0x7ffffea, 27, 0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27,
  /* 252 */ 0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26, 0x3fffffff, 30,
];

export const EOS = 256;
const SYMBOLS = 257;

/** Code of symbol `sym` (right-aligned). */
function codeOf(sym: number): number {
  return CODES[sym * 2] as number;
}

/** Bit length of the code of symbol `sym` (5..30). */
function lengthOf(sym: number): number {
  return CODES[sym * 2 + 1] as number;
}

// Transition word layout.
const NEXT_MASK = 0xff; // bits 0-7: internal node reached after the nibble
const SYM_SHIFT = 8; // bits 8-15: symbol completed within the nibble
const EMIT = 1 << 16; // a symbol was completed
const FAIL = 1 << 17; // the EOS code was completed: the string is malformed
const ACCEPT = 1 << 18; // the string may end at the node reached

/**
 * The code tree as a flat array: node n has children at 2n (bit 0) and
 * 2n+1 (bit 1); a child >= 0 is an internal node, a child < 0 is the leaf
 * of symbol -child-1. Node 0 is the root.
 */
interface CodeTree {
  children: Int32Array;
  /** Per internal node: 1 when the string may end there (valid padding). */
  accepting: Uint8Array;
}

function buildTree(): CodeTree {
  // A complete prefix code with 257 leaves has exactly 256 internal nodes.
  const children = new Int32Array(2 * (SYMBOLS - 1)).fill(0x7fffffff);
  const depth = new Uint8Array(SYMBOLS - 1);
  const allOnes = new Uint8Array(SYMBOLS - 1);
  allOnes[0] = 1;
  let nodes = 1;
  for (let sym = 0; sym < SYMBOLS; sym++) {
    const code = codeOf(sym);
    const len = lengthOf(sym);
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const slot = 2 * node + bit;
      if (i === 0) {
        if (children[slot] !== 0x7fffffff) throw new Error(`huffman table: code of ${sym} is not prefix-free`);
        children[slot] = -sym - 1;
        break;
      }
      let child = children[slot] as number;
      if (child === 0x7fffffff) {
        if (nodes >= SYMBOLS - 1) throw new Error('huffman table: too many internal nodes');
        child = nodes++;
        children[slot] = child;
        depth[child] = (depth[node] as number) + 1;
        allOnes[child] = bit === 1 && allOnes[node] === 1 ? 1 : 0;
      } else if (child < 0) {
        throw new Error(`huffman table: code of ${sym} extends another code`);
      }
      node = child;
    }
  }
  if (nodes !== SYMBOLS - 1 || children.includes(0x7fffffff)) throw new Error('huffman table: code is not complete');
  // Padding is a strict prefix of EOS (all ones) of at most 7 bits; the root
  // (no pending bits) is always a valid end.
  const accepting = new Uint8Array(SYMBOLS - 1);
  for (let n = 0; n < SYMBOLS - 1; n++) accepting[n] = allOnes[n] === 1 && (depth[n] as number) <= 7 ? 1 : 0;
  return { children, accepting };
}

function buildTransitions(tree: CodeTree): Uint32Array {
  const table = new Uint32Array((SYMBOLS - 1) * 16);
  for (let state = 0; state < SYMBOLS - 1; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let word = 0;
      for (let i = 3; i >= 0; i--) {
        const child = tree.children[2 * node + ((nibble >>> i) & 1)] as number;
        if (child >= 0) {
          node = child;
          continue;
        }
        const sym = -child - 1;
        if (sym === EOS) {
          word |= FAIL;
          node = 0;
          break;
        }
        if ((word & EMIT) !== 0) throw new Error('huffman table: two symbols in one nibble');
        word |= EMIT | (sym << SYM_SHIFT);
        node = 0;
      }
      if ((word & FAIL) === 0 && tree.accepting[node] === 1) word |= ACCEPT;
      table[state * 16 + nibble] = word | node;
    }
  }
  return table;
}

const TRANSITIONS = buildTransitions(buildTree());

/** Upper bound of the decoded length of `encodedLength` Huffman-coded bytes. */
export function huffmanMaxDecodedLength(encodedLength: number): number {
  return Math.floor((encodedLength * 8) / 5);
}

/**
 * Decodes src[start, end) into out from index 0 and returns the number of
 * bytes written, or -1 when the input is malformed: it contains the EOS
 * code, or ends with padding that is longer than 7 bits or not all ones.
 * out must hold at least huffmanMaxDecodedLength(end - start) bytes.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, out: Uint8Array): number {
  let state = 0;
  let word = ACCEPT; // the empty string is valid
  let n = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i] as number;
    word = TRANSITIONS[(state << 4) | (byte >>> 4)] as number;
    if ((word & (EMIT | FAIL)) !== 0) {
      if ((word & FAIL) !== 0) return -1;
      out[n++] = (word >>> SYM_SHIFT) & 0xff;
    }
    state = word & NEXT_MASK;
    word = TRANSITIONS[(state << 4) | (byte & 0xf)] as number;
    if ((word & (EMIT | FAIL)) !== 0) {
      if ((word & FAIL) !== 0) return -1;
      out[n++] = (word >>> SYM_SHIFT) & 0xff;
    }
    state = word & NEXT_MASK;
  }
  return (word & ACCEPT) !== 0 ? n : -1;
}

/** Length in bytes of the Huffman coding of a latin1 string. */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += lengthOf(s.charCodeAt(i) & 0xff);
  return (bits + 7) >>> 3;
}

/**
 * Writes the Huffman coding of a latin1 string (each char's low byte) into
 * out at offset, padded with the most significant bits of EOS, and returns
 * the offset after it.
 */
export function huffmanEncode(s: string, out: Uint8Array, offset: number): number {
  // Pending bits stay below 8 between symbols, so the accumulator needs at
  // most 37 bits: a double holds that exactly, int32 bit operations do not.
  let acc = 0;
  let pending = 0;
  let pos = offset;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const len = lengthOf(sym);
    acc = acc * 2 ** len + codeOf(sym);
    pending += len;
    while (pending >= 8) {
      pending -= 8;
      const scale = 2 ** pending;
      const top = Math.floor(acc / scale);
      out[pos++] = top & 0xff;
      acc -= top * scale;
    }
  }
  if (pending > 0) out[pos++] = ((acc << (8 - pending)) | (0xff >>> pending)) & 0xff;
  return pos;
}
