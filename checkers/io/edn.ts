// A small EDN reader and writer, enough for Jepsen's history.edn and similar
// files: nil, booleans, integers (bigint beyond 2^53 or with an N suffix),
// floats (M suffix accepted, ##Inf ##-Inf ##NaN), strings, characters,
// keywords, symbols, lists, vectors, maps, sets, tagged literals (kept as
// Tagged, e.g. #jepsen.history.Op{...}), comments and #_ discards. Bad input
// raises an EdnError naming the line and column.

export class Keyword {
  private static readonly interned = new Map<string, Keyword>();
  private constructor(readonly name: string) {}
  /** Keywords are interned, so === compares them. */
  static of(name: string): Keyword {
    let k = Keyword.interned.get(name);
    if (!k) Keyword.interned.set(name, (k = new Keyword(name)));
    return k;
  }
  toString(): string {
    return `:${this.name}`;
  }
}

export class EdnSymbol {
  constructor(readonly name: string) {}
}

export class EdnChar {
  constructor(readonly char: string) {}
}

export class EdnList {
  constructor(readonly items: Edn[]) {}
}

export class EdnSet {
  constructor(readonly items: Edn[]) {}
}

export class EdnMap {
  constructor(readonly entries: [Edn, Edn][]) {}
  /** The value under a keyword key, e.g. get('type') for :type. */
  get(keyword: string): Edn | undefined {
    const k = Keyword.of(keyword);
    for (const [key, value] of this.entries) if (key === k) return value;
    return undefined;
  }
}

export class Tagged {
  constructor(
    readonly tag: string,
    readonly value: Edn,
  ) {}
}

/** Vectors are plain arrays. */
export type Edn = null | boolean | number | bigint | string | Keyword | EdnSymbol | EdnChar | Edn[] | EdnList | EdnSet | EdnMap | Tagged;

export const kw = Keyword.of;

export class EdnError extends Error {
  override readonly name = 'EdnError';
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`EDN: ${message} at line ${line}, column ${column}`);
  }
}

const DELIMITERS = new Set(['(', ')', '[', ']', '{', '}', '"', ';']);
const CHAR_NAMES: Record<string, string> = { newline: '\n', space: ' ', tab: '\t', return: '\r', backspace: '\b', formfeed: '\f' };
const MAX_DEPTH = 2000;

class Reader {
  pos = 0;
  constructor(private readonly s: string) {}

  fail(message: string, at = this.pos): never {
    let line = 1;
    let col = 1;
    for (let i = 0; i < at && i < this.s.length; i++) {
      if (this.s[i] === '\n') {
        line++;
        col = 1;
      } else col++;
    }
    throw new EdnError(message, line, col);
  }

