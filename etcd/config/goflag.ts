// Value parsers that behave like Go's flag/strconv/time packages, so a
// command line that etcd accepts is accepted here with the same meaning (and
// one etcd rejects is rejected with a similar message).

/** strconv.ParseBool. */
export function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

/** strconv.ParseInt(s, 0, 64): optional sign, 0x/0o/0b prefixes, a leading 0 means octal, underscores only with a prefix. */
export function parseGoInt(s: string): bigint | undefined {
  let body = s;
  let negative = false;
  if (body.startsWith('+') || body.startsWith('-')) {
    negative = body[0] === '-';
    body = body.slice(1);
  }
  if (body === '') return undefined;
  let digits: string;
  let radix: number;
  const lower = body.toLowerCase();
  if (lower.startsWith('0x')) [digits, radix] = [body.slice(2), 16];
  else if (lower.startsWith('0o')) [digits, radix] = [body.slice(2), 8];
  else if (lower.startsWith('0b')) [digits, radix] = [body.slice(2), 2];
  else if (body.length > 1 && body.startsWith('0')) [digits, radix] = [body.slice(1), 8];
  else [digits, radix] = [body, 10];
  if (radix !== 10) {
    if (digits.startsWith('_') || digits.endsWith('_') || digits.includes('__')) return undefined;
    digits = digits.replaceAll('_', '');
  }
  if (digits === '') return undefined;
  const alphabet = '0123456789abcdef'.slice(0, radix);
  let value = 0n;
  for (const ch of digits.toLowerCase()) {
    const d = alphabet.indexOf(ch);
    if (d < 0) return undefined;
    value = value * BigInt(radix) + BigInt(d);
  }
  value = negative ? -value : value;
  if (value > 0x7fffffffffffffffn || value < -0x8000000000000000n) return undefined;
  return value;
}

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** time.ParseDuration, returning milliseconds (fractions kept). */
export function parseGoDuration(s: string): number | undefined {
  let rest = s;
  let sign = 1;
  if (rest.startsWith('+') || rest.startsWith('-')) {
    sign = rest[0] === '-' ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let totalNs = 0;
  const part = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== '') {
    const m = part.exec(rest);
    if (!m) return undefined;
    totalNs += Number(m[1]) * UNIT_NS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return (sign * totalNs) / 1e6;
}

/** Formats milliseconds the way Go's Duration.String does for whole units (used in help text and logs). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
