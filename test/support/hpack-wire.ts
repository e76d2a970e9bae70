// HPACK wire pieces written out from RFC 7541 for tests that build header
// blocks byte by byte, independently of the codec under test.

/** An HPACK integer (RFC 7541 5.1) with an N-bit prefix under the given flag bits. */
export function hpackInt(flags: number, prefixBits: number, value: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const bytes = [flags | max];
  let rest = value - max;
  for (; rest >= 0x80; rest >>>= 7) bytes.push((rest & 0x7f) | 0x80);
  bytes.push(rest);
  return Buffer.from(bytes);
}
