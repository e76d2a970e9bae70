// Jepsen histories (history.edn) to and from our Op format.
//
// Reading accepts a vector or list of op maps, or one map per line (Jepsen
// writes the latter), where each map may be wrapped in a record tag such as
// #jepsen.history.Op{...}. Per op: :type (:invoke/:ok/:fail/:info), :f,
// :value, :process (an integer, anything else is the nemesis), :time
// (nanoseconds; the position is used when it is missing), :index (ops are
// renumbered densely in file order, which is their real-time order; the
// file's own numbers are kept aside so reports can quote them), :error. Values:
//   :txn  [[:append k v] [:r k [..]] [:w k v] [:r k v]] → micro-op arrays
//   :read / :write / :cas (cas-register): nil, v, [from to], or the
//         independent tuple [k v] / [k [from to]] → our register values
//         ({key, value} / {key, from, to}); without a tuple the key is "x"
//   anything else: maps become objects (keyword keys by name), vectors and
//         lists arrays, keywords their names.
// Keys become strings: :x → "x", 1 → "1", "x" → "x".
//
// Writing produces one op map per line, as Jepsen does, with txn micro-ops as
// [[:append "k" 1] ...] (a wr read keeps its mod_revision as a fourth
// element), register ops as independent tuples ["k" v], and everything else
// as generic EDN; extra fields (:revision, :member) ride along.

import type { Op, OpType, ProcessId } from '../../harness/history.js';
import { EdnChar, EdnError, EdnList, EdnMap, EdnSet, EdnSymbol, Keyword, kw, parseEdnAll, Tagged, writeEdn, type Edn } from './edn.js';

export class HistoryFormatError extends Error {
  override readonly name = 'HistoryFormatError';
}

const TYPES: ReadonlySet<string> = new Set(['invoke', 'ok', 'fail', 'info']);
const REGISTER_FS: ReadonlySet<string> = new Set(['read', 'write', 'cas']);

/** Parses history.edn text into ops; throws HistoryFormatError (with the op's position) or EdnError. */
export function readJepsenHistory(text: string): Op[] {
  return readJepsenHistoryIndexed(text).ops;
}

export interface IndexedHistory {
  ops: Op[];
  /** Per op (by position), the entry's own :index, when it has an integer one. */
  fileIndex: (number | undefined)[];
}

/** readJepsenHistory, also returning each entry's :index as written in the file. */
export function readJepsenHistoryIndexed(text: string): IndexedHistory {
  const forms = parseEdnAll(text);
  const items = forms.length === 1 && (Array.isArray(forms[0]) || forms[0] instanceof EdnList) ? (Array.isArray(forms[0]) ? forms[0] : forms[0].items) : forms;
  return { ops: items.map((form, i) => opFromEdn(form, i)), fileIndex: items.map(fileIndexOf) };
}

function fileIndexOf(form: Edn): number | undefined {
  const m = unwrap(form);
  const i = m instanceof EdnMap ? m.get('index') : undefined;
  if (typeof i === 'bigint') return Number(i);
  return typeof i === 'number' && Number.isInteger(i) ? i : undefined;
}

function unwrap(form: Edn): Edn {
  return form instanceof Tagged ? form.value : form;
}

export function opFromEdn(form: Edn, index: number): Op {
  const m = unwrap(form);
  if (!(m instanceof EdnMap)) throw new HistoryFormatError(`history entry ${index + 1} is not a map`);
  const type = m.get('type');
  if (!(type instanceof Keyword) || !TYPES.has(type.name)) throw new HistoryFormatError(`history entry ${index + 1}: :type must be :invoke, :ok, :fail or :info`);
  const f = m.get('f');
  const fName = f instanceof Keyword ? f.name : typeof f === 'string' ? f : f instanceof EdnSymbol ? f.name : undefined;
  if (fName === undefined) throw new HistoryFormatError(`history entry ${index + 1}: :f is missing or not a keyword`);
  const p = m.get('process');
  const process: ProcessId = typeof p === 'number' && Number.isInteger(p) ? p : 'nemesis';
  const t = m.get('time');
  const time = typeof t === 'number' ? t : typeof t === 'bigint' ? Number(t) : index;
  const value = process === 'nemesis' ? toJs(m.get('value') ?? null) : convertValue(fName, m.get('value') ?? null, index);
  const op: Op = { index, type: type.name as OpType, process, f: fName, value, time };
  const err = m.get('error');
  if (err !== undefined && err !== null) op.error = typeof err === 'string' ? err : writeEdn(err);
  const rev = m.get('revision');
  if (typeof rev === 'number') op.revision = rev;
  return op;
}

/** A key in our string form. */
export function keyString(k: Edn): string {
  if (typeof k === 'string') return k;
  if (k instanceof Keyword || k instanceof EdnSymbol) return k.name;
  if (typeof k === 'number' || typeof k === 'bigint') return String(k);
  return writeEdn(k);
}