  /** Skips whitespace (commas included), comments and #_ discards. */
  skip(depth: number): void {
    const s = this.s;
    for (;;) {
      const c = s[this.pos];
      if (c === undefined) return;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ',' || c === '\f') this.pos++;
      else if (c === ';') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else if (c === '#' && s[this.pos + 1] === '_') {
        this.pos += 2;
        this.skip(depth);
        if (this.pos >= s.length) this.fail('#_ with nothing to discard');
        this.read(depth);
      } else return;
    }
  }

  atEnd(depth: number): boolean {
    this.skip(depth);
    return this.pos >= this.s.length;
  }

  read(depth = 0): Edn {
    if (depth > MAX_DEPTH) this.fail('nested too deeply');
    this.skip(depth);
    const s = this.s;
    const start = this.pos;
    const c = s[this.pos];
    if (c === undefined) this.fail('unexpected end of input');
    switch (c) {
      case '(':
        this.pos++;
        return new EdnList(this.readSeq(')', start, depth));
      case '[':
        this.pos++;
        return this.readSeq(']', start, depth);
      case '{': {
        this.pos++;
        const items = this.readSeq('}', start, depth);
        if (items.length % 2 !== 0) this.fail('a map needs an even number of forms', start);
        const entries: [Edn, Edn][] = [];
        for (let i = 0; i < items.length; i += 2) entries.push([items[i]!, items[i + 1]!]);
        return new EdnMap(entries);
      }
      case ')':
      case ']':
      case '}':
        this.fail(`unexpected ${c}`);
      // falls through (fail never returns)
      case '"':
        return this.readString();
      case '\\':
        return this.readChar();
      case '#':
        return this.readDispatch(depth);
      case ':': {
        const tok = this.token(this.pos + 1);
        if (tok === '' || tok === ':') this.fail('empty keyword');
        return Keyword.of(tok.startsWith(':') ? tok.slice(1) : tok);
      }
      default:
        return this.readAtom();
    }
  }

  private readSeq(close: string, start: number, depth: number): Edn[] {
    const out: Edn[] = [];
    for (;;) {
      this.skip(depth + 1);
      const c = this.s[this.pos];
      if (c === undefined) this.fail(`unterminated collection, expected ${close}`, start);
      if (c === close) {
        this.pos++;
        return out;
      }
      if (c === ')' || c === ']' || c === '}') this.fail(`unexpected ${c}, expected ${close}`);
      out.push(this.read(depth + 1));
    }
  }

  /** Reads a token starting at `from` up to whitespace or a delimiter; advances past it. */
  private token(from: number): string {
    const s = this.s;
    let i = from;
    while (i < s.length) {
      const c = s[i]!;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ',' || c === '\f' || DELIMITERS.has(c)) break;
      i++;
    }
    this.pos = i;
    return s.slice(from, i);
  }

  private readString(): string {
    const s = this.s;
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      const c = s[this.pos];
      if (c === undefined) this.fail('unterminated string', start);
      this.pos++;
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = s[this.pos++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case '"':
        case '\\':
          out += e;
          break;
        case 'u': {
          const hex = s.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape in string');
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          this.fail(`unknown escape \\${e ?? ''} in string`, this.pos - 2);
      }
    }
  }

  private readChar(): EdnChar {
    const start = this.pos;
    // A delimiter right after the backslash is the character itself.
    const first = this.s[this.pos + 1];
    if (first === undefined) this.fail('backslash at end of input');
    let tok = this.token(this.pos + 1);
    if (tok === '') {
      tok = first;
      this.pos = start + 2;
    }
    if ([...tok].length === 1) return new EdnChar(tok);
    if (CHAR_NAMES[tok] !== undefined) return new EdnChar(CHAR_NAMES[tok]!);
    if (/^u[0-9a-fA-F]{4}$/.test(tok)) return new EdnChar(String.fromCharCode(parseInt(tok.slice(1), 16)));
    this.fail(`unknown character \\${tok}`, start);
  }

  private readDispatch(depth: number): Edn {
    const s = this.s;
    const start = this.pos;
    const next = s[this.pos + 1];
    if (next === '{') {
      this.pos += 2;
      return new EdnSet(this.readSeq('}', start, depth));
    }
    if (next === '#') {
      const tok = this.token(this.pos + 2);
      if (tok === 'Inf') return Number.POSITIVE_INFINITY;
      if (tok === '-Inf') return Number.NEGATIVE_INFINITY;
      if (tok === 'NaN') return Number.NaN;
      this.fail(`unknown symbolic value ##${tok}`, start);
    }
    const tag = this.token(this.pos + 1);
    if (tag === '' || !/^[A-Za-z]/.test(tag)) this.fail('bad # dispatch', start);
    this.skip(depth);
    if (this.pos >= s.length) this.fail(`tag #${tag} without a value`, start);
    return new Tagged(tag, this.read(depth + 1));
  }

  private readAtom(): Edn {
    const start = this.pos;
    const tok = this.token(this.pos);
    if (tok === '') this.fail(`unexpected ${this.s[start]}`, start);
    if (tok === 'nil') return null;
    if (tok === 'true') return true;
    if (tok === 'false') return false;
    if (/^[+-]?\d/.test(tok)) return this.number(tok, start);
    return new EdnSymbol(tok);
  }

  private number(tok: string, start: number): number | bigint {
    let m = /^([+-]?\d+)(N)?$/.exec(tok);
    if (m) {
      const digits = m[1]!.startsWith('+') ? m[1]!.slice(1) : m[1]!;
      const big = BigInt(digits);
      if (m[2] === 'N' || big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) return big;
      return Number(big);
    }
    m = /^([+-]?\d+(\.\d*)?([eE][+-]?\d+)?)M?$/.exec(tok);
    if (m) return Number(m[1]);
    m = /^([+-]?\d+)\/(\d+)$/.exec(tok);
    if (m && Number(m[2]) !== 0) return Number(m[1]) / Number(m[2]);
    this.fail(`bad number ${tok}`, start);
  }
}

/** Every top-level form in the text. */
export function parseEdnAll(text: string): Edn[] {
  const r = new Reader(text);
  const out: Edn[] = [];
  while (!r.atEnd(0)) out.push(r.read(0));
  return out;
}

/** Exactly one form. */
export function parseEdn(text: string): Edn {
  const r = new Reader(text);
  if (r.atEnd(0)) r.fail('no form in input');
  const v = r.read(0);
  if (!r.atEnd(0)) r.fail('more than one form in input');
  return v;
}

function writeString(s: string): string {
  let out = '"';
  for (const c of s) {
    if (c === '"') out += '\\"';
    else if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === '\t') out += '\\t';
    else if (c === '\r') out += '\\r';
    else if (c < ' ') out += `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

function writeChar(c: string): string {
  for (const [name, ch] of Object.entries(CHAR_NAMES)) if (ch === c) return `\\${name}`;
  return [...c].length === 1 && c > ' ' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** EDN text for a value; parseEdn(writeEdn(v)) is structurally equal to v. */
export function writeEdn(v: Edn): string {
  if (v === null) return 'nil';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? `${v}N` : String(v);
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return '##NaN';
    if (v === Number.POSITIVE_INFINITY) return '##Inf';
    if (v === Number.NEGATIVE_INFINITY) return '##-Inf';
    if (Object.is(v, -0)) return '-0.0';
    const text = String(v).replace('e+', 'e');
    // An integral double beyond 2^53 must not read back as a bigint.
    return Number.isInteger(v) && !Number.isSafeInteger(v) && /^-?\d+$/.test(text) ? `${text}.0` : text;
  }
  if (typeof v === 'string') return writeString(v);
  if (Array.isArray(v)) return `[${v.map(writeEdn).join(' ')}]`;
  if (v instanceof Keyword) return `:${v.name}`;
  if (v instanceof EdnSymbol) return v.name;
  if (v instanceof EdnChar) return writeChar(v.char);
  if (v instanceof EdnList) return `(${v.items.map(writeEdn).join(' ')})`;
  if (v instanceof EdnSet) return `#{${v.items.map(writeEdn).join(' ')}}`;
  if (v instanceof EdnMap) return `{${v.entries.map(([k, x]) => `${writeEdn(k)} ${writeEdn(x)}`).join(', ')}}`;
  return `#${v.tag} ${writeEdn(v.value)}`;
}

/** Structural equality (sets and maps compare in order, which is what a round trip preserves). */
export function ednEquals(a: Edn, b: Edn): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => ednEquals(x, b[i]!));
  if (a instanceof EdnList) return b instanceof EdnList && ednEquals(a.items, b.items);
  if (a instanceof EdnSet) return b instanceof EdnSet && ednEquals(a.items, b.items);
  if (a instanceof EdnSymbol) return b instanceof EdnSymbol && a.name === b.name;
  if (a instanceof EdnChar) return b instanceof EdnChar && a.char === b.char;
  if (a instanceof Tagged) return b instanceof Tagged && a.tag === b.tag && ednEquals(a.value, b.value);
  if (a instanceof EdnMap) {
    return b instanceof EdnMap && a.entries.length === b.entries.length && a.entries.every(([k, v], i) => ednEquals(k, b.entries[i]![0]) && ednEquals(v, b.entries[i]![1]));
  }
  return false;
}