function seqItems(v: Edn): Edn[] | undefined {
  return Array.isArray(v) ? v : v instanceof EdnList ? v.items : undefined;
}

function num(v: Edn, where: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new HistoryFormatError(`${where}: expected a number, got ${v === null ? 'nil' : writeEdn(v)}`);
}

function convertValue(f: string, v: Edn, index: number): unknown {
  const where = `history entry ${index + 1} (:${f})`;
  if (f === 'txn') {
    const mops = seqItems(v);
    if (!mops) throw new HistoryFormatError(`${where}: a txn value must be a vector of micro-ops`);
    return mops.map((mop) => {
      const parts = seqItems(mop);
      const name = parts?.[0];
      if (!parts || parts.length < 3 || !(name instanceof Keyword)) throw new HistoryFormatError(`${where}: micro-op ${mop === null ? 'nil' : writeEdn(mop)} is not [:f k v]`);
      const key = keyString(parts[1]!);
      const arg = parts[2]!;
      if (name.name === 'append' || name.name === 'w') return [name.name, key, num(arg, where)];
      if (name.name !== 'r') throw new HistoryFormatError(`${where}: unknown micro-op :${name.name}`);
      if (arg === null) return ['r', key, null];
      const list = seqItems(arg);
      const read: unknown[] = ['r', key, list ? list.map((x) => num(x, where)) : num(arg, where)];
      if (parts.length > 3 && typeof parts[3] === 'number') read.push(parts[3]);
      return read;
    });
  }
  if (REGISTER_FS.has(f)) return registerValue(f, v, where);
  return toJs(v);
}

function registerValue(f: string, v: Edn, where: string): unknown {
  const tuple = seqItems(v);
  const independent = tuple !== undefined && tuple.length === 2 && (f !== 'cas' || seqItems(tuple[1]!) !== undefined);
  const key = independent ? keyString(tuple[0]!) : 'x';
  const inner = independent ? tuple[1]! : v;
  if (f === 'read') return { key, value: inner === null ? null : num(inner, where) };
  if (f === 'write') return { key, value: num(inner, where) };
  const pair = seqItems(inner);
  if (!pair || pair.length !== 2) throw new HistoryFormatError(`${where}: a cas value must be [from to]`);
  return { key, from: num(pair[0]!, where), to: num(pair[1]!, where) };
}

/** Generic EDN → JSON-like values. */
export function toJs(v: Edn): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Keyword || v instanceof EdnSymbol) return v.name;
  if (v instanceof EdnChar) return v.char;
  if (Array.isArray(v)) return v.map(toJs);
  if (v instanceof EdnList || v instanceof EdnSet) return v.items.map(toJs);
  if (v instanceof EdnMap) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v.entries) out[keyString(k)] = toJs(x);
    return out;
  }
  return toJs(v.value);
}

/** Generic JSON-like values → EDN (object keys become keywords). */
export function fromJs(v: unknown): Edn {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string' || typeof v === 'bigint') return v;
  if (Array.isArray(v)) return v.map(fromJs);
  if (typeof v === 'object') return new EdnMap(Object.entries(v as Record<string, unknown>).map(([k, x]) => [kw(k), fromJs(x)]));
  return String(v);
}

function valueToEdn(op: Op): Edn {
  const v = op.value;
  if (op.process !== 'nemesis' && op.f === 'txn' && Array.isArray(v)) {
    return v.map((mop: unknown) => {
      const parts = mop as unknown[];
      return [kw(String(parts[0])), fromJs(parts[1]), ...parts.slice(2).map(fromJs)];
    });
  }
  if (op.process !== 'nemesis' && REGISTER_FS.has(op.f) && typeof v === 'object' && v !== null && 'key' in v) {
    const r = v as { key: string; value?: number | null; from?: number; to?: number };
    return op.f === 'cas' ? [r.key, [r.from ?? null, r.to ?? null]] : [r.key, r.value ?? null];
  }
  return fromJs(v);
}

export function opToEdn(op: Op): EdnMap {
  const entries: [Edn, Edn][] = [
    [kw('index'), op.index],
    [kw('time'), op.time],
    [kw('type'), kw(op.type)],
    [kw('process'), op.process === 'nemesis' ? kw('nemesis') : op.process],
    [kw('f'), kw(op.f)],
    [kw('value'), valueToEdn(op)],
  ];
  if (op.error !== undefined) entries.push([kw('error'), op.error]);
  if (op.revision !== undefined) entries.push([kw('revision'), op.revision]);
  if (op.member !== undefined) entries.push([kw('member'), op.member]);
  return new EdnMap(entries);
}

/** history.edn text: one op map per line. */
export function writeJepsenHistory(ops: readonly Op[]): string {
  return ops.map((op) => `${writeEdn(opToEdn(op))}\n`).join('');
}

export { EdnError };
